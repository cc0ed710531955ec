"""Episode engagement statistics in ``info``: return, length, clicks and watch time per episode.

When a user's episode ends, ``info["episode"]`` holds its totals and ``info["_episode"]``
flags which users finished (gymnasium's RecordEpisodeStatistics convention, extended
with the engagement measures recommenders care about).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorWrapper

ENGAGEMENT_KEYS = ("return", "length", "clicks", "watch_time")


class EpisodeEngagementVector(VectorWrapper):
    """Adds per-episode totals to a torch ``RecVectorEnv``'s infos; ``completed`` keeps every finished one."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self._totals: dict[str, torch.Tensor] = {}

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> Any:
        observation, info = self.env.reset(seed=seed, options=options)
        device = self.env.unwrapped.device
        self._totals = {key: torch.zeros(self.num_envs, device=device) for key in ENGAGEMENT_KEYS}
        return observation, info

    def step(self, actions: Any) -> Any:
        observation, reward, terminated, truncated, info = self.env.step(actions)
        response = info["response"]
        self._totals["return"] += reward
        self._totals["length"] += 1.0
        self._totals["clicks"] += response.clicked.sum(dim=1).to(torch.float32)
        self._totals["watch_time"] += response.watch_time.sum(dim=1)
        done = terminated | truncated
        if bool(done.any()):
            info = {**info, "episode": {key: value.clone() for key, value in self._totals.items()}, "_episode": done}
            for value in self._totals.values():
                value.masked_fill_(done, 0.0)
        return observation, reward, terminated, truncated, info


class EpisodeEngagement(gym.Wrapper):
    """Single-env version: ``info["episode"]`` holds floats when the episode ends."""

    def reset(self, **kwargs: Any) -> Any:
        self._totals = dict.fromkeys(ENGAGEMENT_KEYS, 0.0)
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        observation, reward, terminated, truncated, info = self.env.step(action)
        response = info["response"]
        self._totals["return"] += float(reward)
        self._totals["length"] += 1.0
        self._totals["clicks"] += float(np.sum(response["clicked"]))
        self._totals["watch_time"] += float(np.sum(response["watch_time"]))
        if terminated or truncated:
            info = {**info, "episode": dict(self._totals)}
            self._totals = dict.fromkeys(ENGAGEMENT_KEYS, 0.0)
        return observation, reward, terminated, truncated, info
