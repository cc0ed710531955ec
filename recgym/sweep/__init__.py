"""Sweeps: scenarios x policies x seeds (x parameter grids), run locally or on Ray, stored as Parquet."""

from recgym.sweep.executors import LocalExecutor, RayExecutor, make_executor
from recgym.sweep.plan import SweepPlan, parse_grid
from recgym.sweep.run import RunResult, RunSpec, execute_run
from recgym.sweep.store import ResultsStore
from recgym.sweep.sweep import run_sweep

__all__ = [
    "LocalExecutor",
    "RayExecutor",
    "ResultsStore",
    "RunResult",
    "RunSpec",
    "SweepPlan",
    "execute_run",
    "make_executor",
    "parse_grid",
    "run_sweep",
]
