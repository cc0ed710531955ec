"""LLM persona throughput: user decisions per second per backend, cold (model calls) and replayed (cache).

A decision is one user's step: the click over a K-item slate, a rating if they clicked, and
whether to leave. Each backend runs ``--users`` users for ``--steps`` steps of random slates
with an empty cache (every prompt goes to the model), then the same seed again (every prompt
is a cache hit), on ``--device``.

    python benchmarks/llm_throughput.py --backend embedding --users 4096 --steps 20
    python benchmarks/llm_throughput.py --backend transformers --users 32 --steps 2 --device cuda
    python benchmarks/llm_throughput.py --backend openai --base-url http://127.0.0.1:8080/v1 --model smollm2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch

import recgym  # noqa: F401  (registers the env ids)


def run(env: gym.vector.VectorEnv, seed: int, steps: int) -> float:
    """Seconds for ``steps`` steps of random slates after a reset."""
    generator = torch.Generator().manual_seed(seed)
    env.reset(seed=seed)
    started = time.perf_counter()
    for _ in range(steps):
        slate = torch.rand(env.num_envs, env.num_candidates, generator=generator).argsort(dim=1)[:, : env.slate_size]
        env.step(slate.to(env.device))
    if env.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="embedding", choices=["embedding", "transformers", "openai"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--choice-mode", default="per_item")
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--slate-size", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per forward pass (transformers)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        env = gym.make_vec(
            "recgym/LLMPersona-v0",
            num_envs=arguments.users,
            vectorization_mode="vector_entry_point",
            device=arguments.device,
            backend=arguments.backend,
            model=arguments.model,
            base_url=arguments.base_url,
            choice_mode=arguments.choice_mode,
            slate_size=arguments.slate_size,
            batch_size=arguments.batch_size,
            cache_path=str(Path(directory) / "cache.sqlite"),
            max_episode_steps=arguments.steps + 1,
        ).unwrapped
        simulator = env.simulator
        before = dict(simulator.usage()["backend"])
        cold = run(env, seed=0, steps=arguments.steps)
        after = simulator.usage()
        prompts = after["backend"].get("prompts_scored", 0) - before.get("prompts_scored", 0)
        replay = run(env, seed=0, steps=arguments.steps)
        decisions = arguments.users * arguments.steps
        device_name = torch.cuda.get_device_name() if env.device.type == "cuda" else "cpu"
        print(
            f"backend={arguments.backend} model={arguments.model or 'default'} choice_mode={arguments.choice_mode} "
            f"users={arguments.users} steps={arguments.steps} slate_size={arguments.slate_size} "
            f"batch_size={arguments.batch_size} device={device_name} threads={torch.get_num_threads()}"
        )
        print(f"cold:     {decisions / cold:>12,.1f} decisions/s  ({prompts} prompts, {prompts / cold:,.1f} prompts/s)")
        hit_rate = simulator.usage()["cache_hit_rate"]
        print(f"replayed: {decisions / replay:>12,.1f} decisions/s  (cache hit rate {hit_rate:.0%})")


if __name__ == "__main__":
    main()
