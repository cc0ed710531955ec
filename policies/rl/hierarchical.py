"""Hierarchical RL: a high level picks each user's goal, a low level fills the slate within it.

After the novelty-seeking HRL work (Li et al. 2023: a high-level policy models each user's
session-level intent to explore or stay familiar, a low-level policy recommends within it)
and LLM-enhanced hierarchical recommendation (a language model plans the high level from a
text rendering of the user's history). A **goal** is a topic (``goal_kind='topic'``) or a
novelty level (``'novelty'``: 0 = stay with topics the user already consumes, 1 = explore
ones they do not). The high level re-plans a user's goal at every episode start, every new
session (``replan_on_session``) and every ``period`` steps; in between the goal is held.

* **Low level**: ``ActorCriticTrainer`` (PPO) whose context hook carries the goal, one-hot,
  and each candidate's match with it [B, C]; the match also adds ``goal_boost`` (plus a
  learned per-goal gain) to the candidate's logit, so the goal shapes which candidates
  lead the slate. A second reward channel pays the low level for clicks on matching items
  (``intrinsic_weight`` mixes its advantage in).
* **High level** (``planner='learned'``): a categorical policy over goals with an option
  critic Q(s, g) [B, G], trained by PPO on semi-MDP lambda-returns: rewards accumulate over
  the option, the lambda mix happens only where a new option starts, and a rollout that
  ends mid-option bootstraps with Q(s_T, g) of the option still running.
* **LLM planner** (``planner='llm'``): ``LLMGoalPlanner`` asks a language model, once per
  (user, goal), whether the goal suits the user's rendered history, and takes the goal
  with the highest log p(yes) - log p(no); frozen, deterministic, batched.

Every per-user quantity (goal, goal age, the recommender's topic memory) is a [B, ...]
tensor; the only Python loop over users renders history text for the LLM. The topic
memory uses what a recommender logs itself: the items it showed, which were clicked, and
the catalog's public topic of each item.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from policies.rl.actor_critic import ActorCriticConfig, ActorCriticTrainer
from policies.rl.networks import SlateActorCritic, mlp
from policies.rl.normalization import ReturnScaler, RunningNorm
from policies.rl.slate_distribution import greedy_slate, sample_slate
from policies.rl.storage import minibatches
from policies.rl.trainer import Transition
from recgym.core.random import DeviceGenerators
from recgym.core.registry import register_policy
from recgym.core.response import Response
from recgym.errors import ConfigError
from recgym.llm.backends.base import LLMBackend

GOAL_KINDS = ("topic", "novelty")
PLANNERS = ("learned", "llm")
NOVELTY_GOALS = ("stay with topics the user already knows", "explore topics that are new to the user")
"""Descriptions of the two novelty goals: 0 familiar, 1 explore."""
_SESSION_STEP_COLUMN = 2
"""Column of ``observation['session']`` holding steps-in-session / 100 (``retention.observe_session``)."""
_UNTIMED_AGE_SCALE = 100.0
"""Divides a goal's age in the high level's input when there is no period to divide by."""


@dataclasses.dataclass
class HierarchicalConfig(ActorCriticConfig):
    """PPO low level plus a high level over goals; see the module docstring for the method."""

    goal_kind: str = "novelty"
    """'novelty' (2 goals: stay familiar, explore) or 'topic' (one goal per catalog topic)."""
    period: int = 10
    """Steps a goal is held before the high level re-plans (0: only at session and episode starts)."""
    replan_on_session: bool = True
    """Also re-plan when a user starts a new session (envs with a 'session' observation; ignored elsewhere)."""
    goal_boost: float = 1.0
    """Logit added to each candidate in proportion to its match with the goal (large, e.g. 1e3: a hard filter)."""
    intrinsic_weight: float = 0.1
    """Weight of the low level's intrinsic advantage (clicks on goal-matching items) next to the env's."""
    planner: str = "learned"
    """'learned' (a PPO-trained policy over goals) or 'llm' (a frozen ``LLMGoalPlanner``)."""
    high_learning_rate: float = 3e-4
    """Adam step size of the high-level policy and option critic."""
    high_gamma: float = 0.99
    """Per-step discount of the high level's semi-MDP returns (an option of k steps discounts by gamma^k)."""
    high_gae_lambda: float = 0.95
    """Lambda of the high level's returns, mixed in only where a new option starts."""
    high_entropy_coef: float = 0.01
    """Weight of the goal distribution's entropy bonus."""
    high_epochs: int = 4
    """Passes over each rollout for the high level (minibatches as ``num_minibatches``)."""
    memory_rate: float = 0.1
    """Step of each user's click-share memory per click (the recommender's estimate of topic familiarity)."""
    exposure_decay: float = 0.85
    """Per-step decay of the memory of shown topics and of clicks on novel/familiar items."""
    llm_model: str | None = None
    """Local transformers model directory for ``planner='llm'`` (or pass ``backend=`` to the trainer)."""
    llm_batch_size: int = 64
    """Prompts per forward pass of the LLM planner."""

    def validate(self) -> None:
        super().validate()
        name = type(self).__name__
        if self.goal_kind not in GOAL_KINDS:
            raise ConfigError(f"{name}.goal_kind must be one of {GOAL_KINDS}; got {self.goal_kind!r}.")
        if self.planner not in PLANNERS:
            raise ConfigError(f"{name}.planner must be one of {PLANNERS}; got {self.planner!r}.")
        for field in ("period", "high_epochs", "llm_batch_size"):
            value = getattr(self, field)
            lowest = 0 if field == "period" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                raise ConfigError(f"{name}.{field} must be an integer >= {lowest}; got {value!r}.")
        if self.period == 0 and not self.replan_on_session:
            raise ConfigError(f"{name}: period=0 with replan_on_session=False never re-plans; set one of them.")
        for field in ("goal_boost", "intrinsic_weight", "high_entropy_coef"):
            value = getattr(self, field)
            if not 0.0 <= value < math.inf:
                raise ConfigError(f"{name}.{field} must be a finite number >= 0; got {value}.")
        if not 0.0 < self.high_learning_rate < math.inf:
            raise ConfigError(f"{name}.high_learning_rate must be positive and finite; got {self.high_learning_rate}.")
        for field in ("high_gamma", "high_gae_lambda", "exposure_decay"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ConfigError(f"{name}.{field} must lie in [0, 1]; got {getattr(self, field)}.")
        if not 0.0 < self.memory_rate <= 1.0:
            raise ConfigError(f"{name}.memory_rate must lie in (0, 1]; got {self.memory_rate}.")


# -- per-user state -----------------------------------------------------------------------------------
class TopicMemory:
    """What the recommender remembers of each user's recent topics, from its own logs, [B, ...] tensors.

    ``clicks`` [B, T] is a moving share of clicked topics (an estimate of familiarity); ``shown``
    [B, T] a decaying count of shown topics (an estimate of boredom); ``responses`` [B, 4] decaying
    totals of (novel shown, novel clicked, familiar shown, familiar clicked), with each shown
    item's novelty counted fractionally. Novelty of a topic: 1 - clicks[t] / max clicks.
    """

    def __init__(self, num_users: int, num_topics: int, rate: float, decay: float, device: torch.device) -> None:
        self.rate, self.decay = rate, decay
        self.clicks = torch.zeros(num_users, num_topics, device=device)
        self.shown = torch.zeros(num_users, num_topics, device=device)
        self.responses = torch.zeros(num_users, 4, device=device)

    def novelty(self, topics: torch.Tensor) -> torch.Tensor:
        """How new each topic in ``topics [B, N]`` is to its user, in [0, 1] (1 before any click)."""
        most = self.clicks.max(dim=1, keepdim=True).values.clamp_min(1e-6)
        return 1.0 - self.clicks.gather(1, topics) / most

    def click_rates(self) -> torch.Tensor:
        """Smoothed click rate on novel and on familiar items, [B, 2] (0.5 with no evidence)."""
        shown = self.responses[:, [0, 2]]
        clicked = self.responses[:, [1, 3]]
        return (clicked + 0.5) / (shown + 1.0)

    def record(self, topics: torch.Tensor, clicked: torch.Tensor) -> None:
        """Fold in one step: the shown items' topics [B, K] and which were clicked, float [B, K]."""
        novelty = self.novelty(topics)
        step = torch.stack(
            [novelty.sum(1), (novelty * clicked).sum(1), (1 - novelty).sum(1), ((1 - novelty) * clicked).sum(1)], 1
        )
        self.responses = self.decay * self.responses + step
        self.shown = (self.decay * self.shown).scatter_add_(1, topics, torch.ones_like(clicked))
        keep = 1.0 - self.rate * clicked.sum(1, keepdim=True).clamp_max(1.0)
        self.clicks = (self.clicks * keep).scatter_add_(1, topics, self.rate * clicked)

    def reset(self, rows: torch.Tensor) -> None:
        """Forget the users where ``rows [B]`` is true (their new episode starts from nothing)."""
        keep = (~rows).to(self.clicks.dtype).unsqueeze(1)
        self.clicks, self.shown, self.responses = self.clicks * keep, self.shown * keep, self.responses * keep

    def describe(self, rows: torch.Tensor, watch_per_step: torch.Tensor, top: int = 3) -> list[str]:
        """A short text of each user's recent behaviour at ``rows [n]``, for a language model."""
        shares = self.clicks.index_select(0, rows)
        share_values, share_topics = shares.topk(min(top, shares.shape[1]), dim=1)
        shown_counts, shown_topics = self.shown.index_select(0, rows).topk(min(top, shares.shape[1]), dim=1)
        rates = self.click_rates().index_select(0, rows)
        texts = []
        for values, topics, counts, seen, rate, watch in zip(
            share_values.tolist(),
            share_topics.tolist(),
            shown_counts.tolist(),
            shown_topics.tolist(),
            rates.tolist(),
            watch_per_step.tolist(),
            strict=True,
        ):
            clicked = ", ".join(f"topic {t} ({v:.0%})" for t, v in zip(topics, values, strict=True) if v > 0.005)
            shown = ", ".join(f"topic {t}" for t, count in zip(seen, counts, strict=True) if count > 0.05)
            texts.append(
                f"Recent clicks by topic: {clicked or 'none yet'}. "
                f"Recently shown topics: {shown or 'none yet'}. "
                f"Click rate on unfamiliar topics {rate[0]:.2f}, on familiar topics {rate[1]:.2f}. "
                f"Watch time per step {watch:.1f} min."
            )
        return texts

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"clicks": self.clicks, "shown": self.shown, "responses": self.responses}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        device = self.clicks.device
        self.clicks, self.shown, self.responses = (state[key].to(device) for key in ("clicks", "shown", "responses"))


@dataclasses.dataclass(frozen=True)
class GoalSpace:
    """The goals a high level chooses from, and how well each candidate matches a user's goal."""

    kind: str
    num_topics: int

    @property
    def num_goals(self) -> int:
        return self.num_topics if self.kind == "topic" else len(NOVELTY_GOALS)

    def descriptions(self) -> list[str]:
        """What each goal asks of the next recommendations, in words (for the LLM planner)."""
        if self.kind == "topic":
            return [f"come from topic {topic}" for topic in range(self.num_topics)]
        return list(NOVELTY_GOALS)

    def match(self, goal: torch.Tensor, topics: torch.Tensor, memory: TopicMemory) -> torch.Tensor:
        """Match in [0, 1] of items with ``topics [B, N]`` to each user's ``goal [B]``, [B, N]."""
        if self.kind == "topic":
            return (topics == goal.unsqueeze(1)).to(torch.float32)
        novelty = memory.novelty(topics)
        explore = goal.unsqueeze(1) == 1
        return torch.where(explore, novelty, 1.0 - novelty)


@dataclasses.dataclass(frozen=True)
class GoalSchedule:
    """When a user's goal is re-planned: a new episode, a new session, or the period elapsed."""

    period: int
    on_session: bool

    @property
    def age_scale(self) -> float:
        return float(self.period) if self.period > 0 else _UNTIMED_AGE_SCALE

    @staticmethod
    def new_episode(observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Users whose observation is the first of an episode, [B]."""
        return observation["elapsed"][:, 0] == 0

    def due(self, age: torch.Tensor, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Users to re-plan, [B]; ``age`` counts steps taken with the current goal (-1: none yet).

        Start events re-plan only goals already used (age > 0), so asking twice about one
        observation re-plans once.
        """
        started = self.new_episode(observation)
        if self.on_session and "session" in observation:
            started = started | (observation["session"][:, _SESSION_STEP_COLUMN] == 0)
        due = (age < 0) | ((age > 0) & started)
        if self.period > 0:
            due = due | (age >= self.period)
        return due


@dataclasses.dataclass(frozen=True)
class Decision:
    """One planning call: who re-planned, and for a learned planner its inputs and log-probabilities."""

    due: torch.Tensor
    """Users whose goal was (re)chosen, bool [B]."""
    features: torch.Tensor | None
    """The high level's input for every user, [B, D] (None for the LLM planner)."""
    log_prob: torch.Tensor | None
    """Log-probability of each user's goal under the planner, [B] (meaningful where ``due``)."""


class GoalController:
    """Each user's goal, its age and the topic memory; plans, builds the low level's context, records steps."""

    def __init__(
        self,
        goals: GoalSpace,
        schedule: GoalSchedule,
        item_topics: torch.Tensor,
        user_inputs: Callable[[dict[str, torch.Tensor]], torch.Tensor],
        planner: GoalPolicyNetwork | LLMGoalPlanner,
        memory: TopicMemory,
    ) -> None:
        self.goals, self.schedule, self.item_topics = goals, schedule, item_topics
        self.user_inputs, self.planner, self.memory = user_inputs, planner, memory
        num_users, device = memory.clicks.shape[0], memory.clicks.device
        self.goal = torch.zeros(num_users, dtype=torch.int64, device=device)
        """Each user's current goal, int64 [B]."""
        self.age = torch.full((num_users,), -1, dtype=torch.int64, device=device)
        """Steps taken with the current goal, int64 [B]; -1 before the first plan."""

    @property
    def num_users(self) -> int:
        return int(self.goal.shape[0])

    @staticmethod
    def feature_size(user_input_size: int, num_topics: int) -> int:
        """D of ``features``: the history summary, clicks and shown [T] each, 4 responses, 2 click rates, age."""
        return user_input_size + 2 * num_topics + 4 + 2 + 1

    def features(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The high level's input [B, D]: history summary, topic memory, novelty responses, goal age."""
        memory = self.memory
        age = self.age.clamp_min(0).to(torch.float32).unsqueeze(1) / self.schedule.age_scale
        columns = [self.user_inputs(observation), memory.clicks, memory.shown, memory.responses, memory.click_rates()]
        return torch.cat([*columns, age], dim=1)

    def plan(self, observation: dict[str, torch.Tensor], generator: torch.Generator, explore: bool) -> Decision:
        """Re-plan the users that are due for ``observation`` (call once per step, before acting)."""
        self.memory.reset(self.schedule.new_episode(observation))
        due = self.schedule.due(self.age, observation)
        self.age = torch.where(due, torch.zeros_like(self.age), self.age)
        if isinstance(self.planner, LLMGoalPlanner):
            rows = due.nonzero().squeeze(1)
            if rows.numel() > 0:
                watch = observation["history_watch_time"].index_select(0, rows).mean(dim=1)
                chosen = self.planner.plan(self.memory.describe(rows, watch)).to(self.goal.device)
                self.goal = self.goal.index_copy(0, rows, chosen)
            return Decision(due, None, None)
        features = self.features(observation)
        goal, log_prob = self.planner.decide(features, generator, explore)
        self.goal = torch.where(due, goal, self.goal)
        return Decision(due, features, log_prob)

    def candidate_match(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each candidate's match with its user's goal, [B, C]."""
        return self.goals.match(self.goal, self.item_topics[observation["candidate_ids"]], self.memory)

    def context(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The low level's context [B, G + C]: the goal one-hot, then each candidate's match."""
        one_hot = nn.functional.one_hot(self.goal, self.goals.num_goals).to(torch.float32)
        return torch.cat([one_hot, self.candidate_match(observation)], dim=1)

    def advance(self) -> None:
        """Age every goal by one step (call once per slate shown)."""
        self.age = self.age + 1

    def record(self, shown_items: torch.Tensor, response: Response) -> None:
        """Fold a step's shown items [B, K] and the response into the topic memory."""
        self.memory.record(self.item_topics[shown_items], response.clicked.to(torch.float32))

    def state_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "age": self.age, "memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.goal.device
        self.goal, self.age = state["goal"].to(device), state["age"].to(device)
        self.memory.load_state_dict(state["memory"])


# -- networks -------------------------------------------------------------------------------------------
class GoalConditionedActorCritic(nn.Module):
    """``SlateActorCritic`` conditioned on a goal; the goal's candidate match boosts logits.

    The context is [goal one-hot (G), candidate match (C)]: the one-hot joins the user input,
    and each candidate's logit gains (``goal_boost`` + a learned per-goal gain) x match.
    """

    def __init__(
        self,
        observation_space: Any,
        hidden_size: int,
        num_values: int,
        num_goals: int,
        goal_boost: float,
        history_summary: bool = True,
    ) -> None:
        super().__init__()
        self.num_goals = num_goals
        self.goal_boost = goal_boost
        self.base = SlateActorCritic(
            observation_space, hidden_size, num_values, context_size=num_goals, history_summary=history_summary
        )
        self.goal_gain = nn.Parameter(torch.zeros(num_goals))

    @property
    def encoder(self) -> nn.Module:
        """The base network's observation encoder (the trainer updates its input statistics)."""
        return self.base.encoder

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if context is None:
            raise ValueError("GoalConditionedActorCritic needs a context [B, num_goals + num_candidates].")
        one_hot, match = context[:, : self.num_goals], context[:, self.num_goals :]
        logits, values = self.base(observation, one_hot)
        gain = self.goal_boost + one_hot @ self.goal_gain
        return logits + gain.unsqueeze(1) * match, values


class GoalPolicyNetwork(nn.Module):
    """The learned high level: goal logits [B, G] and option values Q(s, g) [B, G] from features [B, D]."""

    def __init__(self, feature_size: int, hidden_size: int, num_goals: int) -> None:
        super().__init__()
        self.norm = RunningNorm(feature_size)
        self.actor = mlp(feature_size, hidden_size, num_goals)
        self.critic = mlp(feature_size, hidden_size, num_goals)
        with torch.no_grad():  # start close to uniform over goals, as cleanrl's small actor head does
            self.actor[-1].weight.mul_(0.01)
            self.actor[-1].bias.zero_()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normalised = self.norm(features)
        return self.actor(normalised), self.critic(normalised)

    @torch.no_grad()
    def decide(
        self, features: torch.Tensor, generator: torch.Generator, explore: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A goal per user (sampled, or the most likely) and its log-probability, [B] each."""
        logits = self(features)[0]
        goal = sample_slate(logits, 1, generator)[:, 0] if explore else logits.argmax(dim=1)
        return goal, torch.log_softmax(logits, dim=1).gather(1, goal.unsqueeze(1)).squeeze(1)


# -- LLM planner ----------------------------------------------------------------------------------------
class LLMGoalPlanner:
    """A frozen high level: a language model judges each goal for each user's history; best goal wins.

    One prompt per (user, goal) asks whether the goal suits the user; the score is
    log p(yes) - log p(no) of the next token, read in one batch (no free text is parsed).
    Prompts of one user share their history, so a backend with ``option_logprobs_grouped``
    computes it once. The highest score wins, ties to the lowest goal: deterministic.
    """

    SYSTEM = (
        "You plan what a video recommender should do next for one user. "
        "Read the user's recent activity and answer the question with yes or no."
    )

    def __init__(
        self,
        backend: LLMBackend,
        goal_descriptions: Sequence[str],
        answers: tuple[str, str] = ("yes", "no"),
        system_prompt: str | None = None,
    ) -> None:
        if not goal_descriptions:
            raise ConfigError("LLMGoalPlanner needs at least one goal description.")
        self.backend = backend
        self.goal_descriptions = list(goal_descriptions)
        self.answers = list(answers)
        self.system_prompt = self.SYSTEM if system_prompt is None else system_prompt

    def prompts(self, histories: Sequence[str]) -> list[list[str]]:
        """The prompts for each user, one per goal, grouped by user."""
        return [
            [
                self.backend.chat_prompt(
                    self.system_prompt, f"{history}\nShould the next recommendations {goal}? Answer yes or no."
                )
                for goal in self.goal_descriptions
            ]
            for history in histories
        ]

    def scores(self, histories: Sequence[str]) -> torch.Tensor:
        """log p(yes) - log p(no) of every goal for every user, float32 [N, G]."""
        groups = self.prompts(histories)
        grouped = getattr(self.backend, "option_logprobs_grouped", None)
        if grouped is not None:
            log_probs = grouped(groups, self.answers)
        else:
            log_probs = self.backend.option_logprobs([prompt for group in groups for prompt in group], self.answers)
        log_probs = log_probs.reshape(len(histories), len(self.goal_descriptions), 2)
        return log_probs[..., 0] - log_probs[..., 1]

    def plan(self, histories: Sequence[str]) -> torch.Tensor:
        """The chosen goal of each user, int64 [N] on the CPU."""
        if not histories:
            return torch.zeros(0, dtype=torch.int64)
        return self.scores(histories).argmax(dim=1)


# -- high-level training --------------------------------------------------------------------------------
class GoalRollout:
    """The high level's view of a rollout, [T, B] (features and goals [T + 1, B]: the last is the next step)."""

    def __init__(self, steps: int, num_users: int, feature_size: int, device: torch.device) -> None:
        self.steps = steps
        self.features = torch.zeros(steps + 1, num_users, feature_size, device=device)
        self.goals = torch.zeros(steps + 1, num_users, dtype=torch.int64, device=device)
        self.decided = torch.zeros(steps + 1, num_users, dtype=torch.bool, device=device)
        self.log_probs = torch.zeros(steps + 1, num_users, device=device)
        self.rewards = torch.zeros(steps, num_users, device=device)
        self.dones = torch.zeros(steps, num_users, dtype=torch.bool, device=device)
        self.position = 0

    def reset(self) -> None:
        self.position = 0

    def add_state(self, decision: Decision, goal: torch.Tensor) -> None:
        """The state at the current position: features, goal in force, whether it was just chosen."""
        step = self.position
        assert decision.features is not None and decision.log_prob is not None
        self.features[step], self.goals[step] = decision.features, goal
        self.decided[step], self.log_probs[step] = decision.due, decision.log_prob

    def add_outcome(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        """What the step at the current position earned, then move on."""
        self.rewards[self.position], self.dones[self.position] = reward, done
        self.position += 1


def option_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    decided: torch.Tensor,
    fresh_values: torch.Tensor,
    held_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Semi-MDP lambda-returns of the option in force at each step, [T, B].

    ``rewards``/``dones`` are [T, B]; ``decided``, ``fresh_values`` (V(s) = sum_g pi(g|s) Q(s, g))
    and ``held_values`` (Q(s, g) of the goal in force) are [T + 1, B]. Inside an option rewards
    add up undiscounted by lambda; where a new option starts, the return mixes lambda of the
    longer return with 1 - lambda of V(s). A rollout ending mid-option bootstraps with Q(s_T, g).
    """
    returns = torch.zeros_like(rewards)
    next_value = torch.where(decided[-1], fresh_values[-1], held_values[-1])
    for step in range(rewards.shape[0] - 1, -1, -1):
        target = rewards[step] + gamma * (~dones[step]).to(rewards.dtype) * next_value
        returns[step] = target
        next_value = torch.where(decided[step], lam * target + (1.0 - lam) * fresh_values[step], target)
    return returns


# -- the deployable policy ------------------------------------------------------------------------------
class HierarchicalPolicy:
    """Keeps each user's goal and re-plans on schedule, then ranks candidates with the low level.

    ``act`` re-plans due users, picks the slate and ages the goals by a step; ``update`` feeds
    the shown items and the response into the topic memory (call it after every step, as
    ``evaluate_policy`` does: without it novelty goals see every topic as new).
    Per-user state is created for the first batch seen and travels in ``state_dict``.
    """

    def __init__(
        self,
        network: GoalConditionedActorCritic,
        make_controller: Callable[[int, torch.device], GoalController],
        slate_size: int,
        seed: int = 0,
    ) -> None:
        self.network = network
        self.make_controller = make_controller
        self.slate_size = slate_size
        self.seed = seed
        self.controller: GoalController | None = None
        self.generators = DeviceGenerators(seed)

    def _controller_for(self, observation: dict[str, torch.Tensor]) -> GoalController:
        ids = observation["candidate_ids"]
        if self.controller is None or self.controller.num_users != ids.shape[0]:
            self.controller = self.make_controller(ids.shape[0], ids.device)
        return self.controller

    @property
    def goal(self) -> torch.Tensor | None:
        """Each user's current goal [B] (None before the first ``act``)."""
        return None if self.controller is None else self.controller.goal

    @torch.no_grad()
    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        controller = self._controller_for(observation)
        generator = self.generators.on(observation["candidate_ids"].device)
        controller.plan(observation, generator, explore)
        logits = self.network(observation, controller.context(observation))[0]
        controller.advance()
        return sample_slate(logits, self.slate_size, generator) if explore else greedy_slate(logits, self.slate_size)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Remember what was shown and clicked (the networks stay as trained)."""
        self._controller_for(observation).record(observation["candidate_ids"].gather(1, slate), response)

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": None if self.controller is None else self.controller.state_dict(),
            "generators": self.generators.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generators.load_state_dict(state["generators"])
        if state["controller"] is not None:
            goal = state["controller"]["goal"]
            self.controller = self.make_controller(goal.shape[0], goal.device)
            self.controller.load_state_dict(state["controller"])


# -- the trainer ----------------------------------------------------------------------------------------
@register_policy("hierarchical", kind="rl", description="goal planner over a goal-conditioned PPO")
class HierarchicalTrainer(ActorCriticTrainer):
    """Goal-conditioned PPO low level plus a semi-MDP PPO (or frozen LLM) high level over goals.

    Example: ``make_trainer("hierarchical", env_id="recgym/FatigueNovelty-v0", goal_kind="novelty")``,
    then ``train()`` and ``policy()`` as for PPO.
    ``backend`` gives the LLM planner a backend directly (an OpenAI-compatible server, say)
    instead of loading ``config.llm_model``.
    """

    algorithm = "hierarchical"
    config_class = HierarchicalConfig
    config: HierarchicalConfig

    def __init__(self, config: HierarchicalConfig, backend: LLMBackend | None = None) -> None:
        self._backend = backend
        super().__init__(config)

    # -- building -----------------------------------------------------------------------------------------
    def build(self) -> None:
        config = self.config
        catalog = getattr(self.env.simulator, "catalog", None)
        if catalog is None or getattr(catalog, "topic", None) is None:
            raise ConfigError(f"{config.env_id} has no catalog with item topics; hierarchical goals need them.")
        has_sessions = "session" in self.env.single_observation_space.spaces
        if config.period == 0 and not has_sessions:
            raise ConfigError(
                f"HierarchicalConfig.period=0 re-plans only at session starts, but {config.env_id} has no sessions; "
                "set period > 0."
            )
        self.item_topics = catalog.topic.to(self.device)
        self.goal_space = GoalSpace(config.goal_kind, catalog.num_topics)
        self.schedule = GoalSchedule(config.period, config.replan_on_session and has_sessions)
        super().build()
        feature_size = GoalController.feature_size(self.network.encoder.user_input_size, catalog.num_topics)
        self.planner: GoalPolicyNetwork | LLMGoalPlanner
        if config.planner == "learned":
            num_goals = self.goal_space.num_goals
            self.planner = GoalPolicyNetwork(feature_size, config.hidden_size, num_goals).to(self.device)
            self.high_optimizer = torch.optim.Adam(self.planner.parameters(), lr=config.high_learning_rate, eps=1e-5)
            self.high_reward_scaler = ReturnScaler(config.num_users, 1, config.high_gamma).to(self.device)
            self.goal_rollout = GoalRollout(config.rollout_steps, config.num_users, feature_size, self.device)
        else:
            self.planner = LLMGoalPlanner(self._llm_backend(), self.goal_space.descriptions())
        self.controller = self.make_controller(config.num_users, self.device)
        self.decision: Decision | None = None
        self._decisions = torch.zeros((), device=self.device)
        self._intrinsic = torch.zeros(config.num_users, device=self.device)

    def _llm_backend(self) -> LLMBackend:
        if self._backend is not None:
            return self._backend
        if not self.config.llm_model:
            raise ConfigError(
                "HierarchicalConfig.planner='llm' needs llm_model (a local transformers model directory) "
                "or a backend passed to HierarchicalTrainer(config, backend=...)."
            )
        from recgym.llm.backends.transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(self.config.llm_model, self.device, self.config.llm_batch_size)

    def make_controller(self, num_users: int, device: torch.device) -> GoalController:
        """Fresh per-user goal state for ``num_users`` users (the trainer's, or a deployed policy's)."""
        config = self.config
        memory = TopicMemory(num_users, self.goal_space.num_topics, config.memory_rate, config.exposure_decay, device)
        topics = self.item_topics.to(device)
        return GoalController(
            self.goal_space, self.schedule, topics, self.network.encoder.user_inputs, self.planner, memory
        )

    def build_network(self) -> nn.Module:
        return GoalConditionedActorCritic(
            self.env.single_observation_space,
            self.config.hidden_size,
            self.num_reward_channels(),
            self.goal_space.num_goals,
            self.config.goal_boost,
            self.config.history_summary,
        )

    @property
    def learns_goals(self) -> bool:
        return self.config.planner == "learned"

    # -- low-level hooks --------------------------------------------------------------------------------
    def num_reward_channels(self) -> int:
        return 2  # the env's reward, and clicks on goal-matching items

    def context_size(self) -> int:
        return self.goal_space.num_goals + self.env.num_candidates

    def current_context(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.controller.context(observation)

    def reward_vector(self, transition: Transition) -> torch.Tensor:
        return torch.stack([transition.reward, self._intrinsic], dim=1)

    def policy_advantage(self, advantages: torch.Tensor) -> torch.Tensor:
        return advantages[:, 0] + self.config.intrinsic_weight * advantages[:, 1]

    def env_step(self, slate: torch.Tensor) -> Transition:
        """Step, then pay the intrinsic reward and fold the step into the users' topic memory."""
        observation = self.observation
        shown_match = self.controller.candidate_match(observation).gather(1, slate)
        shown_items = observation["candidate_ids"].gather(1, slate)
        transition = super().env_step(slate)
        self._intrinsic = (transition.response.clicked.to(shown_match.dtype) * shown_match).sum(dim=1)
        self.controller.record(shown_items, transition.response)
        self.controller.advance()
        return transition

    def after_step(self, transition: Transition) -> None:
        """Close the high level's step, then re-plan the users that are due for the next one."""
        assert self.decision is not None
        if self.learns_goals:
            reward = transition.reward.unsqueeze(1)
            if self.config.scale_rewards:
                reward = self.high_reward_scaler(reward, transition.done)
            self.goal_rollout.add_outcome(reward[:, 0], transition.done)
        self.decision = self.controller.plan(transition.observation, self.generator, explore=True)
        if self.learns_goals:
            self.goal_rollout.add_state(self.decision, self.controller.goal)
        self._decisions += self.decision.due.sum()

    # -- the loop ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> torch.Tensor:
        if self.decision is None:
            self.decision = self.controller.plan(self.observation, self.generator, explore=True)
        self._decisions = torch.zeros((), device=self.device)
        if self.learns_goals:
            self.goal_rollout.reset()
            self.goal_rollout.add_state(self.decision, self.controller.goal)
        return super().collect()

    def train_iteration(self) -> dict[str, float]:
        metrics = super().train_iteration()
        user_steps = self.config.num_users * self.config.rollout_steps
        metrics["decisions_per_user_step"] = float(self._decisions) / user_steps
        if self.goal_space.kind == "novelty":
            metrics["explore_share"] = float((self.controller.goal == 1).float().mean())
        if self.learns_goals:
            metrics.update(self.update_goal_policy())
        return metrics

    def update_goal_policy(self) -> dict[str, float]:
        """PPO on the high level over the rollout's options; returns 'high_*' metrics."""
        config, rollout, network = self.config, self.goal_rollout, self.planner
        assert isinstance(network, GoalPolicyNetwork)
        with torch.no_grad():
            logits, option_values = network(rollout.features)
            fresh = (torch.softmax(logits, dim=-1) * option_values).sum(dim=-1)
            held = option_values.gather(-1, rollout.goals.unsqueeze(-1)).squeeze(-1)
        returns = option_returns(
            rollout.rewards, rollout.dones, rollout.decided, fresh, held, config.high_gamma, config.high_gae_lambda
        )
        decided = rollout.decided[:-1]
        advantages = returns - fresh[:-1]
        if config.normalize_advantages and int(decided.sum()) > 1:
            chosen = advantages[decided]
            advantages = (advantages - chosen.mean()) / (chosen.std() + 1e-8)
        samples = {
            "features": rollout.features[:-1].flatten(0, 1),
            "goal": rollout.goals[:-1].flatten(),
            "decided": decided.flatten().to(torch.float32),
            "log_prob": rollout.log_probs[:-1].flatten(),
            "advantage": advantages.flatten(),
            "return": returns.flatten(),
        }
        totals: dict[str, float] = {}
        updates = 0
        for _ in range(config.high_epochs):
            for rows in minibatches(samples["goal"].shape[0], config.num_minibatches, self.generator, self.device):
                stats = self._goal_gradient_step({key: value.index_select(0, rows) for key, value in samples.items()})
                for name, value in stats.items():
                    totals[name] = totals.get(name, 0.0) + value
                updates += 1
        network.norm.update(rollout.features.flatten(0, 1))
        metrics = {f"high_{name}": value / updates for name, value in totals.items()}
        metrics["high_decisions"] = float(decided.sum())
        return metrics

    def _goal_gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        config, network = self.config, self.planner
        assert isinstance(network, GoalPolicyNetwork)
        logits, option_values = network(batch["features"])
        log_softmax = torch.log_softmax(logits, dim=1)
        goal = batch["goal"].unsqueeze(1)
        log_prob = log_softmax.gather(1, goal).squeeze(1)
        entropy = -(log_softmax.exp() * log_softmax).sum(dim=1)
        mask = batch["decided"]
        count = mask.sum().clamp_min(1.0)
        ratio = (log_prob - batch["log_prob"]).exp()
        clipped = ratio.clamp(1.0 - config.clip_range, 1.0 + config.clip_range)
        surrogate = torch.minimum(ratio * batch["advantage"], clipped * batch["advantage"])
        policy_loss = -(surrogate * mask).sum() / count
        entropy_mean = (entropy * mask).sum() / count
        value_loss = 0.5 * (option_values.gather(1, goal).squeeze(1) - batch["return"]).square().mean()
        loss = policy_loss + config.value_coef * value_loss - config.high_entropy_coef * entropy_mean
        self.high_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
        self.high_optimizer.step()
        stats = {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy_mean}
        return {name: float(value.detach()) for name, value in stats.items()}

    # -- deployment and checkpoints ----------------------------------------------------------------------
    def policy(self) -> HierarchicalPolicy:
        return HierarchicalPolicy(self.network, self.make_controller, self.slate_size, seed=self.config.seed)

    def components(self) -> dict[str, Any]:
        components = super().components()
        if self.learns_goals:
            components |= {
                "goal_policy": self.planner,
                "goal_optimizer": self.high_optimizer,
                "goal_reward_scaler": self.high_reward_scaler,
            }
        return components

    def extra_state(self) -> dict[str, Any]:
        decision = None if self.decision is None else dataclasses.asdict(self.decision)
        return {"controller": self.controller.state_dict(), "decision": decision}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        decision = state["decision"]
        if decision is not None:
            moved = {key: None if value is None else value.to(self.device) for key, value in decision.items()}
            self.decision = Decision(**moved)
