"""RecEnv: one simulated user behind the standard gymnasium ``Env`` API, numpy in and out.

It is a ``RecVectorEnv`` of one user, so the single and batched envs share one code path
and a parity test can compare them exactly.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from recgym.core.response import Response
from recgym.core.simulator import UserSimulator
from recgym.envs.vector_env import RENDER_MODES, RecVectorEnv
from recgym.errors import ConfigError


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

    ``info["response"]`` holds the step's behaviours as numpy arrays and ``info["slate"]`` the
    positions shown. When created by ``gym.make``, gymnasium's TimeLimit enforces
    ``max_episode_steps``; ``reset()`` after a truncation starts the next episode exactly as the
    vector env's autoreset would.

    Libraries that treat the ``MultiDiscrete`` slate as independent positions (Stable-Baselines3:
    ``PPO("MultiInputPolicy", gym.make(env_id))``) sample repeats, so by default a repeated position
    is replaced by the lowest unused candidate (warned once; ``info["slate"]`` shows what was shown).
    ``repair_duplicates=False`` raises InvalidSlateError instead, as the vector env does by default.
    ``render_mode="ansi"``: ``render()`` returns a text view of the user.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        simulator: UserSimulator,
        repair_duplicates: bool = True,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        self.vector_env = RecVectorEnv(
            simulator, num_envs=1, repair_duplicates=repair_duplicates, render_mode=render_mode, **env_kwargs
        )
        self.render_mode = render_mode
        self._warned_about_repair = False
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space
        self._episode_is_fresh = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.vector_env.last_step = None  # render() shows the new episode, not the last slate of the old one
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
        shown = self.vector_env.last_step.slate[0].cpu().numpy()
        if self.vector_env.repair_duplicates and not self._warned_about_repair:
            given = np.asarray(slate[0].cpu() if isinstance(slate, torch.Tensor) else slate[0])
            if not np.array_equal(given, shown):
                self._warned_about_repair = True
                warnings.warn(
                    f"RecEnv repaired a slate with repeated positions: {given.tolist()} was shown as "
                    f"{shown.tolist()} (each repeat becomes the lowest unused candidate; info['slate'] holds the "
                    "slate shown). Libraries such as Stable-Baselines3 sample slate positions independently. "
                    "Make the env with repair_duplicates=False to raise InvalidSlateError instead. "
                    "This warning is shown once per env.",
                    stacklevel=2,
                )
        done = bool(terminated[0] or truncated[0])
        self._episode_is_fresh = done
        if done:
            observation = info["final_obs"]
        return (
            _first_user(observation),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {"response": response_to_numpy(info["response"], 0), "slate": shown, **_simulator_extras(info)},
        )

    def render(self) -> str:
        """The user as text (``render_mode="ansi"``): recent history, the last slate and response."""
        if self.render_mode is None:
            raise ConfigError(
                "render() needs a render mode: make the env with render_mode='ansi', e.g. "
                "gym.make(env_id, render_mode='ansi')."
            )
        title = self.spec.id if self.spec is not None else None
        return self.vector_env.render_text([0], title)[0]

    def expected_reward(self) -> np.ndarray:
        """Oracle: true expected reward of each current candidate, [C]."""
        return self.vector_env.expected_reward()[0].cpu().numpy()
