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
from rich.console import Console
from rich.table import Table

from policies.baselines import MyopicGreedyPolicy, RandomPolicy
from policies.rl.registry import ALGORITHMS, load_trainer, make_trainer
from policies.rl.trainer import CHECKPOINT_NAME, Trainer, make_vector_env
from recgym.core.device import resolve_device
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
    if request.algorithm not in ALGORITHMS:
        raise ConfigError(f"Unknown algorithm {request.algorithm!r}; choose one of {sorted(ALGORITHMS)}.")
    return make_trainer(request.algorithm, **fields, out_dir=request.out)


def run_train(request: TrainRequest, console: Console) -> Trainer:
    """Train with a progress bar, save artefacts, print the last iteration's figures."""
    trainer = build_trainer(request)
    request.out.mkdir(parents=True, exist_ok=True)
    (request.out / "config.json").write_text(
        json.dumps({"algorithm": trainer.algorithm, **trainer.config.to_dict()}, indent=2, default=str)
    )
    console.print(
        f"Training {trainer.algorithm} on {trainer.config.env_id}: {trainer.config.num_users} users on "
        f"{trainer.device}, {trainer.config.total_steps:,} user-steps (from {trainer.steps:,})."
    )
    history = trainer.train(progress=True)
    console.print(_last_iteration_table(trainer, history))
    console.print(
        f"Checkpoint: {request.out / CHECKPOINT_NAME}; curves: tensorboard --logdir {request.out / 'tensorboard'}"
    )
    return trainer


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
    seed: int = 1_000_000,
    device: str = "auto",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    baselines: bool = True,
) -> dict[str, dict[str, MetricSummary]]:
    """Score a saved policy (and random and myopic greedy) on fresh users, one whole episode each."""
    resolved = resolve_device(device)
    trainer = load_trainer(checkpoint, device=str(resolved))
    env_id = env_id or trainer.config.env_id
    kwargs = {**trainer.config.env_kwargs, **(env_kwargs or {})}
    env = make_vector_env(env_id, num_users, resolved, kwargs)
    policies: dict[str, Any] = {trainer.algorithm: trainer.policy()}
    if baselines:
        policies["myopic greedy"] = MyopicGreedyPolicy(env.slate_size, seed=seed)
        policies["random"] = RandomPolicy(env.slate_size, seed=seed)
    results = {}
    with console.status(f"evaluating on {num_users} users of {env_id}"):
        for name, policy in policies.items():
            with torch.no_grad():
                results[name] = evaluate_policy(env, policy, seed=seed).summary()
    table = Table(title=f"{env_id} {kwargs or ''}: one episode per user, mean [95% CI]")
    table.add_column("policy")
    for measure in EVALUATED:
        table.add_column(measure.replace("_", " "), justify="right")
    for name, summary in results.items():
        table.add_row(
            name, *(f"{summary[m].mean:,.1f} [{summary[m].ci_low:,.1f}, {summary[m].ci_high:,.1f}]" for m in EVALUATED)
        )
    console.print(table)
    return results
