"""The end-to-end demo: baselines and a briefly trained SB3 PPO on interest-evolution users."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from policies import MostPopularPolicy, MyopicGreedyPolicy, RandomPolicy
from policies.sb3 import SB3Policy
from recgym.core.device import resolve_device
from recgym.envs.vector_env import RecVectorEnv
from recgym.eval.rollout import EpisodeTotals, MetricSummary, evaluate_policy
from recgym.wrappers.sb3 import SB3VecEnv

ENV_ID = "recgym/InterestEvolution-v0"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; every field is a ``recgym demo`` option."""

    num_users: int = 256
    """Users evaluated per policy (each for one session)."""
    train_steps: int = 100_000
    """User-steps of PPO training."""
    train_users: int = 128
    """Users simulated in parallel while PPO trains."""
    device: str = "auto"
    """Torch device of the simulator ('auto' picks CUDA when present)."""
    seed: int = 0
    """Seed of users, policies and PPO."""
    out: Path = Path("runs/demo")
    """Folder for results.json and report.md."""


class _ProgressCallback(BaseCallback):
    """Advances a rich progress bar as SB3 collects user-steps."""

    def __init__(self, progress: Progress, task: Any) -> None:
        super().__init__()
        self.progress, self.task = progress, task

    def _on_step(self) -> bool:
        self.progress.update(self.task, completed=self.num_timesteps)
        return True


def _make_env(config: DemoConfig, num_users: int) -> RecVectorEnv:
    device = str(resolve_device(config.device))
    env = gym.make_vec(ENV_ID, num_envs=num_users, vectorization_mode="vector_entry_point", device=device)
    return env.unwrapped


def _evaluate(progress: Progress, name: str, env: RecVectorEnv, policy: Any, seed: int) -> EpisodeTotals:
    task = progress.add_task(f"evaluate {name}", total=env.num_envs)
    return evaluate_policy(env, policy, seed=seed, on_step=lambda done, _: progress.update(task, completed=done))


def _train_ppo(progress: Progress, config: DemoConfig) -> SB3Policy:
    adapter = SB3VecEnv(_make_env(config, config.train_users))
    model = PPO(
        "MultiInputPolicy",
        adapter,
        n_steps=32,
        batch_size=1024,
        learning_rate=3e-4,
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    task = progress.add_task("train SB3 PPO", total=config.train_steps)
    model.learn(config.train_steps, callback=_ProgressCallback(progress, task))
    return SB3Policy(model, adapter)


def _cells(summary: dict[str, MetricSummary]) -> list[str]:
    """'mean [low, high]' for watch time, clicks and session length, in table order."""
    return [
        f"{summary[key].mean:.1f} [{summary[key].ci_low:.1f}, {summary[key].ci_high:.1f}]"
        for key in ("watch_time", "clicks", "length")
    ]


def _table(results: dict[str, dict[str, MetricSummary]]) -> Table:
    table = Table(title=f"{ENV_ID}: one session per user, mean [95% CI]")
    table.add_column("policy")
    for heading in ("watch time / session (min)", "clicks / session", "session length (steps)"):
        table.add_column(heading, justify="right")
    for name, summary in results.items():
        table.add_row(name, *_cells(summary))
    return table


def _write_report(config: DemoConfig, results: dict[str, dict[str, MetricSummary]], seconds: float) -> None:
    config.out.mkdir(parents=True, exist_ok=True)
    serialisable = {
        name: {key: dataclasses.asdict(value) for key, value in summary.items()} for name, summary in results.items()
    }
    settings = {key: str(value) for key, value in dataclasses.asdict(config).items()}
    (config.out / "results.json").write_text(
        json.dumps({"env": ENV_ID, "config": settings, "seconds": seconds, "results": serialisable}, indent=2)
    )
    lines = [
        f"# recgym demo: {ENV_ID}",
        "",
        f"{config.num_users} users per policy, one session each; PPO trained for {config.train_steps} user-steps.",
        "",
        "| policy | watch time / session (min) | clicks / session | session length |",
        "|---|---|---|---|",
    ]
    for name, summary in results.items():
        lines.append(f"| {name} | " + " | ".join(_cells(summary)) + " |")
    (config.out / "report.md").write_text("\n".join(lines) + "\n")


def run_demo(config: DemoConfig, console: Console | None = None) -> dict[str, dict[str, MetricSummary]]:
    """Train, evaluate, print the comparison table and write the report; returns the summaries."""
    console = console or Console()
    started = time.perf_counter()
    env = _make_env(config, config.num_users)
    catalog_size = env.simulator.catalog.num_items
    policies: dict[str, Any] = {
        "random": RandomPolicy(env.slate_size, seed=config.seed),
        "most popular": MostPopularPolicy(catalog_size, env.slate_size, seed=config.seed),
        "myopic greedy": MyopicGreedyPolicy(env.slate_size, seed=config.seed),
    }
    results: dict[str, dict[str, MetricSummary]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        policies["SB3 PPO"] = _train_ppo(progress, config)
        for name, policy in policies.items():
            results[name] = _evaluate(progress, name, env, policy, config.seed + 1).summary()
    console.print(_table(results))
    _write_report(config, results, time.perf_counter() - started)
    console.print(f"Report written to {config.out / 'report.md'} and {config.out / 'results.json'}.")
    return results
