"""The results store of a sweep: one folder that pandas and DuckDB read directly.

    RUN_DIR/
      sweep.json            the plan: scenarios (resolved), policies, seeds, grid, versions
      runs/<run_id>.parquet one row per finished run: identity, seconds, every metric, OPE estimates
      curves/<run_id>.parquet the run's learning curve (user_steps, reward[, regret])
      manifest.sqlite       table ``runs``: run_id, scenario, policy, seed, seconds, finished_at
      checkpoints/<run_id>/ an RL run's trainer checkpoint while it trains (removed when it finishes), TensorBoard
      sweep.lock            held by the one sweep that writes the store (sweep.lock.owner: which process)
      quarantine/           unreadable result files moved aside by ``--resume`` (each with a .why.txt note)

A run counts as finished once its ``runs/`` file exists. Files are written to a temporary
name unique to the writing process and renamed, curve first, so a process killed at any
instant (even SIGKILL) leaves either a whole finished run or none: a resumed sweep neither
loses nor repeats one. One sweep at a time writes a store (``lock``); reading (reports,
pandas, DuckDB) needs no lock. A file that cannot be read is skipped with an
``UnreadableResultWarning`` naming it, and ``--resume`` moves it to ``quarantine/`` and
runs that run again.

    pandas.read_parquet("RUN_DIR/runs")                     # every run, one row each
    duckdb.sql("select * from read_parquet('RUN_DIR/runs/*.parquet', union_by_name=true)")
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import sqlite3
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow
from filelock import Timeout

from policies.rl.trainer import CHECKPOINT_NAME
from recgym.core.files import atomic_write_bytes, atomic_write_text, file_lock
from recgym.errors import StoreError
from recgym.sweep.run import RunResult, RunSpec

_MANIFEST_SCHEMA = """
create table if not exists runs (
    run_id text primary key, scenario text, policy text, policy_label text, seed integer,
    seconds real, finished_at real
)
"""


UNREADABLE = (pyarrow.ArrowException, OSError, ValueError)
"""What reading a damaged Parquet file raises (ArrowInvalid for a bad footer, OSError for a truncated one, ...)."""


class UnreadableResultWarning(UserWarning):
    """A result file of a store cannot be read (truncated, corrupt); it is left out of what is read."""


class ResultsStore:
    """Reads and writes one sweep's folder; only the sweep's driver process writes, holding ``lock``."""

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
        atomic_write_text(self.plan_path, json.dumps(plan, indent=2, default=str))
        with self._manifest() as connection:
            connection.execute(_MANIFEST_SCHEMA)

    def read_plan(self) -> dict[str, Any]:
        try:
            return json.loads(self.plan_path.read_text())
        except json.JSONDecodeError as error:
            raise StoreError(
                f"{self.plan_path} cannot be read ({error}); it is the sweep's plan, so this folder cannot be "
                "resumed or reported. Restore it from a backup, or start a new sweep with another --out."
            ) from error

    def holds_results(self) -> bool:
        """Whether the folder holds result files (with or without a sweep.json)."""
        return any(path.exists() for path in (self.runs_dir, self.curves_dir, self.root / "manifest.sqlite"))

    # -- one writer at a time ------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.root / "sweep.lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one sweep; StoreError naming the holder when another process has it.

        The lock is an ``flock`` (released by the kernel when its process dies, even by SIGKILL),
        so a crashed sweep never leaves a stale lock; ``sweep.lock.owner`` says who holds it.
        """
        owner_path = self.root / "sweep.lock.owner"
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with file_lock(self.root / "sweep", timeout=0):
                owner = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "command": " ".join(sys.argv),
                }
                atomic_write_text(owner_path, json.dumps(owner))
                try:
                    yield
                finally:
                    owner_path.unlink(missing_ok=True)
        except Timeout:
            raise StoreError(
                f"Another sweep is using {self.root} ({self._owner(owner_path)}; lock {self.lock_path}). "
                "Two sweeps writing one store could run a run twice; wait for that one to finish (or stop it), "
                "then run this command again, or use another --out."
            ) from None

    @staticmethod
    def _owner(owner_path: Path) -> str:
        try:
            owner = json.loads(owner_path.read_text())
            return f"process {owner['pid']} on {owner['host']}, since {owner['started']}: {owner['command']}"
        except (OSError, ValueError, KeyError):
            return "a process that has not said which"

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
        _atomic_write_parquet(curve, self.curve_path(spec.run_id))
        finished_at = time.time()
        row = identity | {
            "policy_params": json.dumps(spec.policy_params, sort_keys=True, default=str),
            "device": spec.device,
            "seconds": result.seconds,
            "resumed_from": result.resumed_from,
            "finished_at": finished_at,
            **result.metrics,
            **{f"ope_{name}": value for name, value in result.off_policy.items()},
        }
        _atomic_write_parquet(pd.DataFrame([row]), self.run_path(spec.run_id))
        self._index(identity | {"seconds": result.seconds, "finished_at": finished_at})
        self._drop_checkpoint(spec)

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.parquet"

    def curve_path(self, run_id: str) -> Path:
        return self.curves_dir / f"{run_id}.parquet"

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
        """Every finished run, one row each (metrics as columns), sorted by scenario, policy, seed.

        An unreadable file is left out with an ``UnreadableResultWarning`` naming it.
        """
        frames = list(self._read_all(self.runs_dir).values())
        if not frames:
            return pd.DataFrame(columns=["run_id", "scenario", "policy", "policy_label", "seed"])
        return pd.concat(frames, ignore_index=True).sort_values(["scenario", "policy_label", "seed"], ignore_index=True)

    def curves(self) -> pd.DataFrame:
        """Every finished run's learning curve, long format (unreadable files left out, with a warning)."""
        frames = [frame for frame in self._read_all(self.curves_dir).values() if len(frame)]
        if not frames:
            return pd.DataFrame(columns=["run_id", "scenario", "policy_label", "seed", "user_steps", "reward"])
        return pd.concat(frames, ignore_index=True)

    def unreadable(self) -> dict[Path, str]:
        """Result files (runs/ and curves/) that cannot be read, each with the reader's error."""
        bad: dict[Path, str] = {}
        for folder in (self.runs_dir, self.curves_dir):
            for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
                try:
                    pd.read_parquet(path)
                except UNREADABLE as error:
                    bad[path] = f"{type(error).__name__}: {error}"
        return bad

    def quarantine_unreadable(self) -> list[Path]:
        """Move every unreadable result file to ``quarantine/`` (a note beside each), so the run runs again.

        A run whose row or curve is damaged counts as unfinished: both of its files move (a
        readable curve of a damaged row would otherwise be paired with the rerun's row).
        Nothing is deleted. Returns where the files went. Call only while holding ``lock``.
        """
        moved = []
        bad = self.unreadable()
        run_ids = {path.name.removesuffix(".parquet") for path in bad}
        for run_id in sorted(run_ids):
            for path in (self.run_path(run_id), self.curve_path(run_id)):
                if path.exists():
                    moved.append(self._move_to_quarantine(path, bad.get(path, "its run's other file is unreadable")))
            with self._manifest() as connection:
                connection.execute(_MANIFEST_SCHEMA)
                connection.execute("delete from runs where run_id = ?", (run_id,))
        return moved

    def _move_to_quarantine(self, path: Path, reason: str) -> Path:
        target = self.root / "quarantine" / path.relative_to(self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if target.exists():
            target = target.with_name(f"{target.name}.{stamp}-{os.getpid()}")
        shutil.move(path, target)
        atomic_write_text(
            target.with_name(target.name + ".why.txt"),
            f"{path.relative_to(self.root)} could not be read on {stamp} ({reason}).\n"
            "`recgym sweep --resume` moved it here and runs its run again; "
            "delete this file once you no longer need it.\n",
        )
        return target

    def _read_all(self, folder: Path) -> dict[Path, pd.DataFrame]:
        """Each readable Parquet file of ``folder``; each unreadable one named in a warning."""
        frames: dict[Path, pd.DataFrame] = {}
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            try:
                frames[path] = pd.read_parquet(path)
            except UNREADABLE as error:
                warnings.warn(
                    UnreadableResultWarning(
                        f"{path} cannot be read ({type(error).__name__}: {error}); it is left out. "
                        f"`recgym sweep --resume --out {self.root}` moves it to {self.root / 'quarantine'} and runs "
                        "that run again."
                    ),
                    stacklevel=3,
                )
        return frames


def _atomic_write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Serialise in memory, then one atomic write under a name unique to this process (recgym.core.files)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())
