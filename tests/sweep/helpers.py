"""The tiny sweep every end-to-end test drives: 2 scenarios x 3 policies x 2 seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "data" / "scenarios"
TINY_SCENARIOS = [str(DATA / "tiny_linear.toml"), str(DATA / "tiny_satisfaction.toml")]
TINY_POLICIES = ["random", "oracle_greedy", "linucb"]
TINY_SEEDS = 2
TINY_RUNS = len(TINY_SCENARIOS) * len(TINY_POLICIES) * TINY_SEEDS
METRIC_COLUMNS = ["clicks", "engagement", "ctr", "diversity", "coverage", "gini", "exposure_fairness", "regret"]


def sweep_command(out: Path, *extra: str) -> list[str]:
    """``recgym sweep`` of the tiny sweep into ``out``, as a subprocess command line."""
    return [
        sys.executable,
        "-m",
        "recgym.cli",
        "sweep",
        *TINY_SCENARIOS,
        "--policies",
        *TINY_POLICIES,
        "--seeds",
        str(TINY_SEEDS),
        "--out",
        str(out),
        *extra,
    ]


def run_cli(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def metrics_by_run(runs: pd.DataFrame) -> pd.DataFrame:
    """The measured metrics indexed by run id, for comparing two sweeps of the same plan."""
    return runs.set_index("run_id")[METRIC_COLUMNS].sort_index()
