"""SB3VecEnv: a RecVectorEnv as a Stable-Baselines3 ``VecEnv``, so SB3 trains on many users at once.

``PPO("MultiInputPolicy", SB3VecEnv(env))`` works as is; with ``flatten=True`` the
observation is one vector for ``MlpPolicy``. Item ids are dropped (categorical ids as
floats only mislead a network) and, because SB3 samples MultiDiscrete dimensions
independently, repeated slate positions are repaired to the lowest unused candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from recgym.core.slate import repair_duplicates
from recgym.envs.vector_env import RecVectorEnv
from recgym.wrappers.flatten import flat_keys, flat_space, flatten_observation
from recgym.wrappers.numpy_vector import to_numpy


class SB3VecEnv(VecEnv):
    """Numpy, list-of-dict infos and ``terminal_observation``, as SB3 expects.

    Args:
        env: the batched env (any device; data crosses to numpy here, SB3's boundary).
        flatten: one flat Box observation instead of a Dict.
        keys: observation entries to keep; default: all but ``candidate_ids``.
        repair_duplicates: fix repeated slate positions instead of raising InvalidSlateError.
    """

    def __init__(
        self,
        env: RecVectorEnv,
        flatten: bool = False,
        keys: Sequence[str] | None = None,
        repair_duplicates: bool = True,
    ) -> None:
        self.env = env
        self.flatten = flatten
        self.keys = flat_keys(env.single_observation_space, keys)
        self.repair = repair_duplicates
        if flatten:
            observation_space: spaces.Space = flat_space(env.single_observation_space, self.keys)
        else:
            observation_space = spaces.Dict({key: env.single_observation_space[key] for key in self.keys})
        action_space = spaces.MultiDiscrete(env.single_action_space.nvec)
        super().__init__(env.num_envs, observation_space, action_space)
        self._actions: np.ndarray | None = None
        self._episode_return = np.zeros(env.num_envs, dtype=np.float64)
        self._episode_length = np.zeros(env.num_envs, dtype=np.int64)

    def convert_observation(self, observation: dict[str, torch.Tensor]) -> Any:
        """A torch observation dict as this adapter presents it to SB3 (numpy, kept keys, maybe flat)."""
        if self.flatten:
            return to_numpy(flatten_observation(observation, self.keys, batched=True))
        return {key: to_numpy(observation[key]) for key in self.keys}

    def reset(self) -> Any:
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        observation, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        return self.convert_observation(observation)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> Any:
        slate = torch.as_tensor(np.asarray(self._actions), dtype=torch.int64, device=self.env.device)
        if self.repair:
            slate = repair_duplicates(slate, self.env.num_candidates)
        observation, reward, terminated, truncated, info = self.env.step(slate)
        rewards = to_numpy(reward).astype(np.float32)
        done = to_numpy(terminated | truncated)
        self._episode_return += rewards
        self._episode_length += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            final = self.convert_observation(info["final_obs"])
            was_truncated = to_numpy(truncated & ~terminated)  # SB3 bootstraps only true time limits
            for user in np.flatnonzero(done):  # only finished users: SB3 wants per-env dicts
                terminal = final[user] if self.flatten else {key: value[user] for key, value in final.items()}
                infos[user] = {
                    "terminal_observation": terminal,
                    "TimeLimit.truncated": bool(was_truncated[user]),
                    "episode": {"r": float(self._episode_return[user]), "l": int(self._episode_length[user])},
                }
            self._episode_return[done] = 0.0
            self._episode_length[done] = 0
        return self.convert_observation(observation), rewards, done, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.env, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list[Any]:
        result = getattr(self.env, method_name)(*args, **kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


__all__ = ["SB3VecEnv"]
