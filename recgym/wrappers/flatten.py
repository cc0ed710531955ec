"""Flat observations: the Dict observation concatenated into one float vector, for MLP policies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorWrapper
from gymnasium.vector.utils import batch_space

from recgym.core.observation import flatten_observation
from recgym.errors import ConfigError

DEFAULT_EXCLUDED = ("candidate_ids",)
"""Item ids are categorical: concatenated as floats they would only mislead an MLP."""


def flat_space(observation_space: spaces.Dict, keys: Sequence[str]) -> spaces.Box:
    """A Box holding ``keys`` of ``observation_space`` flattened and concatenated, in order."""
    missing = [key for key in keys if key not in observation_space.spaces]
    if missing:
        raise ConfigError(f"Observation keys {missing} not in {sorted(observation_space.spaces)}.")
    lows = [np.broadcast_to(observation_space[key].low, observation_space[key].shape).ravel() for key in keys]
    highs = [np.broadcast_to(observation_space[key].high, observation_space[key].shape).ravel() for key in keys]
    return spaces.Box(
        low=np.concatenate(lows).astype(np.float32), high=np.concatenate(highs).astype(np.float32), dtype=np.float32
    )


def flat_keys(observation_space: spaces.Dict, keys: Sequence[str] | None) -> list[str]:
    """The keys to flatten: those given, or every key but the categorical ones."""
    return list(keys) if keys is not None else [key for key in observation_space.spaces if key not in DEFAULT_EXCLUDED]


class FlattenObservation(gym.ObservationWrapper):
    """Single-env flat observation (for SB3 ``MlpPolicy``); ``keys`` picks and orders the entries."""

    def __init__(self, env: gym.Env, keys: Sequence[str] | None = None) -> None:
        super().__init__(env)
        self.keys = flat_keys(env.observation_space, keys)
        self.observation_space = flat_space(env.observation_space, self.keys)

    def observation(self, observation: dict[str, Any]) -> Any:
        return flatten_observation(observation, self.keys, batched=False)


class FlattenVectorObservation(VectorWrapper):
    """Batched flat observation [B, D] for a ``RecVectorEnv`` (torch or numpy), final observations too.

    A plain ``VectorWrapper``: gymnasium's VectorObservationWrapper rejects same-step autoreset.
    """

    def __init__(self, env: gym.vector.VectorEnv, keys: Sequence[str] | None = None) -> None:
        super().__init__(env)
        self.keys = flat_keys(env.single_observation_space, keys)
        self.single_observation_space = flat_space(env.single_observation_space, self.keys)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> Any:
        observation, info = self.env.reset(seed=seed, options=options)
        return flatten_observation(observation, self.keys, batched=True), info

    def step(self, actions: Any) -> Any:
        observation, reward, terminated, truncated, info = self.env.step(actions)
        if "final_obs" in info:
            info = {**info, "final_obs": flatten_observation(info["final_obs"], self.keys, batched=True)}
        return flatten_observation(observation, self.keys, batched=True), reward, terminated, truncated, info
