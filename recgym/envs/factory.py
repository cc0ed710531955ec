"""Entry points that gymnasium calls: build a simulator by name, then the env around it.

Keyword arguments are split: those of ``RecVectorEnv`` go to the env, the rest to the
simulator's factory, which names any it does not know. ``param_distribution`` (a
``ParamDistribution`` spec) turns any env into a Sim2Rec family: each user's episode draws
its own hidden parameters.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from recgym.core.simulator import UserSimulator
from recgym.envs.single_env import RecEnv
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError

_ENV_ARGUMENTS = frozenset(inspect.signature(RecVectorEnv.__init__).parameters) - {"self", "simulator", "num_envs"}


def load_simulator_factory(path: str) -> Any:
    """The callable at ``"package.module:function"``."""
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise ConfigError(f"Simulator entry point must look like 'package.module:function'; got {path!r}.")
    return getattr(importlib.import_module(module_name), attribute)


def _split(simulator: str, kwargs: dict[str, Any]) -> tuple[UserSimulator, dict[str, Any]]:
    env_kwargs = {name: value for name, value in kwargs.items() if name in _ENV_ARGUMENTS}
    simulator_kwargs = {name: value for name, value in kwargs.items() if name not in _ENV_ARGUMENTS}
    distribution = simulator_kwargs.pop("param_distribution", None)
    user_model = load_simulator_factory(simulator)(**simulator_kwargs)
    if distribution is not None:
        from simulators.family import FamilyUser

        user_model = FamilyUser(user_model, distribution)
    return user_model, env_kwargs


def make_env(simulator: str, **kwargs: Any) -> RecEnv:
    """One-user env; ``simulator`` is the factory's entry point, e.g. 'simulators.interest_evolution:make_simulator'."""
    user_model, env_kwargs = _split(simulator, kwargs)
    return RecEnv(user_model, **env_kwargs)


def make_vector_env(simulator: str, num_envs: int = 1, **kwargs: Any) -> RecVectorEnv:
    """Batched env of ``num_envs`` users (gymnasium's ``vector_entry_point``)."""
    user_model, env_kwargs = _split(simulator, kwargs)
    return RecVectorEnv(user_model, num_envs=num_envs, **env_kwargs)
