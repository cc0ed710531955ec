"""The hierarchical trainer's settings: goal kind, planner, schedule and the two levels' knobs."""

from __future__ import annotations

import dataclasses
import math

from policies.rl.actor_critic import ActorCriticConfig
from recgym.errors import ConfigError

GOAL_KINDS = ("topic", "novelty")
PLANNERS = ("learned", "llm")


@dataclasses.dataclass
class HierarchicalConfig(ActorCriticConfig):
    """PPO low level plus a high level over goals; see the package docstring for the method."""

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
