"""Bandit decisions per second: act + update on a batch of users, for each linear bandit variant.

A decision is one user's slate chosen and learned from (one act row plus one update row).
Observations come from a fixed pool of synthetic batches whose candidate features are rows
of an item table (as in the env), rewards are Bernoulli clicks of a hidden linear model,
and only ``act`` and ``update`` are timed. Prints the configuration and one row per variant;
record results in benchmarks/RESULTS.md with the machine.

    python benchmarks/bandit_throughput.py [--num-users 4096] [--num-candidates 100] [--num-features 32]
        [--num-items 10000] [--devices cpu cuda] [--seconds 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import torch

from policies.bandits import HATCH, DiagonalLinUCB, InSlateThompson, LinearThompson, LinUCB
from recgym.core.allocator import tune_cpu_allocator
from recgym.core.response import Response

POOL_SIZE = 4


def observation_pool(
    num_users: int, num_candidates: int, item_features: torch.Tensor, device: torch.device
) -> list[dict[str, torch.Tensor]]:
    """Synthetic observation batches: random candidate ids and their item features."""
    generator = torch.Generator().manual_seed(0)
    num_items, num_features = item_features.shape
    pool = []
    for _ in range(POOL_SIZE):
        ids = torch.randint(num_items, (num_users, num_candidates), generator=generator)
        pool.append(
            {
                "candidate_ids": ids.to(device),
                "candidate_features": item_features[ids].to(device),
                "history_features": torch.zeros(num_users, 10, num_features, device=device),
                "history_clicked": torch.zeros(num_users, 10, device=device),
                "history_watch_time": torch.zeros(num_users, 10, device=device),
            }
        )
    return pool


def clicks_for(observation: dict[str, torch.Tensor], slate: torch.Tensor, taste: torch.Tensor) -> Response:
    """Bernoulli clicks with probability 0.5 + 0.4 * taste . x on the shown items."""
    shown = observation["candidate_features"].gather(1, slate.unsqueeze(-1).expand(-1, -1, taste.shape[0]))
    probability = 0.5 + 0.4 * (shown @ taste).clamp(-1.0, 1.0)
    clicked = torch.rand(probability.shape, device=slate.device) < probability
    zeros = torch.zeros(slate.shape[0], device=slate.device)
    no_behaviour = torch.zeros_like(clicked)
    return Response(
        clicked=clicked,
        watch_time=clicked.float(),
        liked=no_behaviour,
        shared=no_behaviour,
        followed=no_behaviour,
        skipped=no_behaviour,
        left=zeros.bool(),
        return_gap=zeros,
        choice=torch.where(clicked.any(dim=1), clicked.to(torch.int8).argmax(dim=1), -1),
        returned=zeros.bool(),
    )


def variants(slate_size: int, item_features: torch.Tensor) -> dict[str, Callable[[], object]]:
    common = {"fit_intercept": False}
    return {
        "LinUCB shared, catalog-scored": lambda: LinUCB(slate_size, item_features=item_features, **common),
        "LinUCB shared, pair-scored": lambda: LinUCB(slate_size, **common),
        "LinUCB per-user (disjoint)": lambda: LinUCB(slate_size, per_user=True, **common),
        "Diag-LinUCB shared, pair-scored": lambda: DiagonalLinUCB(slate_size, **common),
        "Diag-LinUCB per-user": lambda: DiagonalLinUCB(slate_size, per_user=True, **common),
        "Linear TS shared": lambda: LinearThompson(slate_size, **common),
        "In-slate TS shared": lambda: InSlateThompson(slate_size, **common),
        "HATCH shared, catalog-scored": lambda: HATCH(
            slate_size, budget=10**12, horizon=10**6, item_features=item_features, **common
        ),
    }


def measure(make_policy: Callable[[], object], pool: list, taste: torch.Tensor, seconds: float, device: str) -> float:
    """Decisions per second over at least ``seconds`` of timed act + update, after a warm-up."""
    policy = make_policy()
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    num_users = pool[0]["candidate_ids"].shape[0]
    for step in range(3):
        observation = pool[step % POOL_SIZE]
        slate = policy.act(observation)
        policy.update(observation, slate, clicks_for(observation, slate, taste))
    timed, steps, started = 0.0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        observation = pool[steps % POOL_SIZE]
        synchronize()
        act_start = time.perf_counter()
        slate = policy.act(observation)
        synchronize()
        timed += time.perf_counter() - act_start
        response = clicks_for(observation, slate, taste)
        synchronize()
        update_start = time.perf_counter()
        policy.update(observation, slate, response)
        synchronize()
        timed += time.perf_counter() - update_start
        steps += 1
    return steps * num_users / timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-users", type=int, default=4096)
    parser.add_argument("--num-candidates", type=int, default=100)
    parser.add_argument("--num-features", type=int, default=32)
    parser.add_argument("--num-items", type=int, default=10_000)
    parser.add_argument("--slate-size", type=int, default=2)
    parser.add_argument("--devices", nargs="+", default=["cpu", *(["cuda"] if torch.cuda.is_available() else [])])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of variant names to run")
    arguments = parser.parse_args()
    tune_cpu_allocator()

    generator = torch.Generator().manual_seed(1)
    item_features = torch.nn.functional.normalize(
        torch.randn(arguments.num_items, arguments.num_features, generator=generator), dim=1
    )
    taste = torch.nn.functional.normalize(torch.randn(arguments.num_features, generator=generator), dim=0)
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"# users={arguments.num_users} candidates={arguments.num_candidates} features={arguments.num_features} "
        f"items={arguments.num_items} slate={arguments.slate_size} torch={torch.__version__} "
        f"threads={torch.get_num_threads()} cpu={cpu} gpu={gpu}"
    )
    print(f"{'variant':<34}{'device':<8}{'decisions/s':>16}")
    for device in arguments.devices:
        pool = observation_pool(arguments.num_users, arguments.num_candidates, item_features, torch.device(device))
        device_features, device_taste = item_features.to(device), taste.to(device)
        for name, make_policy in variants(arguments.slate_size, device_features).items():
            if arguments.only and not any(part in name for part in arguments.only):
                continue
            rate = measure(make_policy, pool, device_taste, arguments.seconds, device)
            print(f"{name:<34}{device:<8}{rate:>16,.0f}", flush=True)


if __name__ == "__main__":
    main()
