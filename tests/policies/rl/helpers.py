"""Small problems and comparisons the RL tests share."""

from __future__ import annotations

from typing import Any

import torch

from policies.baselines import RandomPolicy
from policies.rl.trainer import Trainer
from recgym.core.rollout import evaluate_policy
from recgym.envs.builder import build_vector_env

# Long-term satisfaction in miniature: three simulated days, a small catalog; clickbait
# still pays now and costs later, so a policy must look ahead to do well.
SMALL_LTS: dict[str, Any] = {
    "env_id": "recgym/LongTermSatisfaction-v0",
    "env_kwargs": {"horizon_days": 3.0, "num_items": 500},
    "device": "cpu",
}


def mean_watch_time(
    env_id: str, env_kwargs: dict[str, Any], policy: Any, num_users: int = 256, seed: int = 10_000
) -> float:
    """Mean watch time per user over one whole episode, acting greedily."""
    env = build_vector_env(env_id, num_users, torch.device("cpu"), env_kwargs)
    return float(evaluate_policy(env, policy, seed=seed).watch_time.mean())


def random_watch_time(env_id: str, env_kwargs: dict[str, Any], slate_size: int = 2) -> float:
    return mean_watch_time(env_id, env_kwargs, RandomPolicy(slate_size, seed=1))


def parameters(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Every tensor a checkpoint holds for the trainer's components, flattened by name."""
    flat: dict[str, torch.Tensor] = {}
    for name, component in trainer.components().items():
        if isinstance(component, torch.nn.Module):
            flat.update({f"{name}.{key}": value for key, value in component.state_dict().items()})
    return flat


def assert_same_parameters(first: Trainer, second: Trainer) -> None:
    left, right = parameters(first), parameters(second)
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), f"{key} differs after resuming"
