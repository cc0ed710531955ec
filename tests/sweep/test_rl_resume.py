"""A sweep killed while an RL run trains resumes that training from its checkpoint, with the same result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from policies.rl.trainer import CHECKPOINT_NAME
from recgym.sweep import LocalExecutor, ResultsStore, SweepPlan, run_sweep
from scenarios import load_scenario
from tests.sweep.helpers import DATA, metrics_by_run, run_cli

pytestmark = pytest.mark.slow
SCENARIO = str(DATA / "tiny_linear_rl.toml")


def _command(out: Path, *extra: str) -> list[str]:
    sweep = ["sweep", SCENARIO, "--policies", "ppo", "--seeds", "1", "--workers", "1", "--out", str(out)]
    return [sys.executable, "-m", "recgym.cli", *sweep, *extra]


def test_killed_rl_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = subprocess.Popen(
        _command(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )
    checkpoint = out / "checkpoints" / "tiny_linear_rl--ppo--seed0" / CHECKPOINT_NAME
    deadline = time.monotonic() + 300
    while not checkpoint.is_file():
        assert process.poll() is None, "the sweep finished before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not ResultsStore(out).finished_ids(), "the kill must land while PPO trains"

    run_cli(_command(out, "--resume"))
    resumed = ResultsStore(out).runs()
    assert int(resumed.loc[0, "resumed_from"]) > 0, "training restarted from scratch instead of resuming"
    assert not checkpoint.exists(), "a finished run's checkpoint is removed"

    plan = SweepPlan([load_scenario(SCENARIO)], ["ppo"], [0])
    whole = run_sweep(plan, tmp_path / "whole", LocalExecutor(1), progress=False).runs()
    assert int(whole.loc[0, "resumed_from"]) == 0
    pd.testing.assert_frame_equal(metrics_by_run(resumed), metrics_by_run(whole))
