"""How long a full sweep of the shipped scenarios takes with the baseline and bandit policies.

Target (issue 7): under 10 minutes on the 2-core CI machine. Prints the configuration, the
wall-clock time, the per-run seconds by scenario and the sum of run-seconds (what more
workers would divide), then writes the report of the sweep.

    python benchmarks/sweep_time.py [--seeds 1] [--workers 2] [--out NEW_FOLDER]

The sweep goes into ``--out``, which must be new (or an empty folder), or by default into a
fresh temporary folder; it never deletes or writes into a folder that holds anything.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from recgym.report import write_report
from recgym.sweep import LocalExecutor, SweepPlan, run_sweep
from scenarios import list_scenarios

BASELINES = ["random", "myopic_greedy", "oracle_greedy", "most_popular"]
BANDITS = ["epsilon_greedy", "ucb1", "linucb", "thompson", "hatch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--out", type=Path, help="a new or empty folder for the sweep (default: a fresh temporary folder)"
    )
    arguments = parser.parse_args()
    if arguments.out is None:
        arguments.out = Path(tempfile.mkdtemp(prefix="recgym-sweep-bench-"))
    elif arguments.out.exists() and (not arguments.out.is_dir() or any(arguments.out.iterdir())):
        parser.error(
            f"--out {arguments.out} already holds files; this benchmark never deletes or overwrites them. "
            "Pass a new folder with --out, or leave --out out for a fresh temporary folder."
        )
    scenarios = list_scenarios()
    policies = BASELINES + BANDITS
    plan = SweepPlan(scenarios, policies, list(range(arguments.seeds)))
    specs = plan.specs()  # each scenario's exclude_policies left out
    print(
        f"{len(scenarios)} scenarios x {len(policies)} policies x {arguments.seeds} seeds = {len(specs)} runs; "
        f"{arguments.workers} workers on {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
    )
    print(f"sweep folder: {arguments.out}", file=sys.stderr)
    started = time.perf_counter()
    store = run_sweep(plan, arguments.out, LocalExecutor(arguments.workers))
    wall = time.perf_counter() - started
    runs = store.runs()
    by_scenario = runs.groupby("scenario")["seconds"].agg(["count", "sum", "max"]).sort_values("sum", ascending=False)
    print(by_scenario.to_string(float_format=lambda value: f"{value:.1f}"))
    print(f"wall clock {wall / 60:.2f} min for {len(runs)} runs; run-seconds {runs['seconds'].sum():.0f}")
    html_path, _ = write_report(arguments.out)
    print(f"report: {html_path}")


if __name__ == "__main__":
    main()
