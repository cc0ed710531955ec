"""``recgym evaluate``: a trained policy scored on fresh users beside random and myopic greedy.

The policy comes from a run folder (or its ``checkpoint.pt``), rebuilt through its trainer,
or from a policy file (``policy.save`` or the ``policy-<steps>-steps.pt`` that ``recgym train``
writes), rebuilt on its own without trainer, env or replay. Both give the same figures.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from policies.artefacts import env_interface, interface_differences, read_policy_file
from policies.baselines import MyopicGreedyPolicy, RandomPolicy
from policies.rl.trainer import CHECKPOINT_NAME, Trainer
from recgym.core.device import resolve_device
from recgym.core.files import write_new_text
from recgym.core.random import population_seed
from recgym.core.rollout import MetricSummary, evaluate_policy
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError
from recgym.rl import load_trainer

EVALUATED = ("watch_time", "return_visits", "clicks", "length")


@dataclasses.dataclass(frozen=True)
class PolicyUnderTest:
    """The policy to score, its name in the table and what it was trained on (env id, options, interface)."""

    name: str
    policy: Any
    trained_on: dict[str, Any] | None


def trained_on(trainer: Trainer) -> dict[str, Any]:
    """What a trainer's policy was trained on, as its policy file keeps it."""
    config = trainer.config
    named = {"algorithm": trainer.algorithm, "env_id": config.env_id, "env_kwargs": config.env_kwargs}
    return named | env_interface(trainer.env)


def policy_under_test(path: Path, device: torch.device) -> PolicyUnderTest:
    """The policy at ``path``: a run folder or its checkpoint through the trainer, any other file as a policy file."""
    if not path.exists():
        raise ConfigError(
            f"No run folder, checkpoint or policy file at {path}; train one with `recgym train --out DIR` "
            "(it writes DIR/checkpoint.pt and DIR/policy-<steps>-steps.pt) or save one with policy.save(path)."
        )
    if path.is_dir() or path.name == CHECKPOINT_NAME:
        trainer = load_trainer(path, device=str(device))
        return PolicyUnderTest(trainer.algorithm, trainer.policy(), trained_on(trainer))
    saved = read_policy_file(path, device)
    recorded = saved.trained_on or {}
    return PolicyUnderTest(recorded.get("algorithm", type(saved.policy).__name__), saved.policy, saved.trained_on)


def run_evaluate(
    path: Path,
    console: Console,
    num_users: int = 1024,
    seed: int = 0,
    device: str = "auto",
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    baselines: bool = True,
    out: Path | None = None,
) -> dict[str, dict[str, MetricSummary]]:
    """Score the policy at ``path`` (and random and myopic greedy) on fresh users, one whole episode each.

    The users are population ``seed`` of the evaluation stream (``population_seed``): never
    users the policy trained on, and disjoint from every other ``seed``. ``out`` (.json or
    .md, a new file) keeps the table.
    """
    if out is not None:
        _check_table_path(out)
    if num_users <= 0:
        raise ConfigError(f"--num-users must be a positive integer; got {num_users}.")
    resolved = resolve_device(device)
    tested = policy_under_test(path, resolved)
    recorded = tested.trained_on or {}
    if env_id is None and "env_id" not in recorded:
        raise ConfigError(f"{path} does not say which env its policy was trained on; name one with --env ENV_ID.")
    env_id = env_id or recorded["env_id"]
    # The training env's options carry over to it, never to another simulator (whose options differ).
    carried = (recorded.get("env_kwargs") or {}) if env_id == recorded.get("env_id") else {}
    kwargs = {**carried, **(env_kwargs or {})}
    env = build_vector_env(env_id, num_users, resolved, kwargs)
    if "observation_shapes" in recorded:
        _check_same_interface(recorded, env, env_id, kwargs)
    users_seed = population_seed(seed, "evaluate")
    policies: dict[str, Any] = {tested.name: tested.policy}
    if baselines:
        policies["myopic greedy"] = MyopicGreedyPolicy(env.slate_size, seed=seed)
        policies["random"] = RandomPolicy(env.slate_size, seed=seed)
    results = {}
    with console.status(f"evaluating on {num_users} users of {env_id}"):
        for name, policy in policies.items():
            with torch.no_grad():
                results[name] = evaluate_policy(env, policy, seed=users_seed).summary()
    console.print(_results_table(results, title=f"{env_id} {kwargs or ''}"))
    if out is not None:
        _write_table(out, results, title=f"{env_id} {kwargs or ''}", num_users=num_users, seed=seed)
        console.print(f"Table written to {out}")
    return results


def _check_same_interface(recorded: dict[str, Any], env: Any, env_id: str, kwargs: dict[str, Any]) -> None:
    """The evaluation env shows the policy what it was trained on: same observation shapes, same slate."""
    differences = interface_differences(recorded, env, env_id)
    if differences:
        raise ConfigError(
            f"The policy was trained on {recorded.get('env_id', 'another env')} {recorded.get('env_kwargs') or ''}, "
            f"and {env_id} {kwargs or ''} shows it different inputs: {'; '.join(differences)}. Evaluate on an env "
            "with the same observation and slate shapes: match them with --env-kwarg (e.g. num_candidates=..., "
            "slate_size=..., history_length=...), or train a policy on this env."
        )


def _results_table(results: dict[str, dict[str, MetricSummary]], title: str) -> Table:
    table = Table(title=f"{title}: one episode per user, mean [95% CI]")
    table.add_column("policy")
    for measure in EVALUATED:
        table.add_column(measure.replace("_", " "), justify="right")
    for name, summary in results.items():
        table.add_row(
            name, *(f"{summary[m].mean:,.1f} [{summary[m].ci_low:,.1f}, {summary[m].ci_high:,.1f}]" for m in EVALUATED)
        )
    return table


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
