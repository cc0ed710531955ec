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
from collections.abc import Callable
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


POLICIES: dict[str, PolicyEntry] = {
    "random": PolicyEntry("static", "uniformly random slates", _random),
    "myopic_greedy": PolicyEntry(
        "static", "ranks candidates by the watch-weighted profile of the history", _myopic_greedy
    ),
    "oracle_greedy": PolicyEntry(
        "static", "top-K by the simulator's true expected reward (reads hidden state)", _oracle_greedy, True
    ),
    "most_popular": PolicyEntry("online", "ranks by clicks counted online", _most_popular),
    "epsilon_greedy": PolicyEntry(
        "online", "linear click model, random slate with probability epsilon", _epsilon_greedy
    ),
    "ucb1": PolicyEntry("online", "UCB1 over item ids", _ucb1),
    "linucb": PolicyEntry("online", "LinUCB on candidate features", _linucb),
    "thompson": PolicyEntry("online", "linear Thompson sampling", _thompson),
    "hatch": PolicyEntry("online", "budget-constrained LinUCB (HATCH)", _hatch),
    "ppo": PolicyEntry("rl", "PPO with a Plackett-Luce slate head"),
    "a2c": PolicyEntry("rl", "A2C with a Plackett-Luce slate head"),
    "slateq": PolicyEntry("rl", "SlateQ: item Q-values under a learned choice model"),
    "constrained": PolicyEntry("rl", "two-stage constrained actor-critic (watch time with like/share/follow bounds)"),
    "hierarchical": PolicyEntry("rl", "goal planner over a goal-conditioned PPO"),
    "sim2rec": PolicyEntry("rl", "PPO conditioned on an inferred user embedding (Sim2Rec)"),
}


def policy_entry(name: str) -> PolicyEntry:
    """The registry entry of ``name``; ConfigError listing the names otherwise."""
    if name not in POLICIES:
        raise ConfigError(f"Unknown policy {name!r}; choose from {sorted(POLICIES)}.")
    return POLICIES[name]


def build_policy(name: str, env: RecVectorEnv, scenario: Scenario, seed: int, params: dict[str, Any]) -> Any:
    """A static or online policy for ``env``; a parameter the policy does not take is a ConfigError."""
    entry = policy_entry(name)
    if entry.build is None:
        raise ConfigError(f"{name} is an RL policy: it is trained (recgym.sweep.run.train_rl_policy), not built.")
    try:
        return entry.build(env, scenario, seed, params)
    except TypeError as error:
        raise ConfigError(f"Policy {name!r} rejected parameters {params}: {error}") from error
