"""User-steps per second of RecVectorEnv over a range of population sizes.

Slates are random but precomputed (a pool of valid slates cycled through), so the
figure measures the env, not the slate sampler. Prints one row per (device, num_envs)
and the configuration; record results in benchmarks/RESULTS.md with the machine.

    python benchmarks/env_throughput.py [--env recgym/InterestEvolution-v0 ...] [--num-envs 1 64 4096 65536]
        [--num-items 10000 1000000] [--candidate-sampler uniform]
"""

from __future__ import annotations

import argparse
import platform
import time

import gymnasium as gym
import torch

import recgym  # noqa: F401  (registers the env ids)


def _slate_pool(num_envs: int, num_candidates: int, slate_size: int, device: torch.device, pool: int = 8) -> list:
    generator = torch.Generator().manual_seed(0)
    return [
        torch.rand(num_envs, num_candidates, generator=generator).argsort(dim=1)[:, :slate_size].to(device)
        for _ in range(pool)
    ]


def measure(
    env_id: str,
    num_envs: int,
    device: str,
    seconds: float,
    num_candidates: int,
    slate_size: int,
    num_items: int,
    candidate_sampler: str,
) -> float:
    """User-steps per second, timed over at least ``seconds`` after a warm-up."""
    env = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        device=device,
        num_candidates=num_candidates,
        slate_size=slate_size,
        num_items=num_items,
        candidate_sampler=candidate_sampler,
    )
    slates = _slate_pool(num_envs, num_candidates, slate_size, env.unwrapped.device)
    env.reset(seed=0)
    for step in range(5):
        env.step(slates[step % len(slates)])
    synchronize = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    synchronize()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(10):
            env.step(slates[steps % len(slates)])
            steps += 1
        synchronize()
    elapsed = time.perf_counter() - started
    env.close()
    return steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="+", default=["recgym/InterestEvolution-v0"])
    parser.add_argument("--num-items", type=int, nargs="+", default=[10_000], help="catalog sizes")
    parser.add_argument("--candidate-sampler", default="uniform", help="uniform, popularity or affinity")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024, 4096, 16384, 65536])
    parser.add_argument("--devices", nargs="+", default=["cpu", *(["cuda"] if torch.cuda.is_available() else [])])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--num-candidates", type=int, default=10)
    parser.add_argument("--slate-size", type=int, default=2)
    arguments = parser.parse_args()

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(
        f"# candidates={arguments.num_candidates} slate={arguments.slate_size} "
        f"sampler={arguments.candidate_sampler} torch={torch.__version__} threads={torch.get_num_threads()} "
        f"cpu={cpu} gpu={gpu}"
    )
    print(f"{'env':<36}{'device':<8}{'num_items':>11}{'num_envs':>10}{'user-steps/s':>16}")
    for env_id in arguments.env:
        for device in arguments.devices:
            for num_items in arguments.num_items:
                for num_envs in arguments.num_envs:
                    rate = measure(
                        env_id,
                        num_envs,
                        device,
                        arguments.seconds,
                        arguments.num_candidates,
                        arguments.slate_size,
                        num_items,
                        arguments.candidate_sampler,
                    )
                    print(f"{env_id:<36}{device:<8}{num_items:>11,}{num_envs:>10}{rate:>16,.0f}", flush=True)


if __name__ == "__main__":
    main()
