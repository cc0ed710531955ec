"""NumpyVector: a RecVectorEnv that takes and returns numpy arrays, for numpy-based libraries."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorWrapper

from recgym.core.state import TensorState


def to_numpy(value: Any) -> Any:
    """Tensors, tensor dicts and tensor dataclasses as numpy; other values unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {name: to_numpy(item) for name, item in value.items()}
    if isinstance(value, TensorState):
        return {name: to_numpy(item) for name, item in vars(value).items()}
    return value


class NumpyVector(VectorWrapper):
    """Numpy in and out around a torch ``RecVectorEnv``; ``info['response']`` becomes a dict of arrays.

    Gymnasium's vector wrappers compute in numpy (``episode_returns += rewards`` fails on a torch
    tensor), so they go on top of this one: ``RecordEpisodeStatistics(NumpyVector(envs))``, likewise
    ``NormalizeReward`` and ``ClipReward``. Each step then copies its outputs to the host; to stay in
    torch, use ``EpisodeEngagementVector`` instead.
    """

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        return to_numpy(observation), to_numpy(info)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(np.asarray(actions))
        return to_numpy(observation), to_numpy(reward), to_numpy(terminated), to_numpy(truncated), to_numpy(info)
