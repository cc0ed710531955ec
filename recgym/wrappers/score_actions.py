"""Score actions: act with one score per candidate; the top-K scores become the slate.

For continuous-action learners (PPO/SAC with a Box head): every action is a valid slate,
so there are no duplicate positions to repair and K can change without changing the net.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorActionWrapper
from gymnasium.vector.utils import batch_space

from recgym.core.slate import top_k_slate


def score_space(num_candidates: int, bound: float) -> spaces.Box:
    """Candidate scores in [-bound, bound], as continuous policies expect bounded actions."""
    return spaces.Box(low=-bound, high=bound, shape=(num_candidates,), dtype=np.float32)


class ScoreToSlate(gym.ActionWrapper):
    """Single env: action is a Box of C scores; the env sees the K highest, best first."""

    def __init__(self, env: gym.Env, bound: float = 1.0) -> None:
        super().__init__(env)
        self.slate_size = int(env.action_space.shape[0])
        self.action_space = score_space(int(env.action_space.nvec[0]), bound)

    def action(self, action: Any) -> np.ndarray:
        scores = np.asarray(action, dtype=np.float32)
        return np.argsort(-scores, kind="stable")[: self.slate_size]


class ScoreToSlateVector(VectorActionWrapper):
    """Vector env: actions are scores [B, C] (torch or numpy); top-K per user becomes the slate."""

    def __init__(self, env: gym.vector.VectorEnv, bound: float = 1.0) -> None:
        super().__init__(env)
        self.slate_size = int(env.single_action_space.shape[0])
        self.single_action_space = score_space(int(env.single_action_space.nvec[0]), bound)
        self.action_space = batch_space(self.single_action_space, env.num_envs)

    def actions(self, actions: Any) -> torch.Tensor:
        scores = torch.as_tensor(np.asarray(actions)) if not isinstance(actions, torch.Tensor) else actions
        return top_k_slate(scores, self.slate_size)
