"""Bias, spread and CI coverage of every off-policy estimator against the simulator's truth: docs/bandits.md.

A logging policy (a fixed linear ranker mixed with uniform slates, epsilon 0.5) logs on
LinearClick; the estimators value a different target, and each seed's estimate is compared
with that seed's true on-policy value. Two settings: single-item slates (IPS, SNIPS, DM, DR
with a good, a wrong and the oracle reward model) and 2-item slates under position-based
clicks (where full-slate IPS struggles and item-position IPS is built for).

    python benchmarks/ope_accuracy.py [--seeds 100] [--num-users 64] [--steps 10]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import pandas as pd
import torch
from tqdm import tqdm

import recgym  # noqa: F401  (registers the envs)
from policies.baselines import FixedLinearPolicy
from policies.stochastic import EpsilonMixture, PlackettLuce, SlateDistribution
from recgym.eval.ope import (
    ConstantRewardModel,
    Estimator,
    LinearRewardModel,
    OracleRewardModel,
    direct_method,
    doubly_robust,
    estimator_accuracy,
    independent_ips,
    ips,
    snips,
)

NUM_CANDIDATES, NUM_FEATURES = 10, 8


def estimators(target: SlateDistribution) -> dict[str, Estimator]:
    wrong = ConstantRewardModel(0.1)
    return {
        "IPS": lambda log: ips(log, target),
        "SNIPS": lambda log: snips(log, target),
        "item-position IPS": lambda log: independent_ips(log, target),
        "DM (fitted linear)": lambda log: direct_method(log, target, LinearRewardModel.fit(log)),
        "DR (fitted linear)": lambda log: doubly_robust(log, target, LinearRewardModel.fit(log)),
        "DM (wrong: constant 0.1)": lambda log: direct_method(log, target, wrong),
        "DR (wrong: constant 0.1)": lambda log: doubly_robust(log, target, wrong),
        "DM (oracle)": lambda log: direct_method(log, target, OracleRewardModel.from_log(log)),
    }


def run(slate_size: int, arguments: argparse.Namespace, **user_params: float) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(5)
    behaviour_weights, target_weights = torch.randn(2, NUM_FEATURES, generator=generator)
    behaviour = EpsilonMixture(FixedLinearPolicy(behaviour_weights, slate_size), epsilon=0.5, seed=1)
    target: SlateDistribution
    if slate_size == 1:
        target = PlackettLuce(FixedLinearPolicy(target_weights, 1), temperature=0.5, seed=2)
    else:
        target = EpsilonMixture(FixedLinearPolicy(target_weights, slate_size), epsilon=0.2, seed=2)
    env = gym.make_vec(
        "recgym/LinearClick-v0",
        num_envs=arguments.num_users,
        vectorization_mode="vector_entry_point",
        num_candidates=NUM_CANDIDATES,
        slate_size=slate_size,
        num_features=NUM_FEATURES,
        theta_spread=0.5,
        reward="clicks",
        **user_params,
    )
    with tqdm(total=arguments.seeds, desc=f"slate size {slate_size}", leave=False) as progress:
        accuracy = estimator_accuracy(
            env,
            behaviour,
            target,
            estimators(target),
            arguments.seeds,
            arguments.steps,
            on_seed=lambda done, total: progress.update(1),
        )
    return accuracy.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--num-users", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    arguments = parser.parse_args()
    rows = arguments.num_users * arguments.steps
    print(
        f"# LinearClick-v0, {NUM_CANDIDATES} candidates, {NUM_FEATURES} features, {rows} logged rows per seed, "
        f"{arguments.seeds} seeds; behaviour: fixed linear ranker + 50% uniform slates"
    )
    pd.set_option("display.width", 160)
    settings = [
        ("slate size 1, target Plackett-Luce (T=0.5), clicks ~0.8", 1, {"click_base": 0.8, "click_scale": 0.2}),
        ("slate size 2, position decay 0.7, target epsilon-mixture (0.2)", 2, {"position_decay": 0.7}),
    ]
    for title, slate_size, user_params in settings:
        print(f"\n## {title}")
        print(run(slate_size, arguments, **user_params).to_string(index=False, float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
