"""SlateQ (Ie et al., IJCAI 2019): Q-learning over slates through an item-level decomposition.

If a user consumes at most one item of a slate, and reward and next state depend only on
what was consumed, the value of a slate splits into item values weighted by the user's
choice probabilities:

    Q(s, A) = sum_{i in A} P(i | s, A) Qbar(s, i) + P(null | s, A) Qbar(s, null).

So ``Qbar`` is learnt for every candidate (and for not clicking) by TD on the consumed
item alone, a choice model is learnt beside it, and a slate optimiser combines them. The
choice model is a conditional logit with a no-click option, fitted by cross-entropy to
the observed choices among the shown items: P(i | s, A) = v_i / (v_0 + sum_{j in A} v_j)
with v_i = exp(logit_i). Both are heads of one network on a shared encoder.

Unlike RecSim's agent, the no-click outcome is valued by a learnt ``Qbar(s, null)`` and
trained on, since in recgym's envs the episode goes on after a no-click and what follows
depends on it (satisfaction drifts, sessions end); RecSim drops those transitions and
values the null option at 0 (``learn_null_value=False`` restores that).

Slates come from one of three rules over the same quantities: 'top_k' (rank by
``v_i (Qbar_i - Qbar_null)``), 'greedy' (RecSim's greedy addition) and 'exact' (the
optimum over all K-subsets, by Dinkelbach's method for fractional programs). The TD
target is an n-step return (1 step in the paper) plus the value, under a Polyak-averaged
target network, of the slate the rule picks where the return stops; the replay keeps
each user's steps in order so the return is read off when a sample is drawn.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional

from policies.artefacts import SaveablePolicy
from policies.base import Policy
from policies.rl.config import TrainConfig
from policies.rl.networks import CandidateScorer, ObservationEncoder, mlp
from policies.rl.normalization import ReturnScaler
from policies.rl.trainer import Trainer, Transition
from recgym.core.random import DeviceGenerators
from recgym.core.registry import register_policy
from recgym.core.response import Response
from recgym.core.saved import RemembersArguments
from recgym.errors import ConfigError

SLATE_RULES = ("exact", "greedy", "top_k")
"""Slate optimisers, best (and slowest) first."""

_DINKELBACH_MAX_ITERATIONS = 64
_DINKELBACH_TOLERANCE = 1e-6


@dataclasses.dataclass
class SlateQConfig(TrainConfig):
    """SlateQ with a learnt choice model, a learnt no-click value, replay and a Polyak target network."""

    rollout_steps: int = 8
    """Steps per user collected (epsilon-greedy) between rounds of gradient updates."""
    gamma: float = 0.995
    """Discount per step. Retention pays off hundreds of steps later; on LTS 0.995 did better than 0.99 or 0.998."""
    learning_rate: float = 1e-3
    """Adam step size of the network (Qbar and the choice model share it)."""
    slate_rule: str = "exact"
    """How slates are chosen from Qbar and the choice model: 'exact', 'greedy' or 'top_k' (see the module docstring)."""
    learn_null_value: bool = True
    """Learn Qbar(s, null) from no-click steps; False values no-click at 0 and trains on clicks only (RecSim)."""
    double_q: bool = False
    """Pick the next slate with the online network and value it with the target network (double Q-learning)."""
    epsilon_start: float = 1.0
    """Probability of showing a uniformly random slate at the start of training."""
    epsilon_end: float = 0.05
    """Exploration probability after the decay; also used by ``policy().act(explore=True)``."""
    epsilon_decay_steps: int = 60_000
    """User-steps over which epsilon falls linearly from start to end (absolute, so resuming keeps the schedule)."""
    n_steps: int = 10
    """Rewards summed before bootstrapping (1: the paper's one-step target); more propagates value faster."""
    replay_size: int = 65_536
    """Transitions kept for updates, rounded down to whole steps of all users; the oldest go first.

    Each holds two observations (about 2 KB on LongTermSatisfaction-v0) and checkpoints
    include the replay, so that a resumed run continues exactly.
    """
    batch_size: int = 512
    """Transitions per gradient step."""
    updates_per_iteration: int = 32
    """Gradient steps (each on a fresh replay sample) after every collection round."""
    learning_starts: int = 8192
    """User-steps collected before the first update."""
    target_tau: float = 0.02
    """Polyak step of the target network towards the online one (1.0: hard copy)."""
    target_update_period: int = 1
    """Gradient steps between target updates."""
    choice_loss_coef: float = 1.0
    """Weight of the choice model's cross-entropy against the TD loss (they share the encoder)."""
    huber_delta: float = 1.0
    """TD errors beyond this (in scaled reward units) are penalised linearly, not squared."""
    scale_rewards: bool = True
    """Divide rewards by the running std of discounted returns (watch time runs to hundreds).

    The replay keeps raw rewards and a sample is scaled when drawn, so one batch never mixes
    scales; the std grows quickly early in training and scaling at collection would make old
    and new rewards disagree (and, since all users start together, confound scale with time).
    """

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.slate_rule not in SLATE_RULES:
            raise ConfigError(f"{name}.slate_rule must be one of {SLATE_RULES}; got {self.slate_rule!r}.")
        for field in ("epsilon_start", "epsilon_end"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ConfigError(
                    f"{name}.{field} is a probability and must lie in [0, 1]; got {getattr(self, field)}."
                )
        for field in (
            "epsilon_decay_steps",
            "n_steps",
            "replay_size",
            "batch_size",
            "updates_per_iteration",
            "target_update_period",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}.{field} must be a positive integer; got {value!r}.")
        if not isinstance(self.learning_starts, int) or self.learning_starts < 0:
            raise ConfigError(f"{name}.learning_starts must be a non-negative integer; got {self.learning_starts!r}.")
        if self.replay_size < self.num_users * self.rollout_steps:
            raise ConfigError(
                f"{name}.replay_size={self.replay_size} cannot hold one collection round of num_users x rollout_steps "
                f"= {self.num_users * self.rollout_steps} transitions; raise replay_size or lower rollout_steps."
            )
        capacity = self.replay_size // self.num_users * self.num_users
        if self.learning_starts > capacity:
            raise ConfigError(
                f"{name}.learning_starts={self.learning_starts} exceeds the replay's capacity of {capacity} "
                "transitions (whole steps of num_users), so updates would never start; lower learning_starts or "
                "raise replay_size."
            )
        if not 0.0 < self.target_tau <= 1.0:
            raise ConfigError(f"{name}.target_tau must lie in (0, 1] (1.0: hard copy); got {self.target_tau}.")
        for field in ("choice_loss_coef", "huber_delta"):
            value = getattr(self, field)
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"{name}.{field} must be a positive finite number; got {value}.")


# -- slate optimisation (pure functions of Qbar and the choice model) -------------------------------------
@dataclasses.dataclass(frozen=True)
class SlateProblem:
    """What choosing a slate needs for every user: choice weights and item values of all candidates.

    The value of slate A is ``(v0 * q0 + sum_{i in A} v_i q_i) / (v0 + sum_{i in A} v_i)``.
    Weights may be rescaled per user without changing any slate's value.
    """

    attractiveness: torch.Tensor
    """Choice weight v_i >= 0 of each candidate, [B, C]."""
    item_value: torch.Tensor
    """Qbar(s, i) of each candidate, [B, C]."""
    null_attractiveness: torch.Tensor
    """Choice weight v_0 > 0 of not clicking, [B]."""
    null_value: torch.Tensor
    """Qbar(s, null), [B]."""

    @classmethod
    def from_logits(
        cls, item_logits: torch.Tensor, null_logit: torch.Tensor, item_value: torch.Tensor, null_value: torch.Tensor
    ) -> SlateProblem:
        """Weights exp(logit) shifted by each user's largest logit, so none overflows."""
        shift = torch.maximum(item_logits.amax(dim=1), null_logit).unsqueeze(1)
        return cls((item_logits - shift).exp(), item_value, (null_logit - shift.squeeze(1)).exp(), null_value)

    def value(self, slate: torch.Tensor) -> torch.Tensor:
        """Expected Qbar of each user's slate [B, K] under the choice model, [B]."""
        weights = self.attractiveness.gather(1, slate)
        numerator = self.null_attractiveness * self.null_value + (weights * self.item_value.gather(1, slate)).sum(1)
        return numerator / (self.null_attractiveness + weights.sum(dim=1)).clamp_min(1e-30)

    def top_k(self, slate_size: int) -> torch.Tensor:
        """The K largest v_i (q_i - q0): RecSim's top-K rule, made invariant to a shift of all values."""
        gain = self.attractiveness * (self.item_value - self.null_value.unsqueeze(1))
        return torch.topk(gain, slate_size, dim=1).indices

    def greedy(self, slate_size: int) -> torch.Tensor:
        """RecSim's greedy rule: K rounds, each adding the item that maximises the slate's value so far."""
        numerator = self.null_attractiveness * self.null_value
        denominator = self.null_attractiveness
        placed = torch.zeros_like(self.item_value, dtype=torch.bool)
        picks = []
        for _ in range(slate_size):
            ratio = (numerator.unsqueeze(1) + self.attractiveness * self.item_value) / (
                denominator.unsqueeze(1) + self.attractiveness
            ).clamp_min(1e-30)
            pick = ratio.masked_fill(placed, float("-inf")).argmax(dim=1, keepdim=True)
            numerator = numerator + (self.attractiveness * self.item_value).gather(1, pick).squeeze(1)
            denominator = denominator + self.attractiveness.gather(1, pick).squeeze(1)
            placed = placed.scatter(1, pick, True)
            picks.append(pick)
        return torch.cat(picks, dim=1)

    def exact(self, slate_size: int) -> torch.Tensor:
        """The best K-subset, by Dinkelbach's method on the fractional program.

        A slate beats value ``lam`` exactly when ``sum_A v_i (q_i - lam) + v0 (q0 - lam) > 0``,
        and the K-set maximising that sum is the top K of ``v_i (q_i - lam)``. So starting
        from the top-K slate, each round's set has a strictly higher value than the last
        until none beats it, and that value is the optimum. This is the program the paper
        solves as an LP (Charnes-Cooper), except that the slate holds exactly K items, as
        the env requires, where the LP allows fewer. A few rounds suffice in practice.
        """
        slate = self.top_k(slate_size)
        value = self.value(slate)
        for _ in range(_DINKELBACH_MAX_ITERATIONS):
            gain = self.attractiveness * (self.item_value - value.unsqueeze(1))
            candidate = torch.topk(gain, slate_size, dim=1).indices
            candidate_value = self.value(candidate)
            improved = candidate_value > value + _DINKELBACH_TOLERANCE * (1.0 + value.abs())
            if not bool(improved.any()):
                break
            slate = torch.where(improved.unsqueeze(1), candidate, slate)
            value = torch.where(improved, candidate_value, value)
        return slate

    def solve(self, rule: str, slate_size: int) -> torch.Tensor:
        """The slate [B, K] that ``rule`` ('exact', 'greedy' or 'top_k') picks for every user."""
        if rule not in SLATE_RULES:
            raise ConfigError(f"Unknown slate rule {rule!r}; choose one of {SLATE_RULES}.")
        return getattr(self, rule)(slate_size)


def random_slate(
    num_users: int, num_candidates: int, slate_size: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """K distinct candidates per user, uniformly at random, [B, K]."""
    noise = torch.rand(num_users, num_candidates, generator=generator, device=device)
    return torch.topk(noise, slate_size, dim=1).indices


def epsilon_greedy(
    greedy: torch.Tensor, num_candidates: int, epsilon: float, generator: torch.Generator
) -> torch.Tensor:
    """``greedy [B, K]`` with each user's slate replaced by a random one with probability ``epsilon``."""
    num_users, slate_size = greedy.shape
    explore = torch.rand(num_users, generator=generator, device=greedy.device) < epsilon
    random = random_slate(num_users, num_candidates, slate_size, generator, greedy.device)
    return torch.where(explore.unsqueeze(1), random, greedy)


# -- network ----------------------------------------------------------------------------------------------
class SlateQOutputs(NamedTuple):
    """One forward pass: Qbar and the choice model's logits for every candidate and for no click."""

    item_value: torch.Tensor
    """Qbar(s, i), [B, C]."""
    item_logit: torch.Tensor
    """Choice-model logit of each candidate, [B, C]."""
    null_value: torch.Tensor
    """Qbar(s, null), the value of a step without a click, [B]."""
    null_logit: torch.Tensor
    """Choice-model logit of not clicking, [B]."""

    def problem(self, learn_null_value: bool = True) -> SlateProblem:
        """The slate problem these scores pose; the no-click value is 0 unless learnt."""
        null_value = self.null_value if learn_null_value else torch.zeros_like(self.null_value)
        return SlateProblem.from_logits(self.item_logit, self.null_logit, self.item_value, null_value)


class SlateQNetwork(RemembersArguments, nn.Module):
    """Item values Qbar and the conditional-logit choice model on one shared observation encoder.

    Both heads need the same things (how clickbaity an item is, how satisfied the user
    seems), so the choice loss also shapes the features the TD loss learns on, and one
    forward pass serves slate selection. The no-click head reads the user vector and the
    mean candidate vector, since both who is looking and what is on offer set it.
    """

    def __init__(self, observation_space: spaces.Dict, hidden_size: int) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(observation_space, hidden_size)
        self.item_head = CandidateScorer(hidden_size, out_size=2)
        self.null_head = mlp(2 * hidden_size, hidden_size, 2)

    def forward(self, observation: dict[str, torch.Tensor]) -> SlateQOutputs:
        user, items = self.encoder(observation)
        item_value, item_logit = self.item_head(user, items).unbind(-1)
        null_value, null_logit = self.null_head(torch.cat([user, items.mean(dim=1)], dim=1)).unbind(-1)
        return SlateQOutputs(item_value, item_logit, null_value, null_logit)


# -- replay ------------------------------------------------------------------------------------------------
class ReplayBuffer:
    """The last ``num_steps`` steps of every user, [S, B, ...], oldest overwritten first.

    Steps stay in time order per user (not loose transitions), so a sample can look ahead
    along its user's trajectory and read off an n-step return when it is drawn.
    """

    def __init__(self, num_steps: int, num_users: int, device: torch.device) -> None:
        self.num_steps, self.num_users, self.device = num_steps, num_users, device
        self.tensors: dict[str, torch.Tensor] = {}
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        """Transitions stored (steps x users)."""
        return self.size * self.num_users

    def add(self, **step: torch.Tensor | dict[str, torch.Tensor]) -> None:
        """Store one step of every user; each value is a tensor [B, ...] or a dict of them (an observation)."""
        flat: dict[str, torch.Tensor] = {}
        for name, value in step.items():
            if isinstance(value, dict):
                flat.update({f"{name}/{key}": tensor for key, tensor in value.items()})
            else:
                flat[name] = value
        if not self.tensors:
            self.tensors = {
                name: torch.empty((self.num_steps, *value.shape), dtype=value.dtype, device=self.device)
                for name, value in flat.items()
            }
        for name, value in flat.items():
            self.tensors[name][self.position] = value
        self.position = (self.position + 1) % self.num_steps
        self.size = min(self.size + 1, self.num_steps)

    def _observation(self, prefix: str, slots: torch.Tensor, users: torch.Tensor) -> dict[str, torch.Tensor]:
        start = len(prefix) + 1
        return {
            name[start:]: tensor[slots, users] for name, tensor in self.tensors.items() if name.startswith(prefix + "/")
        }

    def sample(self, batch_size: int, n_steps: int, gamma: float, generator: torch.Generator) -> dict[str, Any]:
        """``batch_size`` (step, user) pairs drawn uniformly, with their n-step returns.

        The return sums up to ``n_steps`` discounted rewards, stopping after the step that
        ended the user's episode or at the newest stored step; ``discount`` is gamma to the
        number of steps summed, 0 after a termination, and multiplies the value of
        ``next_observation``, the state reached after the last summed step.
        """
        offset = torch.randint(self.size, (batch_size,), generator=generator, device=self.device)
        users = torch.randint(self.num_users, (batch_size,), generator=generator, device=self.device)
        ahead = offset.unsqueeze(1) + torch.arange(n_steps, device=self.device)
        oldest = self.position - self.size
        slots = (oldest + ahead.clamp_max(self.size - 1)) % self.num_steps
        window_users = users.unsqueeze(1).expand_as(slots)
        done = self.tensors["done"][slots, window_users].to(torch.int64)
        ended_before = (done.cumsum(dim=1) - done) > 0
        counted = (ahead < self.size) & ~ended_before
        rewards = self.tensors["reward"][slots, window_users]
        powers = gamma ** torch.arange(n_steps, device=self.device, dtype=rewards.dtype)
        summed = counted.sum(dim=1)
        last = slots.gather(1, (summed - 1).unsqueeze(1)).squeeze(1)
        not_terminated = (~self.tensors["terminated"][last, users]).to(rewards.dtype)
        first = slots[:, 0]
        return {
            "observation": self._observation("observation", first, users),
            "slate": self.tensors["slate"][first, users],
            "choice": self.tensors["choice"][first, users],
            "return": (rewards * powers * counted).sum(dim=1),
            "discount": gamma ** summed.to(rewards.dtype) * not_terminated,
            "next_observation": self._observation("next_observation", last, users),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "position": self.position, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tensors = {name: tensor.to(self.device) for name, tensor in state["tensors"].items()}
        self.position, self.size = int(state["position"]), int(state["size"])


# -- policy ------------------------------------------------------------------------------------------------
class SlateQPolicy(SaveablePolicy):
    """A trained SlateQ agent: the configured slate rule over Qbar and the choice model.

    ``act(explore=False)`` is the rule's slate; ``explore=True`` replaces each user's slate
    by a random one with probability ``epsilon``, drawn from the policy's own seeded generator.
    """

    def __init__(
        self,
        network: SlateQNetwork,
        slate_size: int,
        slate_rule: str = "exact",
        learn_null_value: bool = True,
        epsilon: float = 0.0,
        seed: int = 0,
    ) -> None:
        if slate_rule not in SLATE_RULES:
            raise ConfigError(f"Unknown slate_rule {slate_rule!r}; choose one of {SLATE_RULES}.")
        self.network, self.slate_size, self.slate_rule = network, slate_size, slate_rule
        self.learn_null_value, self.epsilon, self.seed = learn_null_value, epsilon, seed
        self.generators = DeviceGenerators(seed)

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        problem = self.network(observation).problem(self.learn_null_value)
        slate = problem.solve(self.slate_rule, self.slate_size)
        if not explore or self.epsilon == 0.0:
            return slate
        return epsilon_greedy(slate, problem.item_value.shape[1], self.epsilon, self.generators.on(slate.device))

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Trained by its trainer; nothing to learn online."""

    def state_dict(self) -> dict[str, Any]:
        """The exploration generators' states (the network is saved with its trainer's checkpoint)."""
        return {"generators": self.generators.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generators.load_state_dict(state.get("generators", {}))


# -- trainer -----------------------------------------------------------------------------------------------
@register_policy("slateq", kind="rl", description="SlateQ: item Q-values under a learned choice model")
class SlateQTrainer(Trainer):
    """Collect with epsilon-greedy slates into a replay, then TD-learn Qbar and fit the choice model."""

    algorithm = "slateq"
    config_class = SlateQConfig
    config: SlateQConfig

    def build(self) -> None:
        config = self.config
        self.network = SlateQNetwork(self.env.single_observation_space, config.hidden_size).to(self.device)
        self.target_network = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.learning_rate, eps=1e-5)
        self.reward_scaler = ReturnScaler(config.num_users, 1, config.gamma).to(self.device)
        self.replay = ReplayBuffer(config.replay_size // config.num_users, config.num_users, self.device)
        self.gradient_steps = 0

    def components(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "target_network": self.target_network,
            "optimizer": self.optimizer,
            "reward_scaler": self.reward_scaler,
            "replay": self.replay,
        }

    def extra_state(self) -> dict[str, Any]:
        return {"gradient_steps": self.gradient_steps}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.gradient_steps = int(state["gradient_steps"])

    def policy(self) -> Policy:
        config = self.config
        return SlateQPolicy(
            self.network,
            self.slate_size,
            config.slate_rule,
            config.learn_null_value,
            epsilon=config.epsilon_end,
            seed=config.seed,
        )

    def epsilon(self) -> float:
        """Exploration probability now: linear from ``epsilon_start`` to ``epsilon_end`` over the decay steps."""
        config = self.config
        progress = min(self.steps / config.epsilon_decay_steps, 1.0)
        return config.epsilon_start + progress * (config.epsilon_end - config.epsilon_start)

    def train_iteration(self) -> dict[str, float]:
        epsilon = self.epsilon()
        self.collect()
        metrics = self.update() if len(self.replay) >= self.config.learning_starts else {}
        return {"epsilon": epsilon, "replay_size": float(len(self.replay))} | metrics

    def reward_scale(self) -> torch.Tensor:
        """Factor [1] applied to sampled rewards: 1 / running std of discounted returns, or 1 without scaling."""
        if not self.config.scale_rewards:
            return torch.ones(1, device=self.device)
        return (self.reward_scaler.stats.var + 1e-8).rsqrt()

    # -- collection ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> None:
        """``rollout_steps`` epsilon-greedy steps of every user into the replay."""
        config = self.config
        for _ in range(config.rollout_steps):
            observation = self.observation
            self.network.encoder.update_statistics(observation)
            greedy = (
                self.network(observation).problem(config.learn_null_value).solve(config.slate_rule, self.slate_size)
            )
            slate = epsilon_greedy(greedy, self.env.num_candidates, self.epsilon(), self.generator)
            transition = self.env_step(slate)
            self.reward_scaler(transition.reward.unsqueeze(1), transition.done)
            self.replay.add(
                observation=observation,
                slate=slate,
                choice=transition.response.choice,
                reward=transition.reward,
                next_observation=self._next_observation(transition),
                done=transition.done,
                terminated=transition.terminated,
            )

    @staticmethod
    def _next_observation(transition: Transition) -> dict[str, torch.Tensor]:
        """The state each step led to: the episode's last observation where it ended, not the next episode's first."""
        final = transition.final_observation
        if final is None:
            return transition.observation
        done = transition.done
        return {
            key: torch.where(done.view(-1, *([1] * (value.dim() - 1))), final[key], value)
            for key, value in transition.observation.items()
        }

    # -- updates ----------------------------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        """``updates_per_iteration`` gradient steps on replay samples, each followed by a target update when due."""
        config = self.config
        if self.gradient_steps == 0:
            self.target_network.load_state_dict(self.network.state_dict())
        totals: dict[str, torch.Tensor] = {}
        for _ in range(config.updates_per_iteration):
            batch = self.replay.sample(config.batch_size, config.n_steps, config.gamma, self.generator)
            batch["return"] = batch["return"] * self.reward_scale()
            stats = self._gradient_step(batch)
            self.gradient_steps += 1
            if self.gradient_steps % config.target_update_period == 0:
                self._update_target()
            for name, value in stats.items():
                totals[name] = totals[name] + value if name in totals else value
        # One transfer per iteration, not one per statistic and step (each would wait for the device).
        names, values = list(totals), torch.stack(list(totals.values())) / config.updates_per_iteration
        return dict(zip(names, values.tolist(), strict=True))

    @torch.no_grad()
    def td_target(self, batch: dict[str, Any]) -> torch.Tensor:
        """n-step return + gamma^n Q_target(s', A'), A' the rule's slate at s'; no bootstrap past termination.

        The target network supplies both Qbar and the choice model at s' (one forward pass);
        with ``double_q`` the online network picks A'.
        """
        config = self.config
        next_observation = batch["next_observation"]
        target_problem = self.target_network(next_observation).problem(config.learn_null_value)
        chooser = self.network(next_observation).problem(config.learn_null_value) if config.double_q else target_problem
        next_value = target_problem.value(chooser.solve(config.slate_rule, self.slate_size))
        return batch["return"] + batch["discount"] * next_value

    def _gradient_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """TD loss on what was consumed (the clicked item, or no click) plus the choice model's cross-entropy."""
        config = self.config
        target = self.td_target(batch)
        outputs = self.network(batch["observation"])
        slate, choice = batch["slate"], batch["choice"]
        clicked = choice >= 0
        consumed = torch.where(
            clicked,
            outputs.item_value.gather(1, slate.gather(1, choice.clamp_min(0).unsqueeze(1))).squeeze(1),
            outputs.null_value,
        )
        errors = functional.huber_loss(consumed, target, reduction="none", delta=config.huber_delta)
        weights = torch.ones_like(errors) if config.learn_null_value else clicked.to(errors.dtype)
        td_loss = (errors * weights).sum() / weights.sum().clamp_min(1.0)
        slate_logits = torch.cat([outputs.item_logit.gather(1, slate), outputs.null_logit.unsqueeze(1)], dim=1)
        choice_class = torch.where(clicked, choice, torch.full_like(choice, self.slate_size))
        choice_loss = functional.cross_entropy(slate_logits, choice_class)
        loss = td_loss + config.choice_loss_coef * choice_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.network.parameters(), config.max_grad_norm)
        self.optimizer.step()
        return {
            "td_loss": td_loss.detach(),
            "choice_loss": choice_loss.detach(),
            "q_mean": consumed.detach().mean(),
            "td_target_mean": target.mean(),
            "null_value_mean": outputs.null_value.detach().mean(),
            "predicted_click_rate": 1.0 - torch.softmax(slate_logits.detach(), dim=1)[:, -1].mean(),
            "observed_click_rate": clicked.to(target.dtype).mean(),
        }

    @torch.no_grad()
    def _update_target(self) -> None:
        """Move every floating tensor of the target (weights and input statistics) ``tau`` towards the online net."""
        online = self.network.state_dict()
        for name, tensor in self.target_network.state_dict().items():
            if tensor.is_floating_point():
                tensor.lerp_(online[name], self.config.target_tau)
            else:
                tensor.copy_(online[name])
