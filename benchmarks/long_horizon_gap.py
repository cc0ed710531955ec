"""The long-horizon gap that RL must close: myopic greedy vs a tuned far-sighted heuristic.

On the long-term satisfaction and multi-behaviour retention simulators, every user plays
one whole episode (many sessions, until the horizon in days) under each policy:

- random: uniform valid slates;
- myopic greedy: the oracle's expected immediate reward, top-K (the best a one-step policy can do);
- tuned heuristic: the same oracle score times exp(-lambda * f), where f is the visible item
  feature that carries the long-term cost (clickbait level, or item length); lambda is
  chosen on tuning seeds and the table reports fresh evaluation seeds.

Prints, per simulator and policy, long-term engagement per user (total watch time over the
episode) with a 95% CI, return visits, and steps per episode. Record results in
benchmarks/RESULTS.md.

    python benchmarks/long_horizon_gap.py [--num-users 2048] [--lambdas 0 0.5 1 2 4 8]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
from collections.abc import Callable

import gymnasium as gym
import torch

import recgym  # noqa: F401  (registers the env ids)
from recgym.envs.vector_env import RecVectorEnv

# The visible feature that carries each simulator's long-term cost is its last item feature.
DEFAULT_SIMULATORS = "recgym/LongTermSatisfaction-v0,recgym/MultiBehaviorRetention-v0"
SIMULATORS = tuple(os.environ.get("SIMS", DEFAULT_SIMULATORS).split(","))
SlatePolicy = Callable[[RecVectorEnv, dict[str, torch.Tensor]], torch.Tensor]


def random_policy(env: RecVectorEnv, observation: dict[str, torch.Tensor]) -> torch.Tensor:
    scores = torch.rand(env.num_envs, env.num_candidates, device=env.device)
    return scores.topk(env.slate_size, dim=1).indices


def discounted_oracle(weight: float) -> SlatePolicy:
    """Top-K of expected immediate reward x exp(-weight * cost feature); weight 0 is myopic greedy."""

    def policy(env: RecVectorEnv, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        cost = observation["candidate_features"][..., -1]
        return (env.expected_reward() * torch.exp(-weight * cost)).topk(env.slate_size, dim=1).indices

    return policy


def play_one_episode_each(env_id: str, policy: SlatePolicy, num_users: int, seed: int) -> dict[str, torch.Tensor]:
    """Run until every user has finished its first episode; per-user totals over that episode."""
    env: RecVectorEnv = gym.make_vec(env_id, num_envs=num_users, vectorization_mode="vector_entry_point").unwrapped
    observation, _ = env.reset(seed=seed)
    active = torch.ones(num_users, dtype=torch.bool)
    engagement = torch.zeros(num_users)
    returns = torch.zeros(num_users)
    steps = torch.zeros(num_users)
    while bool(active.any()):
        observation, _, terminated, truncated, info = env.step(policy(env, observation))
        response = info["response"]
        engagement += torch.where(active, response.watch_time.sum(dim=1), 0.0)
        returns += (active & response.returned).to(torch.float32)
        steps += active.to(torch.float32)
        active &= ~(terminated | truncated)
    return {"engagement": engagement, "return_visits": returns, "steps": steps}


def mean_ci(values: torch.Tensor) -> tuple[float, float]:
    """Mean and half-width of the normal 95% confidence interval."""
    return float(values.mean()), 1.96 * float(values.std()) / math.sqrt(values.numel())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-users", type=int, default=2048)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
    parser.add_argument("--tune-seed", type=int, default=1_000_000)
    parser.add_argument("--eval-seed", type=int, default=0)
    arguments = parser.parse_args()
    print(
        f"# users={arguments.num_users} (one full episode each) torch={torch.__version__} "
        f"threads={torch.get_num_threads()} cpu={platform.processor() or platform.machine()}"
    )
    for env_id in SIMULATORS:
        tuned = {
            weight: float(
                play_one_episode_each(env_id, discounted_oracle(weight), arguments.num_users, arguments.tune_seed)[
                    "engagement"
                ].mean()
            )
            for weight in arguments.lambdas
        }
        best = max(tuned, key=tuned.__getitem__)
        tuning = ", ".join(f"{weight:g}: {value:,.0f}" for weight, value in tuned.items())
        print(f"\n## {env_id}   tuning (lambda -> engagement): {tuning}")
        print(f"{'policy':<28}{'engagement':>22}{'return visits':>16}{'steps':>10}")
        policies = {
            "random": random_policy,
            "myopic greedy (oracle)": discounted_oracle(0.0),
            f"tuned heuristic (lambda={best:g})": discounted_oracle(best),
        }
        results = {}
        for name, policy in policies.items():
            totals = play_one_episode_each(env_id, policy, arguments.num_users, arguments.eval_seed)
            results[name] = totals
            mean, half = mean_ci(totals["engagement"])
            print(
                f"{name:<28}{mean:>12,.0f} ± {half:>7,.0f}{float(totals['return_visits'].mean()):>16.1f}"
                f"{float(totals['steps'].mean()):>10.0f}",
                flush=True,
            )
        myopic, heuristic = results["myopic greedy (oracle)"], results[f"tuned heuristic (lambda={best:g})"]
        gap, half = mean_ci(heuristic["engagement"] - myopic["engagement"])  # same seeds: paired users
        relative = gap / float(myopic["engagement"].mean())
        print(f"gap (heuristic - myopic), paired by user seed: {gap:,.0f} ± {half:,.0f} ({relative:+.0%})")


if __name__ == "__main__":
    main()
