"""Run a sweep into a results store, with a progress bar; resume one that was interrupted."""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from recgym.errors import ConfigError
from recgym.sweep.executors import Executor, LocalExecutor
from recgym.sweep.plan import SweepPlan
from recgym.sweep.policies import policy_entry
from recgym.sweep.run import RunSpec
from recgym.sweep.store import ResultsStore
from scenarios.loader import check_buildable


def versions() -> dict[str, str]:
    """Versions of what produced the results, for the report's provenance section."""
    import gymnasium
    import torch

    import recgym

    found = {
        "recgym": getattr(recgym, "__version__", "unknown"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import subprocess

        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        if commit:
            found["git_commit"] = commit
    except OSError:
        pass
    return found


def run_sweep(
    plan: SweepPlan | None,
    out: str | Path,
    executor: Executor | None = None,
    resume: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> ResultsStore:
    """Run every run of ``plan`` not yet in ``out``; each result is stored the moment it finishes.

    A new sweep refuses a folder that already holds one (pass ``resume=True`` to continue
    it; the stored plan is used and ``plan`` may be None). Every scenario is
    built once before any run starts, so a bad parameter fails at once.
    """
    console = console or Console()
    store = ResultsStore(out)
    if store.exists() and not resume:
        raise ConfigError(f"{out} already holds a sweep; pass --resume to continue it, or choose another --out.")
    if resume:
        if not store.exists():
            raise ConfigError(f"Nothing to resume in {out}: no sweep.json there. Start the sweep without --resume.")
        plan = SweepPlan.from_dict(store.read_plan()["plan"])
        store.sync_manifest()
    elif plan is None:
        raise ConfigError("run_sweep needs a plan unless it resumes a stored sweep.")
    for scenario in {scenario.name: scenario for scenario in plan.scenarios}.values():
        check_buildable(scenario)
    if not resume:
        store.write_plan({"plan": plan.to_dict(), "versions": versions(), "created": time.time()})
    specs = [_with_checkpoints(store, spec) for spec in plan.specs()]
    finished = store.finished_ids()
    todo = [spec for spec in specs if spec.run_id not in finished]
    if resume:
        console.print(f"Resuming {out}: {len(specs) - len(todo)} of {len(specs)} runs already finished.")
    _execute(store, todo, executor or LocalExecutor(), len(specs), len(specs) - len(todo), progress, console)
    return store


def _with_checkpoints(store: ResultsStore, spec: RunSpec) -> RunSpec:
    """RL runs checkpoint into the store, so an interrupted sweep resumes their training, not restarts it."""
    if policy_entry(spec.policy).kind != "rl":
        return spec
    return dataclasses.replace(spec, checkpoint_dir=str(store.checkpoint_dir(spec)))


def _execute(
    store: ResultsStore,
    todo: list[Any],
    executor: Executor,
    total: int,
    already: int,
    progress: bool,
    console: Console,
) -> None:
    columns = (
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task("sweep", total=total, completed=already, last="")
        for spec, result in executor.run(todo):
            store.write_run(spec, result)
            bar.update(task, advance=1, last=f"{spec.run_id} ({result.seconds:.0f} s)")
