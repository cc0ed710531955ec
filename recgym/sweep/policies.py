"""Policies a sweep can run, by name: how each is built for a scenario's env and how it learns.

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
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError
from scenarios.schema import Scenario

PolicyBuilder = Callable[[RecVectorEnv, Scenario, int, dict[str, Any]], Any]


@dataclasses.dataclass(frozen=True)
class PolicyEntry:
    """How to build one named policy and which kind of learner it is."""

    kind: str
    """'static', 'online' or 'rl' (see the module docstring)."""
    description: str
    build: PolicyBuilder | None = None
    """Builds a static or online policy from (env, scenario, seed, params); None for RL (trained by name)."""
    reads_hidden_state: bool = False
    """True for the oracle: it acts on the simulator's hidden state, so off-policy estimation does not apply."""
    target: str = ""
    """'module:Class' that ``build`` constructs (static/online), whose constructor lists the policy's parameters."""
    sweep_sets: tuple[str, ...] = ("slate_size", "seed")
    """Constructor arguments the sweep fills in from the env and the seed; a grid may not set them."""


def _random(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies import RandomPolicy

    return RandomPolicy(env.slate_size, seed=seed, **params)


def _myopic_greedy(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies import MyopicGreedyPolicy

    return MyopicGreedyPolicy(env.slate_size, seed=seed, **params)


def _oracle_greedy(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies import OracleGreedyPolicy

    return OracleGreedyPolicy(env, seed=seed, **params)


def _most_popular(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies import MostPopularPolicy

    return MostPopularPolicy(env.simulator.catalog.num_items, env.slate_size, seed=seed, **params)


def _epsilon_greedy(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies.bandits import EpsilonGreedy

    return EpsilonGreedy(env.slate_size, seed=seed, **params)


def _ucb1(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies.bandits import UCB1

    return UCB1(env.simulator.catalog.num_items, env.slate_size, seed=seed, **params)


def _linucb(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies.bandits import LinUCB

    return LinUCB(env.slate_size, seed=seed, **params)


def _thompson(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    from policies.bandits import LinearThompson

    return LinearThompson(env.slate_size, seed=seed, **params)


def _hatch(env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    """HATCH with, unless given, a budget of 20% of the online phase's user-steps spread over that phase."""
    from policies.bandits import HATCH

    horizon = max(scenario.training.online_steps, 1)
    settings = {"budget": int(0.2 * horizon * env.num_envs), "horizon": horizon} | params
    return HATCH(env.slate_size, seed=seed, **settings)


_ITEMS = ("num_items", "slate_size", "seed")
POLICIES: dict[str, PolicyEntry] = {
    "random": PolicyEntry("static", "uniformly random slates", _random, target="policies:RandomPolicy"),
    "myopic_greedy": PolicyEntry(
        "static",
        "ranks candidates by the watch-weighted profile of the history",
        _myopic_greedy,
        target="policies:MyopicGreedyPolicy",
    ),
    "oracle_greedy": PolicyEntry(
        "static",
        "top-K by the simulator's true expected reward (reads hidden state)",
        _oracle_greedy,
        True,
        target="policies:OracleGreedyPolicy",
        sweep_sets=("env", "seed"),
    ),
    "most_popular": PolicyEntry(
        "online",
        "ranks by clicks counted online",
        _most_popular,
        target="policies:MostPopularPolicy",
        sweep_sets=_ITEMS,
    ),
    "epsilon_greedy": PolicyEntry(
        "online",
        "linear click model, random slate with probability epsilon",
        _epsilon_greedy,
        target="policies.bandits:EpsilonGreedy",
    ),
    "ucb1": PolicyEntry("online", "UCB1 over item ids", _ucb1, target="policies.bandits:UCB1", sweep_sets=_ITEMS),
    "linucb": PolicyEntry("online", "LinUCB on candidate features", _linucb, target="policies.bandits:LinUCB"),
    "thompson": PolicyEntry("online", "linear Thompson sampling", _thompson, target="policies.bandits:LinearThompson"),
    "hatch": PolicyEntry("online", "budget-constrained LinUCB (HATCH)", _hatch, target="policies.bandits:HATCH"),
    "ppo": PolicyEntry("rl", "PPO with a Plackett-Luce slate head"),
    "a2c": PolicyEntry("rl", "A2C with a Plackett-Luce slate head"),
    "slateq": PolicyEntry("rl", "SlateQ: item Q-values under a learned choice model"),
    "constrained": PolicyEntry("rl", "two-stage constrained actor-critic (watch time with like/share/follow bounds)"),
    "hierarchical": PolicyEntry("rl", "goal planner over a goal-conditioned PPO"),
    "sim2rec": PolicyEntry("rl", "PPO conditioned on an inferred user embedding (Sim2Rec)"),
}

RL_SWEEP_FIELDS = ("env_id", "env_kwargs", "seed", "device", "checkpoint_every", "out_dir")
"""RL config fields a sweep sets from the scenario, the seed and the store; ``num_users`` and ``total_steps``
default to the scenario's ``training.rl_users`` and ``rl_steps`` but a grid may set them."""


def policy_entry(name: str) -> PolicyEntry:
    """The registry entry of ``name``; ConfigError listing the names otherwise."""
    if name not in POLICIES:
        raise ConfigError(f"Unknown policy {name!r}; choose from {sorted(POLICIES)}.")
    return POLICIES[name]


def policy_parameters(name: str) -> dict[str, Any]:
    """What a grid (``--grid NAME.PARAM=...``) may set for policy ``name``, with each default.

    Static and online policies: their constructor's keyword arguments (through ``**kwargs``
    to the base classes), less those the sweep fills in (slate size, seed, the env). RL
    policies: their trainer config's fields, less those the sweep sets (``RL_SWEEP_FIELDS``).
    A parameter without a default maps to ``inspect.Parameter.empty``.
    """
    entry = policy_entry(name)
    if entry.kind == "rl":
        from policies.rl.registry import trainer_class

        config = trainer_class(name).config_class
        return {
            field.name: _field_default(field)
            for field in dataclasses.fields(config)
            if field.name not in RL_SWEEP_FIELDS
        }
    module_name, _, class_name = entry.target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return {key: value for key, value in _constructor_parameters(cls).items() if key not in entry.sweep_sets}


def check_policy_parameters(name: str, params: Mapping[str, Any], where: str = "--grid") -> None:
    """ConfigError naming an unknown parameter of ``name``, the closest known one and the full list."""
    known = policy_parameters(name)
    entry = policy_entry(name)
    for key in params:
        if key in known:
            continue
        sweep_owned = entry.sweep_sets if entry.kind != "rl" else RL_SWEEP_FIELDS
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
    entry = policy_entry(name)
    if entry.build is None:
        raise ConfigError(f"{name} is an RL policy: it is trained (recgym.sweep.run.train_rl_policy), not built.")
    try:
        return entry.build(env, scenario, seed, params)
    except TypeError as error:
        raise ConfigError(f"Policy {name!r} rejected parameters {params}: {error}") from error
