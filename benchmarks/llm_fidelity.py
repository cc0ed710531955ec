"""Do LLM personas choose from their stated interests? Fidelity per backend, with the shuffled-persona control.

Controlled slates (one item from a loved topic among K-1 from indifferent or disliked ones,
see simulators/llm/fidelity.py) for every persona of a seeded population. Prints, per
backend: the share of click mass on the loved item at the simulator's temperature, how often
it is the top choice, chance (1/K), and the same for shuffled personas.

    python benchmarks/llm_fidelity.py --backends embedding transformers --personas 64
"""

from __future__ import annotations

import argparse
import time

import torch

from simulators.llm.factory import make_simulator
from simulators.llm.fidelity import choice_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["embedding", "transformers"])
    parser.add_argument("--choice-modes", nargs="+", default=["per_item"], help="for the transformers backend")
    parser.add_argument("--personas", type=int, default=64)
    parser.add_argument("--slate-size", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--cache", default=":memory:", help="response cache (default: none kept)")
    arguments = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"personas={arguments.personas} slate_size={arguments.slate_size} temperature={arguments.temperature}")
    print(f"{'backend':<24} {'loved item share':>17} {'top choice':>11} {'chance':>7} {'control share':>14} "
          f"{'control top':>12} {'trials':>7} {'seconds':>8}")  # fmt: skip
    for backend in arguments.backends:
        modes = arguments.choice_modes if backend != "embedding" else ["-"]
        for mode in modes:
            started = time.perf_counter()
            options = {"choice_mode": mode} if mode != "-" else {}
            simulator = make_simulator(
                backend=backend, num_personas=arguments.personas, cache_path=arguments.cache, **options
            )
            measure = {"slate_size": arguments.slate_size, "temperature": arguments.temperature}
            result = choice_fidelity(simulator.decider, simulator.population, simulator.catalog, **measure)
            control = choice_fidelity(simulator.decider, simulator.population.shuffled(1), simulator.catalog, **measure)
            name = backend if mode == "-" else f"{backend} ({mode})"
            print(
                f"{name:<24} {result.target_rate:>17.1%} {result.top_choice_rate:>11.1%} {result.chance:>7.1%} "
                f"{control.target_rate:>14.1%} {control.top_choice_rate:>12.1%} {result.trials:>7} "
                f"{time.perf_counter() - started:>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
