"""Fixtures of the sweep tests: one finished tiny sweep per module, and a fresh copy per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recgym.sweep import LocalExecutor, SweepPlan, run_sweep
from scenarios import load_scenario
from tests.sweep.helpers import TINY_SCENARIOS


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A finished sweep of tiny_linear x random x seeds 0..FINISHED_SEEDS-1 (the module's constant, default 2)."""
    seeds = getattr(request.module, "FINISHED_SEEDS", 2)
    out = tmp_path_factory.mktemp("finished") / "sweep"
    plan = SweepPlan([load_scenario(TINY_SCENARIOS[0])], ["random"], list(range(seeds)))
    run_sweep(plan, out, LocalExecutor(1), progress=False)
    return out


@pytest.fixture
def store(finished: Path, tmp_path: Path) -> Path:
    """A copy of ``finished`` that one test may change."""
    copy = tmp_path / "sweep"
    shutil.copytree(finished, copy)
    return copy
