"""The one way to build recgym's native vector env by id: CLI, sweeps, trainers, benchmarks and tests.

``build_vector_env(env_id, num_users, device, env_kwargs)`` checks that ``env_id`` is a
registered recgym env whose actions are slates, then builds it through gymnasium's
``make_vec`` (so its registered defaults apply). The simulator inside is memoised per
(factory, arguments) within the process (``recgym.envs.factory.simulator_for``), so building
a scenario's training, evaluation and off-policy envs makes its simulator once.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from recgym.envs.registration import registered_ids
from recgym.envs.spaces import SlateSpace
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError

RECGYM_VECTOR_ENTRY_POINT = "recgym.envs.factory:make_vector_env"


def build_vector_env(
    env_id: str,
    num_users: int,
    device: torch.device | str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
) -> RecVectorEnv:
    """The native vector env of ``env_id`` with ``num_users`` users on ``device``; ConfigError otherwise."""
    import recgym  # noqa: F401  (registers the built-in env ids)

    if env_id not in gym.registry:
        raise ConfigError(f"Unknown env id {env_id!r}; registered recgym envs: {registered_ids()}.")
    if gym.spec(env_id).vector_entry_point != RECGYM_VECTOR_ENTRY_POINT:
        raise ConfigError(
            f"{env_id} is not a recgym env; recgym needs a RecVectorEnv whose actions are slates. "
            f"Use one of {registered_ids()} or register your simulator with recgym.register."
        )
    env = gym.make_vec(
        env_id,
        num_envs=num_users,
        vectorization_mode="vector_entry_point",
        device=torch.device(device),
        **(env_kwargs or {}),
    ).unwrapped
    if not isinstance(env, RecVectorEnv) or not isinstance(env.single_action_space, SlateSpace):
        raise ConfigError(
            f"{env_id} has action space {getattr(env, 'single_action_space', None)}; recgym needs a "
            "RecVectorEnv whose actions are slates (SlateSpace). Use a recgym/... env id."
        )
    return env
