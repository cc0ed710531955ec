"""Two-stage constrained actor-critic (TSCAC; Cai et al., WWW 2023) for short-video feeds.

The main objective is the env's reward (watch time); the auxiliary signals (likes,
shares, follows) are sparser and each valuable, so the main policy must not trade them
away. Cai et al. pose this as a constrained MDP and solve it in two stages:

Stage one trains one specialist per auxiliary signal: an actor-critic whose reward is
that signal's count per step and whose critic predicts only that signal's return. Here
the specialists are PPO learners trained one after another on the shared population,
each for an equal share of ``stage_one_steps``.

Stage two trains the main policy on watch time while keeping it close to every
specialist. The paper's problem is ``max E_pi[A_main] s.t. KL(pi || pi_i) <= eps_i``;
its Lagrangian ``E_pi[A_main] - sum_i lambda_i KL(pi || pi_i)`` is maximised in each
state by ``pi* ∝ prod_i pi_i^(lambda_i / L) exp(A_main / L)`` with ``L = sum_i lambda_i``,
and the paper regresses the actor onto that closed form with hand-set lambdas. This
module follows the same Lagrangian by gradient instead: PPO's clipped surrogate on the
watch-time advantage plus ``sum_i lambda_i KL(pi_theta || pi_i)`` over the Plackett-Luce
slate distributions. Over all policies, the per-state optimum of this objective is the
paper's closed form; the gradient route needs no importance weights over slates, and
PPO's clipping keeps the steps safe. The main network starts fresh. The paper leaves
the lambdas (equivalently the KL budgets) to tuning; here they are set by projected
dual ascent on a bound a user can state and check: each auxiliary
signal's per-episode total must stay >= ``bound_fraction`` x what that signal's
specialist achieves when deployed greedily, measured once at the stage boundary on
``reference_users`` fresh users. Every ``dual_every`` stage-two iterations the main policy
is deployed greedily for one episode on those same users (same seeds, so the comparison
with the specialists shares their randomness), and each multiplier moves by the relative
shortfall of its signal: it grows while the signal falls short (pulling the policy
towards that specialist) and decays to zero while the bound holds. The check is greedy
and on whole episodes, like the bound and like deployment: the sampled training policy
stays close to uniform over slates and says little about what its top-K delivers, and a
rolling window over running users would see the short episodes first. ``dual_learning_rate=0``
keeps the multipliers at ``initial_multiplier``: the paper's fixed-lambda setting.

``constraint_report`` checks an evaluated policy's totals against the bounds, e.g. (``recgym.rl``)::

    trainer = make_trainer("constrained", num_users=512, total_steps=300_000, stage_one_steps=120_000)
    trainer.train()
    env = build_vector_env("recgym/MultiBehaviorRetention-v0", 1024, torch.device("cpu"), {})
    constraint_report(evaluate_policy(env, trainer.policy(), seed=1), trainer.bounds())
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from policies.base import Policy
from policies.rl.actor_critic import ActorCriticConfig, ActorCriticTrainer
from policies.rl.episodes import EpisodeTracker
from policies.rl.normalization import ReturnScaler
from policies.rl.policy import ScoredSlatePolicy
from policies.rl.storage import RolloutBuffer
from policies.rl.trainer import Transition
from recgym.core.registry import register_policy
from recgym.core.rollout import EpisodeTotals, evaluate_policy
from recgym.errors import ConfigError

AUXILIARY_SIGNALS = ("liked", "shared", "followed")
"""Response fields that can be auxiliary signals: per-position bools, counted per step."""
MAIN = "main"
"""Name of the stage-two learner in checkpoints and ``components``."""
_SPECIALIST_LOGITS = "_specialist_logits"
"""Key under which the specialists' logits travel with the rollout's observations in stage two."""
_REFERENCE_SEED_OFFSET = 1_000_003
"""Reference users are seeded apart from the training users (who get seeds seed + i, i < num_users)."""


@dataclasses.dataclass
class TwoStageConstrainedConfig(ActorCriticConfig):
    """PPO hyperparameters (shared by every learner) plus the two stages and the constraint bounds."""

    env_id: str = "recgym/MultiBehaviorRetention-v0"
    """A registered recgym env id; it must report the auxiliary behaviours in its Response."""
    auxiliary_signals: tuple[str, ...] = AUXILIARY_SIGNALS
    """Signals with a stage-one specialist and a constraint: any of 'liked', 'shared', 'followed'."""
    stage_one_steps: int = 150_000
    """User-steps of stage one, split equally among the specialists; absolute rather than a fraction of
    total_steps so that resuming with a larger total_steps only lengthens stage two."""
    bound_fraction: float = 0.8
    """Each auxiliary signal's per-episode total must stay >= bound_fraction x its specialist's (greedy)."""
    reference_users: int = 256
    """Fresh users on whom each specialist is evaluated greedily, once, to fix the bounds, and the main policy
    at every dual step (one greedy episode each: it lasts as long as the longest user's episode)."""
    dual_every: int = 4
    """Stage-two iterations between dual steps."""
    dual_learning_rate: float = 1.0
    """Multiplier step per dual step per unit of relative shortfall (bound - total) / bound; 0 keeps them fixed."""
    initial_multiplier: float = 0.0
    """Weight of each KL(main || specialist) term when stage two begins; 0 lets an inactive constraint cost
    nothing (a multiplier only grows once its bound is missed)."""
    max_multiplier: float = 20.0
    """Cap on each multiplier, so an unreachable bound cannot swamp the watch-time objective."""

    def validate(self) -> None:
        super().validate()
        self._validate_signals()
        self._validate_bounds()

    def _validate_signals(self) -> None:
        name, signals = type(self).__name__, self.auxiliary_signals
        if not isinstance(signals, tuple | list) or not signals:
            raise ConfigError(
                f"{name}.auxiliary_signals must be a non-empty tuple of {AUXILIARY_SIGNALS}; got {signals!r}."
            )
        unknown = [signal for signal in signals if signal not in AUXILIARY_SIGNALS]
        if unknown:
            raise ConfigError(
                f"{name}.auxiliary_signals has unknown signal(s) {unknown}; choose from {AUXILIARY_SIGNALS}."
            )
        if len(set(signals)) != len(signals):
            raise ConfigError(f"{name}.auxiliary_signals lists a signal twice: {list(signals)}; list each once.")
        least = self.num_users * self.rollout_steps * len(signals)
        if not isinstance(self.stage_one_steps, int) or self.stage_one_steps < least:
            raise ConfigError(
                f"{name}.stage_one_steps={self.stage_one_steps!r} gives a specialist less than one rollout; use at "
                f"least len(auxiliary_signals) x num_users x rollout_steps = {least}."
            )

    def _validate_bounds(self) -> None:
        name = type(self).__name__
        if not 0.0 < self.bound_fraction <= 1.0:
            raise ConfigError(
                f"{name}.bound_fraction must lie in (0, 1] (a share of what each specialist achieves); "
                f"got {self.bound_fraction}."
            )
        for field in ("reference_users", "dual_every"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}.{field} must be a positive integer; got {value!r}.")
        for field in ("dual_learning_rate", "initial_multiplier"):
            value = getattr(self, field)
            if not value >= 0 or math.isinf(value):
                raise ConfigError(f"{name}.{field} must be a finite number >= 0; got {value}.")
        if not self.max_multiplier >= max(self.initial_multiplier, 1e-12) or math.isinf(self.max_multiplier):
            raise ConfigError(
                f"{name}.max_multiplier must be finite, positive and >= initial_multiplier "
                f"({self.initial_multiplier}); got {self.max_multiplier}."
            )


def slate_kl(logits: torch.Tensor, reference_logits: torch.Tensor, slate: torch.Tensor) -> torch.Tensor:
    """KL(PL(logits) || PL(reference_logits)) by the chain rule along ``slate``'s prefixes, [B].

    Sums, over positions, the KL between the two policies' distributions of the next item
    given the slate's earlier items. Averaged over slates drawn from PL(logits) this is the
    exact slate KL, without enumerating the C!/(C-K)! slates; gradients reach ``logits``
    through every position's distribution (not through which prefix was drawn, as with the
    entropy bonus in ``slate_log_prob_and_entropy``).
    """
    kl = torch.zeros(logits.shape[0], dtype=logits.dtype, device=logits.device)
    placed = torch.zeros_like(logits, dtype=torch.bool)
    for position in range(slate.shape[1]):
        log_p = torch.log_softmax(logits.masked_fill(placed, float("-inf")), dim=1)
        log_q = torch.log_softmax(reference_logits.masked_fill(placed, float("-inf")), dim=1)
        kl = kl + (log_p.exp() * (log_p - log_q).masked_fill(placed, 0.0)).sum(dim=1)
        placed = placed.scatter(1, slate[:, position : position + 1], True)
    return kl


def constraint_report(totals: EpisodeTotals, bounds: dict[str, float]) -> dict[str, float | bool]:
    """Main and auxiliary per-episode means of an evaluated policy against per-episode ``bounds``.

    Keys: 'return' and 'watch_time' (the main objective), then for each bounded signal
    '<signal>', '<signal>_bound', '<signal>_ratio' (mean / bound) and '<signal>_satisfied';
    'all_satisfied' is True when every bound holds. Bounds come from ``TwoStageConstrainedTrainer.bounds()``.
    """
    report: dict[str, float | bool] = {
        "return": float(totals.episode_return.mean()),
        "watch_time": float(totals.watch_time.mean()),
    }
    satisfied = []
    for signal, bound in bounds.items():
        if signal not in AUXILIARY_SIGNALS:
            raise ConfigError(
                f"constraint_report: unknown signal {signal!r} in bounds; choose from {AUXILIARY_SIGNALS}."
            )
        mean = float(getattr(totals, signal).mean())
        report[signal] = mean
        report[f"{signal}_bound"] = float(bound)
        report[f"{signal}_ratio"] = mean / bound if bound > 0 else math.inf
        report[f"{signal}_satisfied"] = mean >= bound
        satisfied.append(mean >= bound)
    report["all_satisfied"] = all(satisfied)
    return report


@dataclasses.dataclass
class _Learner:
    """One actor-critic's trainable pieces; the trainer points its PPO machinery at the active one."""

    network: nn.Module
    optimizer: torch.optim.Optimizer
    reward_scaler: ReturnScaler


@register_policy(
    "constrained",
    kind="rl",
    description="two-stage constrained actor-critic (watch time with like/share/follow bounds)",
)
class TwoStageConstrainedTrainer(ActorCriticTrainer):
    """Stage one: a PPO specialist per auxiliary signal; stage two: PPO on watch time, KL-tied to them.

    ``self.phase`` indexes ``self.phases`` (the signals, then 'main'); it is chosen at the
    start of each iteration from ``self.steps`` and ``stage_one_steps``, and the PPO code of
    ``ActorCriticTrainer`` runs unchanged on the active learner's network, optimiser and
    reward scaler.
    """

    algorithm = "constrained"
    config_class = TwoStageConstrainedConfig
    config: TwoStageConstrainedConfig

    # -- construction and phases ------------------------------------------------------------
    def build(self) -> None:
        config = self.config
        self.signals: tuple[str, ...] = tuple(config.auxiliary_signals)
        self.phases: tuple[str, ...] = (*self.signals, MAIN)
        self.learners: dict[str, _Learner] = {name: self._new_learner() for name in self.phases}
        self.buffer = RolloutBuffer(config.rollout_steps, config.num_users, 1, self.device)
        self.multipliers = torch.zeros(len(self.signals), dtype=torch.float64)
        self.references: dict[str, float] = {}
        self.stage_episodes = EpisodeTracker(config.num_users, self.device)
        self._kl_sum = torch.zeros(len(self.signals), dtype=torch.float64)
        self._kl_updates = 0
        self._reference_env_cache: Any = None
        self._activate(0)

    def _new_learner(self) -> _Learner:
        config = self.config
        network = self.build_network().to(self.device)
        optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, eps=1e-5)
        scaler = ReturnScaler(config.num_users, 1, config.gamma).to(self.device)
        return _Learner(network, optimizer, scaler)

    def _activate(self, phase: int) -> None:
        self.phase = phase
        learner = self.learners[self.phases[phase]]
        self.network, self.optimizer, self.reward_scaler = learner.network, learner.optimizer, learner.reward_scaler

    def phase_at(self, steps: int) -> int:
        """The phase an iteration starting at ``steps`` trains: specialist j in its share of stage one, then main."""
        count = len(self.signals)
        for index in range(count):
            if steps < self.config.stage_one_steps * (index + 1) // count:
                return index
        return count

    @property
    def in_stage_two(self) -> bool:
        return self.phases[self.phase] == MAIN

    def _enter_phase(self, phase: int) -> None:
        self._activate(phase)
        self.network.encoder.update_statistics(self.observation)
        if self.in_stage_two:
            self.references = self.measure_references()
            self.multipliers.fill_(self.config.initial_multiplier)

    # -- bounds and dual ---------------------------------------------------------------------
    def _reference_env(self) -> Any:
        if self._reference_env_cache is None:
            self._reference_env_cache = self.make_env(self.config.reference_users)
        return self._reference_env_cache

    @torch.no_grad()
    def greedy_totals(self, policy: Policy) -> EpisodeTotals:
        """One greedy episode of ``policy`` on the reference users (the same users, same seeds, every call)."""
        return evaluate_policy(self._reference_env(), policy, seed=self.config.seed + _REFERENCE_SEED_OFFSET)

    def measure_references(self) -> dict[str, float]:
        """Each specialist's own signal per episode, deployed greedily on the reference users."""
        return {
            signal: float(getattr(self.greedy_totals(self.specialist_policy(signal)), signal).mean())
            for signal in self.signals
        }

    def bounds(self) -> dict[str, float]:
        """Per-episode lower bound on each auxiliary signal; empty until stage two has begun."""
        return {signal: self.config.bound_fraction * value for signal, value in self.references.items()}

    def dual_step(self) -> dict[str, float]:
        """Check the main policy greedily; lambda_i += rate * (bound_i - total_i) / bound_i, kept in [0, max].

        Returns the checked per-episode means ('greedy_return', 'greedy_<signal>') for the logs.
        """
        totals = self.greedy_totals(self.policy())
        bounds = self.bounds()
        achieved = torch.tensor([float(getattr(totals, signal).mean()) for signal in self.signals], dtype=torch.float64)
        bound = torch.tensor([bounds[signal] for signal in self.signals], dtype=torch.float64)
        shortfall = ((bound - achieved) / bound.clamp_min(1e-8)).clamp(-1.0, 1.0)
        self.multipliers = (self.multipliers + self.config.dual_learning_rate * shortfall).clamp(
            0.0, self.config.max_multiplier
        )
        checked = {f"greedy_{signal}": float(value) for signal, value in zip(self.signals, achieved, strict=True)}
        return {"greedy_return": float(totals.episode_return.mean())} | checked

    # -- ActorCriticTrainer hooks -----------------------------------------------------------
    def reward_vector(self, transition: Transition) -> torch.Tensor:
        """Stage one: the active specialist's signal count [B, 1]; stage two: the env's reward."""
        if self.in_stage_two:
            return transition.reward.unsqueeze(1)
        signal = getattr(transition.response, self.phases[self.phase])
        return signal.sum(dim=1, keepdim=True).to(transition.reward.dtype)

    def after_step(self, transition: Transition) -> None:
        self.stage_episodes.record(transition.reward, transition.response, transition.done)

    def update(self, last_values: torch.Tensor) -> dict[str, float]:
        """PPO's update; in stage two the specialists score the rollout once, not once per minibatch.

        Their logits ride along in the buffer's observations (the networks read only the keys
        they know), so every minibatch carries its own rows of them into ``extra_loss``.
        """
        if not self.in_stage_two:
            return super().update(last_values)
        observations = self.buffer.observations
        observations[_SPECIALIST_LOGITS] = self._specialist_logits(observations)
        try:
            return super().update(last_values)
        finally:
            del observations[_SPECIALIST_LOGITS]

    @torch.no_grad()
    def _specialist_logits(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Every specialist's candidate logits for the rollout, [T, B, S, C]."""
        flat = {key: value.flatten(0, 1) for key, value in observations.items()}
        logits = torch.stack([self.learners[signal].network(flat)[0] for signal in self.signals], dim=1)
        return logits.view(*observations["candidate_features"].shape[:2], *logits.shape[1:])

    def extra_loss(self, samples: dict[str, Any], logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Stage two: sum_i lambda_i KL(main || specialist_i) on the minibatch's slates."""
        if not self.in_stage_two:
            return logits.new_zeros(())
        specialists = samples["observation"][_SPECIALIST_LOGITS].unbind(1)
        kls = torch.stack([slate_kl(logits, reference, samples["slate"]).mean() for reference in specialists])
        self._kl_sum += kls.detach().to(self._kl_sum)
        self._kl_updates += 1
        return (self.multipliers.to(kls) * kls).sum()

    # -- Trainer hooks ----------------------------------------------------------------------
    def train_iteration(self) -> dict[str, float]:
        phase = self.phase_at(self.steps)
        if phase != self.phase:
            self._enter_phase(phase)
        self._kl_sum.zero_()
        self._kl_updates = 0
        metrics = super().train_iteration()
        metrics |= self._stage_metrics(self.stage_episodes.pop_means())
        if self.in_stage_two:
            if self.iterations % self.config.dual_every == 0:
                metrics |= self.dual_step()
            lambdas = zip(self.signals, self.multipliers.tolist(), strict=True)
            metrics |= {f"lambda_{signal}": value for signal, value in lambdas}
        return metrics

    def _stage_metrics(self, episodes: dict[str, float]) -> dict[str, float]:
        """Stage, and the training episodes' main and auxiliary returns; stage two adds each KL and bound."""
        metrics = {"stage": 2.0 if self.in_stage_two else 1.0, "phase": float(self.phase)}
        if episodes:
            metrics["main_return"] = episodes["episode_return"]
            metrics |= {f"return_{signal}": episodes[f"episode_{signal}"] for signal in self.signals}
        if self.in_stage_two:
            kl = self._kl_sum / max(self._kl_updates, 1)
            metrics |= {f"kl_{signal}": float(value) for signal, value in zip(self.signals, kl, strict=True)}
            metrics |= {f"bound_{signal}": value for signal, value in self.bounds().items()}
        return metrics

    def policy(self) -> Policy:
        """The stage-two (main) policy: top-K of its logits when greedy (untrained until stage two has run)."""
        return self._policy_of(MAIN)

    def specialist_policy(self, signal: str) -> Policy:
        """Stage one's specialist for ``signal``, for comparison with the main policy."""
        if signal not in self.signals:
            raise ConfigError(f"No specialist for {signal!r}; this trainer's auxiliary signals are {self.signals}.")
        return self._policy_of(signal)

    def _policy_of(self, name: str) -> Policy:
        return ScoredSlatePolicy(self.learners[name].network, self.slate_size, seed=self.config.seed)

    def components(self) -> dict[str, Any]:
        parts: dict[str, Any] = {}
        for name, learner in self.learners.items():
            parts |= {
                f"{name}.network": learner.network,
                f"{name}.optimizer": learner.optimizer,
                f"{name}.reward_scaler": learner.reward_scaler,
            }
        return parts

    def extra_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "multipliers": self.multipliers.clone(),
            "references": dict(self.references),
            "stage_episodes": self.stage_episodes.state_dict(),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self._activate(int(state["phase"]))
        self.multipliers = state["multipliers"].to(torch.float64).cpu().clone()
        self.references = dict(state["references"])
        self.stage_episodes.load_state_dict(state["stage_episodes"])
