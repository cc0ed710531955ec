"""SlateQ's settings: slate rule, replay, TD target, choice model and exploration."""

from __future__ import annotations

import dataclasses

from policies.rl.config import TrainConfig
from recgym.errors import ConfigError

SLATE_RULES = ("exact", "greedy", "top_k")
"""Slate optimisers, best (and slowest) first."""


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
    """How slates are chosen from Qbar and the choice model: 'exact', 'greedy' or 'top_k' (package docstring)."""
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
