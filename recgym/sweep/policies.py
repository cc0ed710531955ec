"""Policies a sweep can run, by name (the registry of ``@register_policy``): their parameters and how one is built.

Three kinds, which decide what a run does before scoring:
- ``static``: acts as built (random, myopic greedy, the oracle); the learning curve is flat.
- ``online``: learns from every response (most-popular, bandits) for the scenario's
  ``training.online_steps`` steps per user; that phase is the learning curve.
- ``rl``: trained from scratch by a ``policies.rl`` trainer for ``training.rl_steps``
  user-steps on the scenario's (training) env; the training history is the learning curve.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from policies.registry import registered_policy
from recgym.core.registry import PolicyContext, RegisteredPolicy
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError
from scenarios.schema import Scenario

RL_SWEEP_FIELDS = ("env_id", "env_kwargs", "seed", "device", "checkpoint_every", "out_dir")
"""RL config fields a sweep sets from the scenario, the seed and the store; ``num_users`` and ``total_steps``
default to the scenario's ``training.rl_users`` and ``rl_steps`` but a grid may set them."""


def policy_entry(name: str) -> RegisteredPolicy:
    """The registry entry of ``name``; ConfigError with a did-you-mean and every name otherwise."""
    return registered_policy(name)


def policy_parameters(name: str) -> dict[str, Any]:
    """What a grid (``--grid NAME.PARAM=...``) may set for policy ``name``, with each default.

    Static and online policies: their constructor's keyword arguments (through ``**kwargs``
    to the base classes), less those the sweep fills in (slate size, seed, the env). RL
    policies: their trainer config's fields, less those the sweep sets (``RL_SWEEP_FIELDS``).
    A parameter without a default maps to ``inspect.Parameter.empty``.
    """
    entry = policy_entry(name)
    if entry.kind == "rl":
        config = entry.target.config_class
        return {
            field.name: _field_default(field)
            for field in dataclasses.fields(config)
            if field.name not in RL_SWEEP_FIELDS
        }
    return {key: value for key, value in _constructor_parameters(entry.target).items() if key not in entry.provides}


def check_policy_parameters(name: str, params: Mapping[str, Any], where: str = "--grid") -> None:
    """ConfigError naming an unknown parameter of ``name``, the closest known one and the full list."""
    known = policy_parameters(name)
    entry = policy_entry(name)
    for key in params:
        if key in known:
            continue
        sweep_owned = entry.provides if entry.kind != "rl" else RL_SWEEP_FIELDS
        if key in sweep_owned:
            problem = f"{key} is set by the sweep itself (from the scenario, --seeds or --device), not by a grid."
        else:
            close = difflib.get_close_matches(key, list(known), n=1)
            problem = f"{name} has no parameter {key!r}" + (f"; did you mean {close[0]!r}?" if close else ".")
        listing = ", ".join(_describe_parameter(key, value) for key, value in known.items()) or "none"
        raise ConfigError(f"{where} {name}.{key}: {problem} Parameters of {name}: {listing}.")


def _constructor_parameters(cls: type) -> dict[str, Any]:
    """Keyword arguments of ``cls(...)``, following ``**kwargs`` up the base classes' constructors."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        passes_on = False
        for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                passes_on = True
            elif parameter.name != "self" and parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
                found.setdefault(parameter.name, parameter.default)
        if not passes_on:
            break
    return found


def _field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty


def _describe_parameter(name: str, default: Any) -> str:
    return name if default is inspect.Parameter.empty else f"{name}={default!r}"


def build_policy(name: str, env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    """A static or online policy for ``env``; a parameter the policy does not take is a ConfigError."""
    context = PolicyContext(env, seed, scenario.training.online_steps)
    return policy_entry(name).build(context, params)
