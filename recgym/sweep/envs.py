"""A scenario's env: the scenario's fields become env and simulator keyword arguments."""

from __future__ import annotations

from typing import Any

import torch

from recgym.envs.vector_env import RecVectorEnv
from scenarios.schema import Scenario

EPISODE_ENV_ARGUMENTS = {
    "slate_size": "slate_size",
    "num_candidates": "num_candidates",
    "history_length": "history_length",
    "candidate_sampler": "candidate_sampler",
    "horizon_steps": "max_episode_steps",
}
"""Each [episode] field of a scenario and the env argument it sets."""
SCENARIO_ENV_ARGUMENTS = frozenset({*EPISODE_ENV_ARGUMENTS.values(), "reward"})
"""The env arguments a scenario sets ([episode] and ``reward``), never through simulator params; the env's
other arguments (``recgym.envs.factory.ENV_ARGUMENTS``) are the sweep's to choose."""


def scenario_env_kwargs(scenario: Scenario, training: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``gym.make_vec(scenario.simulator.env, ...)``; ``training`` adds the training overrides."""
    episode = scenario.episode
    kwargs: dict[str, Any] = {
        **scenario.catalog,
        **scenario.simulator.params,
        **{argument: getattr(episode, field) for field, argument in EPISODE_ENV_ARGUMENTS.items()},
        "reward": scenario.reward,
    }
    if scenario.simulator.param_distribution:
        kwargs["param_distribution"] = scenario.simulator.param_distribution
    if training:
        kwargs.update(scenario.training.simulator_params)
    return kwargs


def make_scenario_env(
    scenario: Scenario, num_users: int | None = None, training: bool = False, device: str | torch.device = "cpu"
) -> RecVectorEnv:
    """The native vector env of ``scenario`` with ``num_users`` users (default: its population)."""
    from recgym.envs.builder import build_vector_env

    users = scenario.population.num_users if num_users is None else num_users
    return build_vector_env(
        scenario.simulator.env, users, torch.device(device), scenario_env_kwargs(scenario, training)
    )
