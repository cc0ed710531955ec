"""Cumulative regret of every bandit on LinearClick, over seeds: the table in docs/bandits.md.

Two populations: one shared taste (theta_spread 0, where a shared model is well specified)
and heterogeneous tastes (theta_spread 0.6, where only per-user models are). For each
policy it prints the mean and 95% CI over seeds of the cumulative pseudo-regret per user
after T steps, and the fitted growth exponent of the regret curve (1 = linear).

    python benchmarks/bandit_regret.py [--seeds 5] [--steps 400] [--num-users 16]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import gymnasium as gym
import torch
from tqdm import tqdm

import recgym  # noqa: F401  (registers the envs)
from policies.bandits import (
    HATCH,
    UCB1,
    DiagonalLinUCB,
    EpsilonGreedy,
    InSlateThompson,
    LinearThompson,
    LinUCB,
)
from policies.baselines import RandomPolicy
from recgym.core.random import population_seed
from recgym.eval.regret import learning_curve

SLATE_SIZE, NUM_CANDIDATES = 2, 20


def policies(num_users: int, steps: int) -> dict[str, Callable[[], object]]:
    return {
        "random": lambda: RandomPolicy(SLATE_SIZE),
        "epsilon-greedy (0.1)": lambda: EpsilonGreedy(SLATE_SIZE, epsilon=0.1),
        "UCB1 (per item)": lambda: UCB1(1000, SLATE_SIZE),
        "LinUCB shared": lambda: LinUCB(SLATE_SIZE),
        "LinUCB per-user": lambda: LinUCB(SLATE_SIZE, per_user=True),
        "Diag-LinUCB shared": lambda: DiagonalLinUCB(SLATE_SIZE),
        "linear TS shared": lambda: LinearThompson(SLATE_SIZE),
        "linear TS per-user": lambda: LinearThompson(SLATE_SIZE, per_user=True),
        "in-slate TS shared": lambda: InSlateThompson(SLATE_SIZE),
        "HATCH shared (budget 25%)": lambda: HATCH(SLATE_SIZE, budget=num_users * steps // 4, horizon=steps),
    }


def mean_ci(values: list[float]) -> str:
    tensor = torch.tensor(values, dtype=torch.float64)
    half = 1.96 * float(tensor.std()) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{float(tensor.mean()):8.1f} ± {half:5.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--num-users", type=int, default=16)
    arguments = parser.parse_args()
    print(
        f"# LinearClick-v0: {arguments.num_users} users, {NUM_CANDIDATES} candidates, slate {SLATE_SIZE}, "
        f"{arguments.steps} steps, {arguments.seeds} seeds; cumulative pseudo-regret per user (95% CI), growth exponent"
    )
    print(f"{'policy':<28}{'spread':>7}{'cumulative regret':>22}{'exponent':>10}")
    for spread in (0.0, 0.6):
        for name, make_policy in policies(arguments.num_users, arguments.steps).items():
            totals, exponents = [], []
            for seed in tqdm(range(arguments.seeds), desc=name, leave=False):
                env = gym.make_vec(
                    "recgym/LinearClick-v0",
                    num_envs=arguments.num_users,
                    vectorization_mode="vector_entry_point",
                    num_candidates=NUM_CANDIDATES,
                    slate_size=SLATE_SIZE,
                    theta_spread=spread,
                    catalog_seed=seed,
                )
                # Seeds draw disjoint populations (reset(seed=s) alone would give user i the seed s + i).
                curve = learning_curve(env, make_policy(), arguments.steps, seed=population_seed(seed, "benchmark"))
                totals.append(float(curve.cumulative_regret[-1]))
                exponents.append(curve.regret_growth_exponent())
            print(f"{name:<28}{spread:>7.1f}{mean_ci(totals):>22}{sum(exponents) / len(exponents):>10.2f}", flush=True)


if __name__ == "__main__":
    main()
