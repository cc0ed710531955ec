"""Throughput of an earlier commit and of this checkout, side by side in one run: "not slower" after a refactor.

Each round runs the env, bandit and RL throughput benchmarks once from each tree, alternating,
so load on the machine falls on both alike; the table gives each row's median over rounds.
The earlier tree is a temporary ``git worktree`` of ``--base`` (removed afterwards); both use
this interpreter, so only recgym's code differs.

    python benchmarks/before_after.py --base a0ff0f5 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.progress import track

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = {
    "env": ["env_throughput.py", "--num-envs", "1024", "4096", "--devices", "cpu", "--seconds", "2"],
    "bandit": ["bandit_throughput.py", "--num-users", "1024", "--devices", "cpu", "--seconds", "2"],
    "rl": ["rl_throughput.py", "--users", "1024", "--sb3-users", "1024", "--iterations", "3"],
}
_ROW = re.compile(r"^(?P<label>\S.*?)\s+(?P<rate>\d[\d,]*)(?:\s+\(.*\))?$")


def rows(output: str) -> dict[str, float]:
    """Table rows of a benchmark's output: label (its text without the rate) -> rate."""
    found = {}
    for line in output.splitlines():
        match = _ROW.match(line.strip())
        if match and not line.startswith(("env ", "device ")):
            found[" ".join(match["label"].split())] = float(match["rate"].replace(",", ""))
    return found


def run(tree: Path, script: list[str]) -> dict[str, float]:
    environment = os.environ | {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script[0]), *script[1:]],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return rows(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        base_tree = Path(scratch) / "base"
        add = ["git", "worktree", "add", "--detach", "-q", str(base_tree), arguments.base]
        subprocess.run(add, cwd=ROOT, check=True)
        try:
            trees = {"before": base_tree, "after": ROOT}
            jobs = [(name, tree_name) for _ in range(arguments.rounds) for name in BENCHMARKS for tree_name in trees]
            for name, tree_name in track(jobs, description="before/after"):
                for label, rate in run(trees[tree_name], BENCHMARKS[name]).items():
                    results.setdefault((name, label), {}).setdefault(tree_name, []).append(rate)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=True)
    print(f"base {arguments.base}; {arguments.rounds} rounds; median rate per row (user-steps/s or decisions/s)")
    print("| benchmark | row | before | after | after / before |\n|---|---|---:|---:|---:|")
    for (name, label), by_tree in results.items():
        before, after = (statistics.median(by_tree.get(tree, [float("nan")])) for tree in ("before", "after"))
        print(f"| {name} | {label} | {before:,.0f} | {after:,.0f} | {after / before:.2f} |")


if __name__ == "__main__":
    main()
