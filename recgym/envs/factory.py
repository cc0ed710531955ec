"""Entry points that gymnasium calls: build a simulator by name, then the env around it.

Keyword arguments are split: those of ``RecVectorEnv`` (and ``RecEnv``) go to the env, the
rest to the simulator's factory. All of them are checked first, once for every simulator
(``recgym.envs.arguments``): an unknown name or a value of the wrong type is a ConfigError
naming it, before any catalog is generated. ``param_distribution`` (a ``ParamDistribution``
spec) turns any env into a Sim2Rec family: each user's episode draws its own hidden parameters.
"""

from __future__ import annotations

import importlib
import inspect
import json
import numbers
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from recgym.core.simulator import UserSimulator
from recgym.envs.arguments import (
    ArgumentGroup,
    check_arguments,
    params_group,
    params_type_of,
    signature_group,
    takes_var_keywords,
)
from recgym.envs.single_env import RecEnv
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError

_VECTOR_ENV_GROUP = signature_group("env", RecVectorEnv.__init__, skip=frozenset({"simulator", "num_envs"}))
_SINGLE_ENV_GROUP = ArgumentGroup(
    "env",
    {**_VECTOR_ENV_GROUP.hints, **signature_group("env", RecEnv.__init__, skip=frozenset({"simulator"})).hints},
    {**_VECTOR_ENV_GROUP.defaults, **signature_group("env", RecEnv.__init__).defaults},
)
_FAMILY_GROUP = ArgumentGroup("family", {"param_distribution": Any}, {})
ENV_ARGUMENTS = frozenset(_SINGLE_ENV_GROUP.hints)
"""Every keyword argument that configures the env rather than its simulator (read off the env classes)."""

_FORWARDS_TO_BASE: dict[str, str] = {"simulators.family:make_family_simulator": "base"}
"""Factories that pass their other kwargs on to ``simulators.<base>:make_simulator``, and the argument naming it."""


def load_simulator_factory(path: str) -> Any:
    """The callable at ``"package.module:function"``."""
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise ConfigError(f"Simulator entry point must look like 'package.module:function'; got {path!r}.")
    return getattr(importlib.import_module(module_name), attribute)


def _env_name(simulator: str) -> str:
    """The registered id(s) built from ``simulator``, for messages; the entry point if none."""
    ids = [env_id for env_id, spec in gym.registry.items() if (spec.kwargs or {}).get("simulator") == simulator]
    return " / ".join(sorted(ids)) or simulator


def _forwarded_factory(simulator: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """The base factory that receives ``factory``'s extra kwargs, or None."""
    argument = _FORWARDS_TO_BASE.get(simulator)
    if argument is None:
        return None
    base = kwargs.get(argument, inspect.signature(factory).parameters[argument].default)
    if not isinstance(base, str):
        return None  # the type check names it
    try:
        return load_simulator_factory(f"simulators.{base}:make_simulator")
    except (ImportError, AttributeError):
        return None  # the factory itself names an unknown base


def _factory_groups(
    simulator: str, factory: Callable[..., Any], kwargs: Mapping[str, Any]
) -> tuple[list[ArgumentGroup], bool]:
    """What ``factory`` accepts, and whether it also takes kwargs that cannot be listed."""
    groups = [signature_group("simulator", factory)]
    if not takes_var_keywords(factory):
        return groups, False
    params_type = params_type_of(factory)
    if params_type is not None:
        return [*groups, params_group(params_type)], False
    base = _forwarded_factory(simulator, factory, kwargs)
    if base is not None:
        base_groups, open_ended = _factory_groups("", base, kwargs)
        return [*groups, *base_groups], open_ended
    return groups, True


def check_env_arguments(simulator: str, kwargs: Mapping[str, Any], env_group: ArgumentGroup) -> None:
    """ConfigError for any unknown or wrongly typed keyword argument of ``gym.make``/``gym.make_vec``."""
    factory = load_simulator_factory(simulator)
    groups, open_ended = _factory_groups(simulator, factory, kwargs)
    check_arguments(kwargs, [env_group, *groups, _FAMILY_GROUP], _env_name(simulator), open_ended)


SIMULATOR_MEMO_SIZE = 8
"""Simulators kept per process, most recently used first (a 1M-item catalog is a few hundred MB)."""
_simulators: OrderedDict[str, UserSimulator] = OrderedDict()
_simulators_lock = threading.Lock()


def _memo_key(simulator: str, kwargs: Mapping[str, Any]) -> str | None:
    """What identifies a built simulator: factory, arguments and the RECGYM_* settings factories read.

    None when an argument is not plain data (an object passed in): such simulators are built afresh.
    """
    settings = {name: value for name, value in os.environ.items() if name.startswith("RECGYM_")}
    try:
        return json.dumps([simulator, kwargs, settings], sort_keys=True)
    except TypeError:
        return None


def simulator_for(simulator: str, kwargs: Mapping[str, Any]) -> UserSimulator:
    """The simulator ``simulator(**kwargs)``, built once per process for the same plain arguments.

    Simulators are immutable (state lives in the env; ``to`` returns a copy), so every env of
    a sweep run (online phase, evaluation, off-policy log, training) shares one: a catalog,
    a HYDRA fit or an LLM's calibration is made once, not once per env. Envs that share an
    LLM simulator share its cache counters (``usage()``); ``clear_simulator_memo`` forgets them all.
    """
    key = _memo_key(simulator, kwargs)
    with _simulators_lock:
        if key is not None and key in _simulators:
            _simulators.move_to_end(key)
            return _simulators[key]
    built = load_simulator_factory(simulator)(**kwargs)
    if key is not None:
        with _simulators_lock:
            _simulators[key] = built
            while len(_simulators) > SIMULATOR_MEMO_SIZE:
                _simulators.popitem(last=False)
    return built


def clear_simulator_memo() -> None:
    """Forget every memoised simulator, so the next env builds its own (e.g. to time or test a cold build)."""
    with _simulators_lock:
        _simulators.clear()


def _split(simulator: str, kwargs: dict[str, Any], env_group: ArgumentGroup) -> tuple[UserSimulator, dict[str, Any]]:
    check_env_arguments(simulator, kwargs, env_group)
    env_kwargs = {name: value for name, value in kwargs.items() if name in env_group.hints}
    simulator_kwargs = {name: value for name, value in kwargs.items() if name not in env_group.hints}
    distribution = simulator_kwargs.pop("param_distribution", None)
    user_model = simulator_for(simulator, simulator_kwargs)
    if distribution is not None:
        from simulators.family import FamilyUser

        user_model = FamilyUser(user_model, distribution)
    return user_model, env_kwargs


def make_env(simulator: str, **kwargs: Any) -> RecEnv:
    """One-user env; ``simulator`` is the factory's entry point, e.g. 'simulators.interest_evolution:make_simulator'."""
    user_model, env_kwargs = _split(simulator, kwargs, _SINGLE_ENV_GROUP)
    return RecEnv(user_model, **env_kwargs)


make_env.metadata = RecEnv.metadata  # type: ignore[attr-defined]  # gymnasium reads render modes off the creator


def make_vector_env(simulator: str, num_envs: int = 1, **kwargs: Any) -> RecVectorEnv:
    """Batched env of ``num_envs`` users (gymnasium's ``vector_entry_point``)."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral):
        raise ConfigError(f"num_envs must be a positive int; got {num_envs!r} ({type(num_envs).__name__}).")
    user_model, env_kwargs = _split(simulator, kwargs, _VECTOR_ENV_GROUP)
    return RecVectorEnv(user_model, num_envs=num_envs, **env_kwargs)
