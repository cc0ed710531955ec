"""Sweeps: scenarios x policies x seeds (x parameter grids), run locally or on Ray, stored as Parquet."""

from recgym.sweep.executors import LocalExecutor, RayExecutor, make_executor
from recgym.sweep.plan import SweepPlan, parse_grid
from recgym.sweep.request import SweepRequest
from recgym.sweep.run import RunResult, RunSpec, execute_run
from recgym.sweep.store import ResultsStore, UnreadableResultWarning
from recgym.sweep.sweep import SweepInterrupted, check_plan, run_sweep

__all__ = [
    "LocalExecutor",
    "RayExecutor",
    "ResultsStore",
    "RunResult",
    "RunSpec",
    "SweepInterrupted",
    "SweepPlan",
    "SweepRequest",
    "UnreadableResultWarning",
    "check_plan",
    "execute_run",
    "make_executor",
    "parse_grid",
    "run_sweep",
]
