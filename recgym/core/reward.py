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


class ReturnGapReward:
    """Retention as a reward: minus the days until the user's next session, paid when a session ends.

    Steps inside a session pay 0, so the return is minus the total time away: a policy
    maximises it by bringing users back sooner (KuaiSim's retention objective).
    """

    def __call__(self, response: Response) -> torch.Tensor:
        return -response.return_gap


class ReturnVisitReward:
    """One point for each session that ends with the user coming back within the episode.

    A session after which the user churns (does not return before the episode's horizon)
    earns nothing, so the episode's return counts the user's return visits.
    """

    def __call__(self, response: Response) -> torch.Tensor:
        return response.returned.to(torch.float32)


_NAMED_REWARDS: dict[str, type] = {
    "watch_time": WatchTimeReward,
    "clicks": ClickReward,
    "return_gap": ReturnGapReward,
    "return_visits": ReturnVisitReward,
}


def make_reward(reward: str | Mapping[str, float] | Reward) -> Reward:
    """A reward from its name (see ``_NAMED_REWARDS``), a behaviour-weight mapping, or a reward object."""
    if isinstance(reward, Mapping):
        return WeightedReward(reward)
    if not isinstance(reward, str):
        return reward
    if reward not in _NAMED_REWARDS:
        raise ConfigError(
            f"Unknown reward {reward!r}; use one of {sorted(_NAMED_REWARDS)}, a mapping of behaviour weights "
            f"(keys among {_BEHAVIOURS}), or pass a Reward object."
        )
    return _NAMED_REWARDS[reward]()
