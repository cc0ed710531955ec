"""Issue 16: Ctrl-C stops a sweep cleanly (no traceback, no worker left) and says what is kept and how to go on."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from recgym.sweep import ResultsStore
from tests.file_hashes import assert_unchanged, folder_hashes
from tests.sweep.helpers import run_cli, sweep_command

pytestmark = pytest.mark.slow
SEEDS = 6
RUNS = 2 * 3 * SEEDS  # the tiny sweep's 2 scenarios x 3 policies, at more seeds so the interrupt lands mid-way


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_keeps_finished_runs_and_prints_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    command = sweep_command(out, "--workers", "2", "--seeds", str(SEEDS))
    environment = os.environ | {"OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    # its own process group, as a terminal's foreground job: Ctrl-C sends SIGINT to every process in it
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, start_new_session=True
    )
    store = ResultsStore(out)
    deadline = time.monotonic() + 300
    while len(store.finished_ids()) < 3:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr and "KeyboardInterrupt" not in stdout + stderr
    kept = len(store.finished_ids())
    assert 3 <= kept < RUNS, "the interrupt must land mid-sweep"
    assert f"{kept} of {RUNS} runs are stored in {out}" in stdout
    assert f"recgym sweep --resume --out {out} --workers 2" in stdout
    deadline = time.monotonic() + 20
    while _group_alive(process.pid):  # the workers were stopped with the driver, none left running
        assert time.monotonic() < deadline, "worker processes outlived the interrupted sweep"
        time.sleep(0.1)
    before = folder_hashes(out / "runs")
    resumed = run_cli(sweep_command(out, "--resume", "--workers", "2"))
    assert f"{kept} of {RUNS} runs already finished" in resumed.stdout.replace("\n", " ")
    assert len(store.finished_ids()) == RUNS
    assert_unchanged(before, out / "runs")
