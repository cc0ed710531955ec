"""A scenario's env: the scenario's fields become env and simulator keyword arguments."""

from __future__ import annotations

from typing import Any

import torch

from recgym.envs.vector_env import RecVectorEnv
from scenarios.schema import Scenario

ENV_ARGUMENTS = frozenset(
    ("slate_size", "num_candidates", "history_length", "candidate_sampler", "max_episode_steps", "reward")
)
"""Env settings a scenario sets through [episode] and ``reward``, never through simulator params."""


def scenario_env_kwargs(scenario: Scenario, training: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``gym.make_vec(scenario.simulator.env, ...)``; ``training`` adds the training overrides."""
    episode = scenario.episode
    kwargs: dict[str, Any] = {
        **scenario.catalog,
        **scenario.simulator.params,
        "slate_size": episode.slate_size,
        "num_candidates": episode.num_candidates,
        "history_length": episode.history_length,
        "candidate_sampler": episode.candidate_sampler,
        "max_episode_steps": episode.horizon_steps,
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
    from policies.rl.trainer import make_vector_env

    users = scenario.population.num_users if num_users is None else num_users
    return make_vector_env(scenario.simulator.env, users, torch.device(device), scenario_env_kwargs(scenario, training))
