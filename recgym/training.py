"""``recgym train`` and ``recgym evaluate``: RL trainers from the command line, with saved artefacts.

A run folder holds ``checkpoint.pt`` (written every ``checkpoint_every`` iterations and at
the end), ``tensorboard/`` (every logged metric) and ``config.json``. ``--resume``
continues from the checkpoint to an identical result; starting over in a folder that
already has one is refused, so no run is overwritten by accident.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from filelock import Timeout
from rich.console import Console
from rich.table import Table

from policies.baselines import MyopicGreedyPolicy, RandomPolicy
from policies.rl.registry import load_trainer, make_trainer, trainer_class
from policies.rl.trainer import CHECKPOINT_NAME, Trainer
from recgym.core.device import resolve_device
from recgym.core.files import atomic_write_text, file_lock, write_new_text
from recgym.core.random import population_seed
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError
from recgym.eval.rollout import MetricSummary, evaluate_policy

EVALUATED = ("watch_time", "return_visits", "clicks", "length")


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
    return trainer


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


def run_evaluate(
    checkpoint: Path,
    console: Console,
    num_users: int = 1024,
    seed: int = 0,
    device: str = "auto",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    baselines: bool = True,
    out: Path | None = None,
) -> dict[str, dict[str, MetricSummary]]:
    """Score a saved policy (and random and myopic greedy) on fresh users, one whole episode each.

    The users are population ``seed`` of the evaluation stream (``population_seed``): never
    users the policy trained on, and disjoint from every other ``seed``. ``out`` (.json or
    .md, a new file) keeps the table.
    """
    if out is not None:
        _check_table_path(out)
    if num_users <= 0:
        raise ConfigError(f"--num-users must be a positive integer; got {num_users}.")
    resolved = resolve_device(device)
    trainer = load_trainer(checkpoint, device=str(resolved))
    env_id = env_id or trainer.config.env_id
    # The training env's options carry over to it, never to another simulator (whose options differ).
    carried = trainer.config.env_kwargs if env_id == trainer.config.env_id else {}
    kwargs = {**carried, **(env_kwargs or {})}
    env = build_vector_env(env_id, num_users, resolved, kwargs)
    _check_same_interface(trainer, env, env_id, kwargs)
    users_seed = population_seed(seed, "evaluate")
    policies: dict[str, Any] = {trainer.algorithm: trainer.policy()}
    if baselines:
        policies["myopic greedy"] = MyopicGreedyPolicy(env.slate_size, seed=seed)
        policies["random"] = RandomPolicy(env.slate_size, seed=seed)
    results = {}
    with console.status(f"evaluating on {num_users} users of {env_id}"):
        for name, policy in policies.items():
            with torch.no_grad():
                results[name] = evaluate_policy(env, policy, seed=users_seed).summary()
    table = Table(title=f"{env_id} {kwargs or ''}: one episode per user, mean [95% CI]")
    table.add_column("policy")
    for measure in EVALUATED:
        table.add_column(measure.replace("_", " "), justify="right")
    for name, summary in results.items():
        table.add_row(
            name, *(f"{summary[m].mean:,.1f} [{summary[m].ci_low:,.1f}, {summary[m].ci_high:,.1f}]" for m in EVALUATED)
        )
    console.print(table)
    if out is not None:
        _write_table(out, results, title=f"{env_id} {kwargs or ''}", num_users=num_users, seed=seed)
        console.print(f"Table written to {out}")
    return results


def _check_same_interface(trainer: Trainer, env: Any, env_id: str, kwargs: dict[str, Any]) -> None:
    """The evaluation env shows the policy what it was trained on: same observation shapes, same slate."""
    trained = trainer.env.single_observation_space.spaces
    offered = env.single_observation_space.spaces
    differences = [
        f"{name}: trained on {space.shape}, {env_id} gives {offered[name].shape if name in offered else 'none'}"
        for name, space in trained.items()
        if name not in offered or space.shape != offered[name].shape
    ]
    if trainer.env.single_action_space.shape != env.single_action_space.shape or trainer.slate_size != env.slate_size:
        differences.append(f"slate: trained on {trainer.slate_size} items, {env_id} shows {env.slate_size}")
    if differences:
        raise ConfigError(
            f"The policy in this checkpoint was trained on {trainer.config.env_id} {trainer.config.env_kwargs or ''}, "
            f"and {env_id} {kwargs or ''} shows it different inputs: {'; '.join(differences)}. Evaluate on an env "
            "with the same observation and slate shapes: match them with --env-kwarg (e.g. num_candidates=..., "
            "slate_size=..., history_length=...), or train a policy on this env."
        )


_TABLE_SUFFIXES = (".json", ".md")


def _check_table_path(out: Path) -> None:
    if out.suffix not in _TABLE_SUFFIXES:
        raise ConfigError(f"--out {out}: the table is written as .json or .md; got suffix {out.suffix!r}.")
    if out.exists():
        raise ConfigError(f"--out {out} already exists; recgym never overwrites a result. Choose a new file name.")


def _write_table(
    out: Path, results: dict[str, dict[str, MetricSummary]], title: str, num_users: int, seed: int
) -> None:
    """The evaluation table as JSON (every figure) or Markdown (mean [95% CI]), written atomically to a new file."""
    if out.suffix == ".json":
        payload = {
            "env": title.strip(),
            "num_users": num_users,
            "seed": seed,
            "policies": {
                name: {measure: dataclasses.asdict(value) for measure, value in summary.items()}
                for name, summary in results.items()
            },
        }
        text = json.dumps(payload, indent=2)
    else:
        header = "| policy | " + " | ".join(measure.replace("_", " ") for measure in EVALUATED) + " |"
        rows = [
            f"| {name} | "
            + " | ".join(f"{s[m].mean:.4g} [{s[m].ci_low:.4g}, {s[m].ci_high:.4g}]" for m in EVALUATED)
            + " |"
            for name, s in results.items()
        ]
        separator = "|---|" + "---:|" * len(EVALUATED)
        text = "\n".join(
            [
                f"# {title.strip()}: one episode per user, mean [95% CI]",
                "",
                f"{num_users} users, seed {seed}.",
                "",
                header,
                separator,
                *rows,
                "",
            ]
        )
    try:
        write_new_text(out, text)
    except FileExistsError as error:
        raise ConfigError(f"--out {out} appeared while evaluating; it is kept. Choose a new file name.") from error
