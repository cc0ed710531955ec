"""Epsilon-greedy on a ridge model: the baseline every exploring bandit must beat.

Each user, independently with probability epsilon, gets a uniformly random slate; otherwise
the top K by the model's mean. Exploration is blind (it pays the same price on candidates
already known to be bad), which is why its regret grows linearly while LinUCB's does not.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.bandits.base import LinearBandit
from recgym.core.registry import register_policy
from recgym.errors import ConfigError


@register_policy(
    "epsilon_greedy", kind="online", description="linear click model, random slate with probability epsilon"
)
class EpsilonGreedy(LinearBandit):
    """Random slate with probability ``epsilon`` per user and step, else greedy on the ridge mean."""

    def __init__(self, slate_size: int, epsilon: float = 0.1, **kwargs: Any) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"epsilon must lie in [0, 1]; got {epsilon}.")
        super().__init__(slate_size, **kwargs)
        self.epsilon = epsilon

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        mean = self.mean_scores(observation)
        if not explore or self.epsilon == 0.0:
            return self.slate_from_scores(mean)
        explores = self._noise(mean[:, :1]) < self.epsilon
        # Scaled far above any tie-break, uniform noise ranks the candidates in a uniformly random order.
        random_scores = self._noise(mean) / self.tie_break_scale
        return self.slate_from_scores(torch.where(explores, random_scores, mean))
