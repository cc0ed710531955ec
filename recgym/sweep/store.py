"""The results store of a sweep: one folder that pandas and DuckDB read directly.

    RUN_DIR/
      sweep.json            the plan: scenarios (resolved), policies, seeds, grid, versions
      runs/<run_id>.parquet one row per finished run: identity, seconds, every metric, OPE estimates
      curves/<run_id>.parquet the run's learning curve (user_steps, reward[, regret])
      manifest.sqlite       table ``runs``: run_id, scenario, policy, seed, seconds, finished_at
      checkpoints/<run_id>/ an RL run's trainer checkpoint while it trains (removed when it finishes), TensorBoard

A run counts as finished once its ``runs/`` file exists. Files are written to a temporary
name and renamed, curve first, so a process killed at any instant (even SIGKILL) leaves
either a whole finished run or none: a resumed sweep neither loses nor repeats one.

    pandas.read_parquet("RUN_DIR/runs")                     # every run, one row each
    duckdb.sql("select * from read_parquet('RUN_DIR/runs/*.parquet', union_by_name=true)")
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from policies.rl.trainer import CHECKPOINT_NAME
from recgym.sweep.run import RunResult, RunSpec

_MANIFEST_SCHEMA = """
create table if not exists runs (
    run_id text primary key, scenario text, policy text, policy_label text, seed integer,
    seconds real, finished_at real
)
"""


class ResultsStore:
    """Reads and writes one sweep's folder; only the sweep's driver process writes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.curves_dir = self.root / "curves"

    # -- plan ----------------------------------------------------------------------------------
    @property
    def plan_path(self) -> Path:
        return self.root / "sweep.json"

    def exists(self) -> bool:
        return self.plan_path.is_file()

    def write_plan(self, plan: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self.curves_dir.mkdir(exist_ok=True)
        _atomic_write_text(self.plan_path, json.dumps(plan, indent=2, default=str))
        with self._manifest() as connection:
            connection.execute(_MANIFEST_SCHEMA)

    def read_plan(self) -> dict[str, Any]:
        return json.loads(self.plan_path.read_text())

    # -- runs ----------------------------------------------------------------------------------
    def finished_ids(self) -> set[str]:
        """Runs whose result file exists (the source of truth; the manifest is an index)."""
        if not self.runs_dir.is_dir():
            return set()
        return {path.name.removesuffix(".parquet") for path in self.runs_dir.glob("*.parquet")}

    def write_run(self, spec: RunSpec, result: RunResult) -> None:
        """Persist one finished run at once: curve, then the run row (the commit point), then the manifest."""
        identity = {
            "run_id": spec.run_id,
            "scenario": spec.scenario.name,
            "policy": spec.policy,
            "policy_label": spec.policy_label,
            "seed": spec.seed,
        }
        curve = (
            pd.DataFrame(result.curve)
            if result.curve.get("user_steps")
            else pd.DataFrame({"user_steps": pd.Series(dtype=float), "reward": pd.Series(dtype=float)})
        )
        for key, value in identity.items():
            curve[key] = value
        _atomic_write_parquet(curve, self.curves_dir / f"{spec.run_id}.parquet")
        finished_at = time.time()
        row = identity | {
            "policy_params": json.dumps(spec.policy_params, sort_keys=True, default=str),
            "seconds": result.seconds,
            "resumed_from": result.resumed_from,
            "finished_at": finished_at,
            **result.metrics,
            **{f"ope_{name}": value for name, value in result.off_policy.items()},
        }
        _atomic_write_parquet(pd.DataFrame([row]), self.runs_dir / f"{spec.run_id}.parquet")
        self._index(identity | {"seconds": result.seconds, "finished_at": finished_at})
        self._drop_checkpoint(spec)

    def checkpoint_dir(self, spec: RunSpec) -> Path:
        """Where an unfinished RL run keeps its trainer checkpoint (and TensorBoard logs)."""
        return self.root / "checkpoints" / spec.run_id

    def _drop_checkpoint(self, spec: RunSpec) -> None:
        """A finished run's checkpoint is no longer needed (SlateQ's holds its replay buffer: 100+ MB)."""
        if spec.checkpoint_dir is not None:
            (Path(spec.checkpoint_dir) / CHECKPOINT_NAME).unlink(missing_ok=True)

    def sync_manifest(self) -> None:
        """Index finished runs missing from the manifest (a kill between a run file and its manifest row)."""
        runs = self.runs()
        for row in runs.to_dict("records"):
            self._index(
                {
                    key: row[key]
                    for key in ("run_id", "scenario", "policy", "policy_label", "seed", "seconds", "finished_at")
                }
            )

    def _index(self, row: dict[str, Any]) -> None:
        with self._manifest() as connection:
            connection.execute(_MANIFEST_SCHEMA)
            connection.execute(
                "insert or ignore into runs values "
                "(:run_id, :scenario, :policy, :policy_label, :seed, :seconds, :finished_at)",
                row,
            )

    @contextlib.contextmanager
    def _manifest(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        with contextlib.closing(sqlite3.connect(self.root / "manifest.sqlite")) as connection, connection:
            yield connection

    # -- reading -------------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        """Every finished run, one row each (metrics as columns), sorted by scenario, policy, seed."""
        frames = [pd.read_parquet(path) for path in sorted(self.runs_dir.glob("*.parquet"))]
        if not frames:
            return pd.DataFrame(columns=["run_id", "scenario", "policy", "policy_label", "seed"])
        return pd.concat(frames, ignore_index=True).sort_values(["scenario", "policy_label", "seed"], ignore_index=True)

    def curves(self) -> pd.DataFrame:
        """Every finished run's learning curve, long format."""
        frames = [pd.read_parquet(path) for path in sorted(self.curves_dir.glob("*.parquet"))]
        frames = [frame for frame in frames if len(frame)]
        if not frames:
            return pd.DataFrame(columns=["run_id", "scenario", "policy_label", "seed", "user_steps", "reward"])
        return pd.concat(frames, ignore_index=True)


def _temporary(path: Path) -> Path:
    """A sibling name that readers skip (pyarrow ignores files starting with '.')."""
    return path.with_name(f".{path.name}.tmp")


def _atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = _temporary(path)
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = _temporary(path)
    temporary.write_text(text)
    os.replace(temporary, path)
