"""Rewards: one number per user per step [B], computed from a ``Response``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch

from recgym.core.response import Response
from recgym.errors import ConfigError

_BEHAVIOURS = ("clicked", "watch_time", "liked", "shared", "followed", "skipped")


class Reward(Protocol):
    """Maps a step's response to a reward per user, float [B]."""

    def __call__(self, response: Response) -> torch.Tensor: ...


class WatchTimeReward:
    """Minutes watched this step: RecSim's clicked_watchtime_reward."""

    def __call__(self, response: Response) -> torch.Tensor:
        return response.watch_time.sum(dim=1)


class ClickReward:
    """Number of clicks this step."""

    def __call__(self, response: Response) -> torch.Tensor:
        return response.clicked.sum(dim=1).to(torch.float32)


class WeightedReward:
    """A weighted sum of behaviours, e.g. ``{"watch_time": 1.0, "liked": 2.0, "skipped": -0.5}``."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        unknown = sorted(set(weights) - set(_BEHAVIOURS))
        if unknown or not weights:
            raise ConfigError(
                f"WeightedReward keys must be among {_BEHAVIOURS}; got unknown {unknown or 'none given'}."
            )
        self.weights = dict(weights)

    def __call__(self, response: Response) -> torch.Tensor:
        total = torch.zeros(response.choice.shape[0], device=response.choice.device)
        for name, weight in self.weights.items():
            total = total + weight * getattr(response, name).to(torch.float32).sum(dim=1)
        return total


def make_reward(reward: str | Reward) -> Reward:
    """A reward from its name ('watch_time' or 'clicks') or a reward object."""
    if not isinstance(reward, str):
        return reward
    named = {"watch_time": WatchTimeReward, "clicks": ClickReward}
    if reward not in named:
        raise ConfigError(f"Unknown reward {reward!r}; use one of {sorted(named)} or pass a Reward object.")
    return named[reward]()
