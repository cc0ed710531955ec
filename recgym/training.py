"""``recgym train``: RL trainers from the command line, with saved artefacts.

A run folder holds ``checkpoint.pt`` (written every ``checkpoint_every`` iterations and at
the end), ``tensorboard/`` (every logged metric), ``config.json`` and, at the end,
``policy-<steps>-steps.pt``: the trained policy on its own, which ``recgym.load_policy`` and
``recgym evaluate`` read without the trainer. ``--resume`` continues from the checkpoint to
an identical result; starting over in a folder that already has one is refused, so no run
is overwritten by accident.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from filelock import Timeout
from rich.console import Console
from rich.table import Table

from policies.artefacts import SaveablePolicy
from policies.rl.registry import trainer_class
from policies.rl.trainer import CHECKPOINT_NAME, Trainer
from recgym.core.files import atomic_write_text, file_lock
from recgym.errors import ConfigError
from recgym.evaluation import trained_on
from recgym.rl import load_trainer, make_trainer


def parse_assignments(pairs: list[str] | None, option: str) -> dict[str, Any]:
    """``key=value`` pairs as a dict; values are read as JSON when they parse (numbers, lists), else strings."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        key, separator, text = pair.partition("=")
        if not separator or not key:
            raise ConfigError(f"{option} takes key=value; got {pair!r}.")
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text
    return values


@dataclasses.dataclass(frozen=True)
class TrainRequest:
    """What ``recgym train`` was asked to do."""

    algorithm: str
    env_id: str | None
    out: Path
    resume: bool
    total_steps: int | None
    num_users: int | None
    device: str | None
    seed: int | None
    env_kwargs: dict[str, Any]
    fields: dict[str, Any]


def _requested_fields(request: TrainRequest) -> dict[str, Any]:
    named = {
        "env_id": request.env_id,
        "total_steps": request.total_steps,
        "num_users": request.num_users,
        "device": request.device,
        "seed": request.seed,
    }
    fields = {key: value for key, value in named.items() if value is not None} | request.fields
    if request.env_kwargs:
        fields["env_kwargs"] = request.env_kwargs
    return fields


def build_trainer(request: TrainRequest) -> Trainer:
    """A new trainer, or the one saved in ``request.out`` when resuming; refuses to overwrite a run."""
    checkpoint = request.out / CHECKPOINT_NAME
    fields = _requested_fields(request)
    if request.resume:
        if not checkpoint.is_file():
            raise ConfigError(f"--resume: no checkpoint at {checkpoint}; start the run without --resume first.")
        return load_trainer(request.out, **fields)
    if checkpoint.exists():
        raise ConfigError(
            f"{request.out} already holds a run ({CHECKPOINT_NAME}); "
            "pass --resume to continue it or choose another --out."
        )
    if (request.out / "config.json").exists():
        raise ConfigError(
            f"{request.out} holds a run that stopped before its first checkpoint (config.json, no "
            f"{CHECKPOINT_NAME}); its files are kept. Choose another --out."
        )
    trainer_class(request.algorithm)  # an unknown name fails here, with a did-you-mean
    return make_trainer(request.algorithm, **fields, out_dir=request.out)


def run_train(request: TrainRequest, console: Console) -> Trainer:
    """Train with a progress bar, save artefacts, print the last iteration's figures.

    The run folder is locked while this runs: a second ``recgym train`` into it fails at once
    instead of overwriting this run's checkpoint (checked again under the lock).
    """
    created = not request.out.exists()
    lock = request.out / "train.lock"
    try:
        with file_lock(request.out / "train", timeout=0):
            return _train_locked(request, console)
    except Timeout:
        raise ConfigError(
            f"Another recgym train is writing {request.out} ({lock} is held); wait for it "
            "to finish, then pass --resume to continue it, or choose another --out."
        ) from None
    finally:
        if created and sorted(path.name for path in request.out.iterdir()) == [lock.name]:
            # A run that failed before writing anything leaves no folder behind (this command made it).
            lock.unlink()
            request.out.rmdir()


def _train_locked(request: TrainRequest, console: Console) -> Trainer:
    trainer = build_trainer(request)
    atomic_write_text(
        request.out / "config.json",
        json.dumps({"algorithm": trainer.algorithm, **trainer.config.to_dict()}, indent=2, default=str),
    )
    console.print(
        f"Training {trainer.algorithm} on {trainer.config.env_id}: {trainer.config.num_users} users on "
        f"{trainer.device}, {trainer.config.total_steps:,} user-steps (from {trainer.steps:,})."
    )
    history = trainer.train(progress=True)
    console.print(_last_iteration_table(trainer, history))
    console.print(_budget_note(trainer))
    console.print(
        f"Checkpoint: {request.out / CHECKPOINT_NAME}; curves: tensorboard --logdir {request.out / 'tensorboard'}"
    )
    console.print(_save_policy(trainer, request.out))
    return trainer


def policy_file_name(steps: int) -> str:
    """The name of the policy file a run writes after ``steps`` user-steps of training."""
    return f"policy-{steps}-steps.pt"


def _save_policy(trainer: Trainer, out: Path) -> str:
    """Save the trained policy on its own beside the checkpoint (a new file; one already there is kept)."""
    policy = trainer.policy()
    if not isinstance(policy, SaveablePolicy):
        return (
            f"{trainer.algorithm}'s policy ({type(policy).__name__}) does not save on its own yet; "
            f"evaluate it through the run folder: recgym evaluate {out}"
        )
    path = out / policy_file_name(trainer.steps)
    if path.exists():
        return f"Policy: {path} (saved before, at the same step; kept)"
    policy.save(path, trained_on=trained_on(trainer))
    return f"Policy: {path} (recgym evaluate {path}, or recgym.load_policy in Python)"


def _budget_note(trainer: Trainer) -> str:
    """How many user-steps were trained, against the request: iterations are whole, so it may be a little more."""
    requested = trainer.config.total_steps
    if trainer.steps == requested:
        return f"Trained {trainer.steps:,} user-steps, as requested."
    per_iteration = trainer.config.num_users * trainer.config.rollout_steps
    return (
        f"Trained {trainer.steps:,} user-steps (requested {requested:,}): training runs whole iterations of "
        f"num_users x rollout_steps = {per_iteration:,} user-steps, so the last one went past the total."
    )


def _last_iteration_table(trainer: Trainer, history: list[dict[str, float]]) -> Table:
    table = Table(title=f"{trainer.algorithm}: last training iteration")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in (history[-1] if history else {}).items():
        table.add_row(name, f"{value:,.4g}")
    return table
