"""The Ray executor on a real local Ray cluster (``ray start --head``) gives the local executor's results."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recgym.sweep import LocalExecutor, ResultsStore, SweepPlan, run_sweep
from scenarios import load_scenario
from tests.sweep.helpers import (
    TINY_POLICIES,
    TINY_RUNS,
    TINY_SCENARIOS,
    TINY_SEEDS,
    metrics_by_run,
    run_cli,
    sweep_command,
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray_cli() -> str:
    path = Path(sys.executable).with_name("ray")
    return str(path) if path.is_file() else (shutil.which("ray") or "ray")


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Ray head node on loopback, stopped afterwards; yields its address."""
    port = _free_port()
    temp_dir = tmp_path_factory.mktemp("ray")
    environment = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    start = [
        _ray_cli(),
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        "--object-store-memory=200000000",
    ]
    stop = [_ray_cli(), "stop", "--force"]
    for _attempt in range(3):  # Ray gives its raylet a fixed 30 s to register: a loaded 2-core box can miss it
        started = subprocess.run(start, capture_output=True, text=True, env=environment, timeout=180, check=False)
        if started.returncode == 0:
            break
        subprocess.run(stop, capture_output=True, env=environment, timeout=120, check=False)
    assert started.returncode == 0, f"ray start failed 3 times:\n{started.stdout}\n{started.stderr}"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(stop, capture_output=True, env=environment, timeout=120, check=False)


def test_ray_executor_matches_the_local_executor(ray_cluster: str, tmp_path: Path) -> None:
    run_cli(sweep_command(tmp_path / "ray", "--executor", "ray", "--address", ray_cluster))
    on_ray = ResultsStore(tmp_path / "ray").runs()
    plan = SweepPlan([load_scenario(path) for path in TINY_SCENARIOS], TINY_POLICIES, list(range(TINY_SEEDS)))
    local = run_sweep(plan, tmp_path / "local", LocalExecutor(1), progress=False).runs()
    assert len(on_ray) == len(local) == TINY_RUNS
    assert list(on_ray["run_id"]) == list(local["run_id"])
    assert metrics_by_run(on_ray).equals(metrics_by_run(local)), "Ray and local results differ for the same seeds"


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from recgym.errors import ConfigError
    from recgym.sweep import RayExecutor

    plan = SweepPlan([load_scenario(TINY_SCENARIOS[0])], ["random"], [0])
    with pytest.raises(ConfigError, match="Cannot reach a Ray cluster"):
        run_sweep(plan, tmp_path / "nowhere", RayExecutor(f"127.0.0.1:{_free_port()}"), progress=False)
