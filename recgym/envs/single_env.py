"""RecEnv: one simulated user behind the standard gymnasium ``Env`` API, numpy in and out.

It is a ``RecVectorEnv`` of one user, so the single and batched envs share one code path
and a parity test can compare them exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from recgym.core.response import Response
from recgym.core.simulator import UserSimulator
from recgym.envs.vector_env import RecVectorEnv


def _first_user(observation: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: value[0].cpu().numpy() for name, value in observation.items()}


def _simulator_extras(info: dict[str, Any]) -> dict[str, Any]:
    """The simulator's own info entries (see RecVectorEnv.step) for the one user: tensors as numpy rows."""
    extras = {}
    for name, value in info.items():
        if name in ("response", "final_obs", "_final_obs"):
            continue
        extras[name] = value[0].cpu().numpy() if isinstance(value, torch.Tensor) else value
    return extras


def response_to_numpy(response: Response, row: int | slice = slice(None)) -> dict[str, np.ndarray]:
    """A response's fields as numpy arrays, for one user (int row) or all."""
    return {name: value[row].cpu().numpy() for name, value in vars(response).items()}


class RecEnv(gym.Env[dict[str, np.ndarray], np.ndarray]):
    """A single user of ``simulator``; keyword arguments are those of ``RecVectorEnv``.

    ``info["response"]`` holds the step's behaviours as numpy arrays. When created by
    ``gym.make``, gymnasium's TimeLimit enforces ``max_episode_steps``; ``reset()`` after a
    truncation starts the next episode exactly as the vector env's autoreset would.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, simulator: UserSimulator, **env_kwargs: Any) -> None:
        self.vector_env = RecVectorEnv(simulator, num_envs=1, **env_kwargs)
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space
        self._episode_is_fresh = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self.vector_env.state is None:
            observation, _ = self.vector_env.reset(seed=seed)
        else:
            if not self._episode_is_fresh:
                self.vector_env.reset_users(torch.ones(1, dtype=torch.bool, device=self.vector_env.device))
            observation = self.vector_env.observe(self.vector_env.state)
        self._episode_is_fresh = True
        return _first_user(observation), {}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        slate = np.asarray(action)[None, ...] if isinstance(action, np.ndarray | list | tuple) else action[None, ...]
        observation, reward, terminated, truncated, info = self.vector_env.step(slate)
        done = bool(terminated[0] or truncated[0])
        self._episode_is_fresh = done
        if done:
            observation = info["final_obs"]
        return (
            _first_user(observation),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {"response": response_to_numpy(info["response"], 0), **_simulator_extras(info)},
        )

    def expected_reward(self) -> np.ndarray:
        """Oracle: true expected reward of each current candidate, [C]."""
        return self.vector_env.expected_reward()[0].cpu().numpy()
