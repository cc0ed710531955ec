"""What ``recgym sweep`` was asked for, turned into a plan: a new sweep's, or what a ``--resume`` adds.

Options left out are ``None``: a new sweep takes the defaults below, a resume keeps the
stored plan's value. Exact repeats on the command line (a scenario named twice, even by two
paths to one file; a policy, grid entry or grid value given twice) are dropped with a note,
so each run runs once; two different files that share a scenario name are refused by the
plan, naming both.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path

from recgym.errors import ConfigError
from recgym.sweep.plan import SweepPlan, dedupe, parse_grid, with_num_users
from recgym.sweep.store import ResultsStore

DEFAULT_SEEDS = 3
DEFAULT_DEVICE = "cpu"


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """The plan options of ``recgym sweep``; ``None`` means the option was not given."""

    scenarios: Sequence[str] = ()
    """Shipped scenario names or scenario files; none on a resume keeps the stored scenarios."""
    policies: Sequence[str] | None = None
    """Policy names; None: each scenario's own list (new) or the stored list (resume)."""
    seeds: int | None = None
    """Seeds 0..N-1; None: DEFAULT_SEEDS (new) or the stored seeds (resume)."""
    grid: Sequence[str] | None = None
    """'KEY=V1,V2' entries; None: no grid (new) or the stored grid (resume)."""
    device: str | None = None
    """Torch device of the runs still to do; None: DEFAULT_DEVICE (new) or the stored device (resume)."""
    num_users: int | None = None
    """Users per run in every scenario of this command, replacing ``population.num_users``."""

    def plan(self, out: str | Path, resume: bool) -> tuple[SweepPlan | None, list[str]]:
        """The plan to run (None: resume the stored plan as it is) and notes for the user.

        On a resume the result is the stored plan with each given option replaced;
        ``run_sweep`` widens the stored plan by it (``SweepPlan.widened``).
        """
        from scenarios.loader import load_scenario, resolve_path

        notes: list[str] = []
        paths, repeated = dedupe([resolve_path(name) for name in self.scenarios], key=lambda path: path.resolve())
        notes += [f"scenario {path} is named more than once; it runs once." for path in repeated]
        policies, repeated = dedupe(list(self.policies)) if self.policies is not None else (None, [])
        notes += [f"policy {name} is named more than once; it runs once." for name in repeated]
        grid = None
        if self.grid is not None:
            entries, repeated = dedupe(list(self.grid))
            notes += [f"grid entry {entry} is given more than once; it counts once." for entry in repeated]
            grid = {}
            for key, values in parse_grid(entries).items():
                grid[key], repeated = dedupe(values)
                notes += [f"grid value {key}={value} is given more than once; it runs once." for value in repeated]
        scenarios = [load_scenario(path) for path in paths]
        stored = None
        if resume:
            store = ResultsStore(out)
            if not store.exists():
                return None, notes  # run_sweep says there is nothing to resume
            stored = SweepPlan.from_dict(store.read_plan()["plan"])
            if not self.given():
                return None, notes
            scenarios = scenarios or list(stored.scenarios)
        elif not scenarios:
            raise ConfigError("Name at least one scenario (`recgym scenarios` lists them) or a scenario file.")
        if self.num_users is not None:
            scenarios = [with_num_users(scenario, self.num_users) for scenario in scenarios]
        if self.seeds is not None and self.seeds <= 0:
            raise ConfigError(f"--seeds must be a positive integer (seeds 0..N-1); got {self.seeds}.")
        if stored is not None:
            default_policies, default_seeds, default_grid, default_device = (
                stored.policies,
                stored.seeds,
                stored.grid,
                stored.device,
            )
        else:
            default_policies, default_seeds, default_grid, default_device = (
                [],
                list(range(DEFAULT_SEEDS)),
                {},
                DEFAULT_DEVICE,
            )
        plan = SweepPlan(
            scenarios=scenarios,
            policies=list(policies if policies is not None else default_policies),
            seeds=list(range(self.seeds)) if self.seeds is not None else list(default_seeds),
            grid=grid if grid is not None else dict(default_grid),
            device=self.device or default_device,
        )
        return plan, notes

    def given(self) -> bool:
        """Whether any plan option was given (a bare ``--resume`` continues the stored plan as it is)."""
        options = (self.policies, self.seeds, self.grid, self.device, self.num_users)
        return bool(self.scenarios) or any(option is not None for option in options)


def resume_command(
    out: str | Path, executor: str = "local", workers: int | None = None, address: str | None = None
) -> str:
    """The exact command that continues the sweep in ``out`` (its plan is stored, so no plan options)."""
    command = ["recgym", "sweep", "--resume", "--out", str(out)]
    if executor != "local":
        command += ["--executor", executor]
    if address:
        command += ["--address", address]
    if workers:
        command += ["--workers", str(workers)]
    return shlex.join(command)
