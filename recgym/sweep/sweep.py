"""Run a sweep into a results store, with a progress bar; resume one that was interrupted."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from recgym.core.device import resolve_device
from recgym.errors import ConfigError, DeviceError, StoreError
from recgym.sweep.executors import Executor, LocalExecutor
from recgym.sweep.plan import SweepPlan
from recgym.sweep.policies import build_policy, policy_entry
from recgym.sweep.run import RunSpec, rl_config_fields
from recgym.sweep.store import ResultsStore
from scenarios.loader import check_buildable, check_scenario


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


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGINT) during a sweep, after its plan was stored: ``finished`` of ``total`` runs are kept."""

    def __init__(self, out: Path, finished: int, total: int) -> None:
        super().__init__(f"{finished} of {total} runs are stored in {out}")
        self.out, self.finished, self.total = out, finished, total


def run_sweep(
    plan: SweepPlan | None,
    out: str | Path,
    executor: Executor | None = None,
    resume: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> ResultsStore:
    """Run every run of ``plan`` not yet in ``out``; each result is stored the moment it finishes.

    A new sweep refuses a folder that already holds one. ``resume=True`` continues the stored
    sweep; with a ``plan`` too, the stored plan is widened by it (``SweepPlan.widened``: new
    seeds, policies, scenarios or grid values add runs, finished runs are kept as they are).
    The whole plan is checked (``check_plan``) before anything is written, so a bad device,
    grid key or scenario parameter leaves the folder as it was. Unreadable result files are
    moved to ``quarantine/`` and their runs run again. The store is locked for the whole
    sweep (another sweep on it fails at once, naming this one). Ctrl-C stops the workers and
    raises ``SweepInterrupted`` (a ``KeyboardInterrupt``) saying how many runs are kept.
    """
    console = console or Console()
    out = Path(out)
    store = ResultsStore(out)
    stored_data: dict[str, Any] | None = None
    stored: SweepPlan | None = None
    if resume:
        if not store.exists():
            raise ConfigError(f"Nothing to resume in {out}: no sweep.json there. Start the sweep without --resume.")
        stored_data = store.read_plan()
        stored = SweepPlan.from_dict(stored_data["plan"])
        plan = stored if plan is None else stored.widened(plan)
    elif plan is None:
        raise ConfigError("run_sweep needs a plan unless it resumes a stored sweep.")
    else:
        _refuse_to_reuse(store)
    plan = check_plan(plan, resuming=resume)
    try:
        with store.lock():
            _run_locked(store, plan, stored_data, stored, executor or LocalExecutor(), progress, console)
    except KeyboardInterrupt:
        if not store.exists():
            raise  # stopped before its plan was stored: the folder holds no sweep to resume
        run_ids = {spec.run_id for spec in plan.specs()}
        raise SweepInterrupted(out, len(run_ids & store.finished_ids()), len(run_ids)) from None
    return store


def _run_locked(
    store: ResultsStore,
    plan: SweepPlan,
    stored_data: dict[str, Any] | None,
    stored: SweepPlan | None,
    executor: Executor,
    progress: bool,
    console: Console,
) -> None:
    """The part of a sweep that writes: only while holding the store's lock."""
    if stored_data is not None and stored is not None:
        if store.read_plan() != stored_data:
            raise StoreError(f"{store.plan_path} changed while this command checked its plan; run it again.")
        _prepare_resume(store, stored_data, stored, plan, console)
    else:
        _refuse_to_reuse(store)  # again: another process may have started a sweep here meanwhile
        store.write_plan({"plan": plan.to_dict(), "versions": versions(), "created": time.time()})
    specs = [_with_checkpoints(store, spec) for spec in plan.specs()]
    finished = store.finished_ids()
    todo = [spec for spec in specs if spec.run_id not in finished]
    if stored is not None:
        console.print(escape(f"Resuming {store.root}: {len(specs) - len(todo)} of {len(specs)} runs already finished."))
    _execute(store, todo, executor, len(specs), len(specs) - len(todo), progress, console)


def _refuse_to_reuse(store: ResultsStore) -> None:
    """A new sweep never writes into a folder holding another sweep's results.

    Results are looked for before the plan: a sweep writes sweep.json before any result, so a
    sweep starting in another process meanwhile is named as a sweep, never as stray files.
    """
    holds_results = store.holds_results()
    if store.exists():
        raise ConfigError(
            f"{store.root} already holds a sweep; pass --resume to continue it (new --seeds, --policies or "
            "scenarios extend it), or choose another --out."
        )
    if holds_results:
        raise ConfigError(
            f"{store.root} holds result files (runs/, curves/ or manifest.sqlite) but no sweep.json, so they are "
            "not a sweep this command can continue; choose another --out (nothing there was changed)."
        )


def _prepare_resume(
    store: ResultsStore, stored_data: dict[str, Any], stored: SweepPlan, plan: SweepPlan, console: Console
) -> None:
    """Quarantine unreadable files, re-index the manifest, and store the widened plan (with its history)."""
    moved = store.quarantine_unreadable()
    if moved:
        console.print(
            escape(
                f"{len(moved)} unreadable result file(s) moved to {store.root / 'quarantine'} (a .why.txt note "
                f"beside each); their runs run again: {', '.join(str(path.name) for path in moved)}"
            ),
            style="yellow",
        )
    store.sync_manifest()
    changes = plan.changes_from(stored)
    if changes:
        new_runs = len({spec.run_id for spec in plan.specs()} - {spec.run_id for spec in stored.specs()})
        console.print(
            escape(f"Extending {store.root}: adds {'; '.join(changes)} ({new_runs} new runs; finished runs kept).")
        )
        history = [*stored_data.get("extended", []), {"at": time.time(), "adds": changes, "versions": versions()}]
        store.write_plan(stored_data | {"plan": plan.to_dict(), "extended": history})


def check_plan(plan: SweepPlan, resuming: bool = False) -> SweepPlan:
    """Everything that can fail before a run, checked before anything is written; the plan with its device resolved.

    The device must exist here (``recgym.core.device``); every scenario, and each variant a
    ``scenario.*`` grid key makes, passes the loader's checks and builds a one-user env;
    every static and online policy is built at each of its grid points on that env, and each
    RL policy's trainer config is validated, so a bad value fails now, not when its run starts.
    """
    from policies.rl.registry import config_for

    try:
        device = str(resolve_device(plan.device))
    except DeviceError as error:
        fix = (
            f" This sweep's plan asks for {plan.device!r}; continue it elsewhere with --resume --device cpu "
            "(the runs still to do use the new device; finished runs are kept)."
            if resuming
            else " Pass --device cpu (or 'auto')."
        )
        raise DeviceError(f"--device {plan.device}: {error}{fix}") from error
    plan = dataclasses.replace(plan, device=device)
    by_name: dict[str, list[RunSpec]] = {}
    for spec in plan.specs():
        by_name.setdefault(spec.scenario.name, []).append(spec)
    for name, specs in by_name.items():
        scenario = specs[0].scenario
        check_scenario(scenario)
        env = check_buildable(scenario)
        checked: set[str] = set()
        for spec in specs:
            point = json.dumps([spec.policy, spec.policy_params], sort_keys=True, default=str)
            if point in checked:
                continue
            checked.add(point)
            where = f"Scenario {name}, policy {spec.policy_label}"
            try:
                if policy_entry(spec.policy).kind == "rl":
                    config_for(spec.policy, **rl_config_fields(spec))
                else:
                    build_policy(spec.policy, env, scenario, spec.seed, spec.policy_params)
            except ConfigError as error:
                raise ConfigError(f"{where}: {error}") from error
    return plan


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
        # closing: whatever stops this loop (Ctrl-C, a failed write) also stops the executor's workers at once
        with contextlib.closing(executor.run(todo)) as results:
            for spec, result in results:
                store.write_run(spec, result)
                bar.update(task, advance=1, last=f"{spec.run_id} ({result.seconds:.0f} s)")
