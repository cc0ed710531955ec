"""The end-to-end demo: a short sweep (baselines, bandits and PPO on two shipped scenarios) and its report.

It is what a newcomer runs first: policies learn (bandits online, PPO by training), are
scored on fresh simulated users over whole episodes, and the results land in a sweep
folder with an HTML report (rankings with confidence intervals, learning curves and
trade-off plots) and a Markdown summary printed to the terminal.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from recgym.errors import ConfigError

if TYPE_CHECKING:
    from recgym.sweep import ResultsStore, SweepPlan

DEMO_SCENARIOS = ("clickbait_vs_satisfaction", "interest_drift")
DEMO_POLICIES = ("random", "myopic_greedy", "oracle_greedy", "linucb", "thompson", "ppo")


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; every field is a ``recgym demo`` option."""

    seeds: int = 2
    """Seeds per scenario and policy (confidence intervals are over seeds)."""
    rl_steps: int = 60_000
    """PPO training user-steps per run (the scenarios' own budgets are larger)."""
    workers: int = 2
    """Runs in parallel, one process each."""
    num_users: int | None = None
    """Users per run (default: each scenario's population); fewer makes a faster, noisier demo."""
    out: Path | None = None
    """Sweep folder; it must not exist or be empty. None: ``runs/demo``, or the first free ``runs/demo-N``."""


DEFAULT_OUT = Path("runs/demo")


def demo_folder(out: Path | None) -> Path:
    """Where this demo writes: never a folder that already holds files (results are never replaced).

    An explicit ``out`` that holds anything is refused; the default is ``runs/demo``, or
    ``runs/demo-2``, ``-3``, ... when earlier demos are there (claimed by creating it), so
    ``make demo`` can be rerun.
    """
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(
                f"{out} already exists and is not an empty folder; recgym never deletes or replaces results it did "
                "not create in this command. Pick another folder with --out NEW_DIR (or omit --out for a fresh "
                "runs/demo-N)."
            )
        return out
    DEFAULT_OUT.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = DEFAULT_OUT, 1
    while True:
        try:
            candidate.mkdir()  # claims the name: two demos started at once never share a folder
            return candidate
        except FileExistsError:
            number += 1
            candidate = DEFAULT_OUT.with_name(f"{DEFAULT_OUT.name}-{number}")


def demo_plan(config: DemoConfig) -> SweepPlan:
    """The demo's sweep: shipped scenarios with PPO's budget cut to ``config.rl_steps`` (and users to ``num_users``)."""
    from recgym.sweep import SweepPlan
    from scenarios import load_scenario

    scenarios = []
    for name in DEMO_SCENARIOS:
        scenario = load_scenario(name)
        training = dataclasses.replace(scenario.training, rl_steps=config.rl_steps)
        population = scenario.population
        if config.num_users is not None:
            population = dataclasses.replace(population, num_users=config.num_users)
        scenarios.append(dataclasses.replace(scenario, training=training, population=population))
    return SweepPlan(scenarios, list(DEMO_POLICIES), list(range(config.seeds)))


def run_demo(config: DemoConfig, console: Console | None = None) -> ResultsStore:
    """Run the demo sweep into ``config.out``, write the report, print the summary; returns the store."""
    from recgym.report import print_summaries, summarise_store, write_report
    from recgym.sweep import LocalExecutor, run_sweep

    console = console or Console()
    plan = demo_plan(config)  # validated before anything is written
    out = demo_folder(config.out)
    console.print(f"Demo sweep into {out}")
    store = run_sweep(plan, out, LocalExecutor(config.workers), console=console)
    html_path, markdown_path = write_report(out)
    print_summaries(summarise_store(store), console)
    console.print(
        f"Open {html_path} in a browser for every metric and the plots ({markdown_path} for a terminal); "
        f"the runs are Parquet files in {out}/runs."
    )
    return store
