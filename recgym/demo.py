"""The end-to-end demo: a short sweep (baselines, bandits and PPO on two shipped scenarios) and its report.

It is what a newcomer runs first: policies learn (bandits online, PPO by training), are
scored on fresh simulated users over whole episodes, and the results land in a sweep
folder with an HTML report (rankings with confidence intervals, learning curves and
trade-off plots) and a Markdown summary printed to the terminal.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from rich.console import Console

from recgym.report import print_summaries, summarise_store, write_report
from recgym.sweep import LocalExecutor, ResultsStore, SweepPlan, run_sweep
from scenarios import load_scenario

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
    out: Path = Path("runs/demo")
    """Sweep folder; a previous demo there is replaced."""


def demo_plan(config: DemoConfig) -> SweepPlan:
    """The demo's sweep: shipped scenarios with PPO's budget cut to ``config.rl_steps`` (and users to ``num_users``)."""
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
    console = console or Console()
    if ResultsStore(config.out).exists():
        shutil.rmtree(config.out)
    store = run_sweep(demo_plan(config), config.out, LocalExecutor(config.workers), console=console)
    html_path, markdown_path = write_report(config.out)
    print_summaries(summarise_store(store), console)
    console.print(
        f"Open {html_path} in a browser for every metric and the plots ({markdown_path} for a terminal); "
        f"the runs are Parquet files in {config.out}/runs."
    )
    return store
