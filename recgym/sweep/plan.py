"""A sweep's plan: scenarios x policies x seeds x parameter-grid points, as a list of ``RunSpec``.

Grid keys say what they vary:
- ``<policy>.<param>``, e.g. ``linucb.alpha=0.5,1,2``: that policy's constructor or RL config;
- ``scenario.<section>.<field>``, e.g. ``scenario.simulator.params.sensitivity=0.1,0.5``:
  every scenario's field; each value makes a derived scenario named ``<name>[field=value]``.

A plan's run ids are unique by construction: scenario names, policies, seeds and grid values
may not repeat (two files that share a scenario name are refused, naming both), and building
a plan checks that no two of its runs share an id. ``SweepPlan.widened`` is how ``--resume``
grows a stored plan (more seeds, policies, scenarios or grid values) without touching a
finished run, and refuses a change that would make the stored runs incomparable.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from recgym.errors import ConfigError
from recgym.sweep.policies import check_policy_parameters, policy_entry
from recgym.sweep.run import RunSpec
from scenarios.schema import Scenario, ScenarioError, parse_dataclass


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """The grid of one sweep, before any run."""

    scenarios: list[Scenario]
    policies: list[str]
    seeds: list[int]
    grid: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ConfigError("A sweep needs at least one scenario; `recgym scenarios` lists the shipped ones.")
        if not self.seeds:
            raise ConfigError("A sweep needs at least one seed (--seeds N).")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"Seeds are integers >= 0; got {seed!r}.")
        _refuse_repeats("seed", self.seeds)
        _refuse_repeats("policy", self.policies)
        _refuse_same_names(self.scenarios)
        for name in self.policies:
            policy_entry(name)
        policies = self.policies_run()
        for key, values in self.grid.items():
            target, _, field = key.partition(".")
            if not field or not values:
                raise ConfigError(
                    f"Grid entry {key!r} must look like 'policy.param=v1,v2' or 'scenario.section.field=v1,v2'."
                )
            _refuse_repeats(f"value of grid key {key}", values)
            if target == "scenario":
                continue
            policy_entry(target)
            if target not in policies:
                raise ConfigError(
                    f"Grid key {key!r} varies {target}, which this sweep does not run (policies: "
                    f"{', '.join(policies)}); add {target} to --policies or drop the key."
                )
            check_policy_parameters(target, {field: values[0]}, where="grid key")
        specs = self.specs()
        if not specs:
            raise ConfigError(
                "The plan has no runs: no --policies given and the scenarios list none of their own (their "
                "`policies` field), or exclude them all; pass --policies NAME ... (`recgym sweep --help`)."
            )
        counts = collections.Counter(spec.run_id for spec in specs)
        repeated = sorted(run_id for run_id, count in counts.items() if count > 1)
        if repeated:  # the checks above make this unreachable; a plan must never store two runs in one file
            raise ConfigError(f"The plan has runs that share an id, so one would overwrite another: {repeated[:5]}.")

    def policies_run(self) -> list[str]:
        """Every policy some scenario of the plan runs (``policies``, or each scenario's own list)."""
        names = dict.fromkeys(self.policies or [name for scenario in self.scenarios for name in scenario.policies])
        return list(names)

    def specs(self) -> list[RunSpec]:
        """Every run, in a fixed order: scenario, then policy, then grid point, then seed.

        A scenario's ``exclude_policies`` are skipped (e.g. the oracle where it costs an LLM call per item).
        """
        specs = []
        for scenario in self.scenario_variants():
            policies = [name for name in self.policies or scenario.policies if name not in scenario.exclude_policies]
            for policy in policies:
                for point in self.policy_points(policy):
                    for seed in self.seeds:
                        specs.append(RunSpec(scenario, policy, seed, point, self.device))
        return specs

    def policy_points(self, policy: str) -> list[dict[str, Any]]:
        """The parameter sets ``policy`` runs with: its grid points, or [{}] when the grid has none for it."""
        keys = [key for key in self.grid if key.partition(".")[0] == policy]
        return _points({key.partition(".")[2]: self.grid[key] for key in keys})

    def scenario_variants(self) -> list[Scenario]:
        """Each scenario at each point of the ``scenario.*`` grid keys (the scenarios themselves without any)."""
        keys = [key for key in self.grid if key.startswith("scenario.")]
        variants = []
        for scenario in self.scenarios:
            for point in _points({key.removeprefix("scenario."): self.grid[key] for key in keys}):
                variants.append(with_fields(scenario, point) if point else scenario)
        return variants

    def widened(self, request: SweepPlan) -> SweepPlan:
        """This (stored) plan grown by what ``request`` adds, for ``--resume`` with new arguments.

        Scenarios, policies, seeds and the values of existing grid keys are unions (stored
        first), so every stored run stays in the plan and only new runs are added; the device
        is ``request``'s (it applies to the runs still to do). Refused, with the way out: a
        scenario whose content differs from the stored one of that name, a change between
        each scenario's own policies and an explicit list, and adding or removing a grid key
        (the stored runs were made at the parameters' defaults, which no grid value names).
        """
        stored = {scenario.name: scenario for scenario in self.scenarios}
        for scenario in request.scenarios:
            if scenario.name in stored and _content(stored[scenario.name]) != _content(scenario):
                changed = _differences(_content(stored[scenario.name]), _content(scenario))
                raise ConfigError(
                    f"Scenario {scenario.name!r} differs from the one this sweep stored (changed: "
                    f"{', '.join(changed)}; now from {scenario.source or 'the command line'}), so resuming would mix "
                    "runs of two settings under one name. Resume with the stored setting (restore the file, or "
                    "drop the option that changes it, e.g. --num-users), or start a new sweep with another --out."
                )
        if bool(self.policies) != bool(request.policies):
            raise ConfigError(
                "This sweep runs each scenario's own policies (it was started without --policies), so a resume "
                "cannot add --policies to it: every scenario would need its own list. Resume without --policies, "
                "or start a new sweep with another --out and every policy you want in --policies."
                if not self.policies
                else "A resume needs --policies to name at least one policy (or leave --policies out)."
            )
        if set(self.grid) != set(request.grid):
            raise ConfigError(
                f"The grid keys differ from the stored sweep's ({sorted(self.grid) or 'none'} stored, "
                f"{sorted(request.grid) or 'none'} now): a resume may add values to a stored key, not add or drop "
                "keys. Resume with the stored keys, or start a new sweep with another --out."
            )
        return SweepPlan(
            scenarios=[*self.scenarios, *(scenario for scenario in request.scenarios if scenario.name not in stored)],
            policies=_union(self.policies, request.policies),
            seeds=_union(self.seeds, request.seeds),
            grid={key: _union(values, request.grid[key]) for key, values in self.grid.items()},
            device=request.device,
        )

    def changes_from(self, stored: SweepPlan) -> list[str]:
        """What this plan adds to ``stored``, in words ('seeds 3, 4', 'policies ucb1'), for the resume message."""
        changes = []
        names = {scenario.name for scenario in stored.scenarios}
        added = {
            "scenarios": [scenario.name for scenario in self.scenarios if scenario.name not in names],
            "policies": [name for name in self.policies if name not in stored.policies],
            "seeds": [seed for seed in self.seeds if seed not in stored.seeds],
        }
        added |= {
            f"{key} values": [value for value in values if value not in stored.grid.get(key, [])]
            for key, values in self.grid.items()
        }
        changes = [f"{what} {', '.join(map(str, items))}" for what, items in added.items() if items]
        if self.device != stored.device:
            changes.append(f"device {stored.device} -> {self.device} for the runs still to do")
        return changes

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data (scenarios in full), for sweep.json."""
        return {
            "scenarios": [dataclasses.asdict(scenario) for scenario in self.scenarios],
            "policies": self.policies,
            "seeds": self.seeds,
            "grid": self.grid,
            "device": self.device,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepPlan:
        scenarios = [
            dataclasses.replace(
                parse_dataclass(Scenario, _without_source(item), item.get("source", "sweep.json")),
                source=item.get("source", ""),
            )
            for item in data["scenarios"]
        ]
        # dedupe: stores written before plans refused repeats may list a policy or a seed twice
        return cls(
            scenarios,
            dedupe(list(data["policies"]))[0],
            dedupe(list(data["seeds"]))[0],
            {key: dedupe(list(values))[0] for key, values in dict(data.get("grid", {})).items()},
            data.get("device", "cpu"),
        )


def with_num_users(scenario: Scenario, num_users: int) -> Scenario:
    """``scenario`` with ``population.num_users`` replaced (``recgym sweep --num-users``); same name."""
    if isinstance(num_users, bool) or not isinstance(num_users, int) or num_users <= 0:
        raise ConfigError(f"--num-users must be a positive integer; got {num_users!r}.")
    return dataclasses.replace(scenario, population=dataclasses.replace(scenario.population, num_users=num_users))


def dedupe(items: Sequence[Any], key: Any = None) -> tuple[list[Any], list[Any]]:
    """``items`` without repeats (first kept, order kept) and the repeats dropped, for the CLI's notes."""
    seen: set[Any] = set()
    kept, dropped = [], []
    for item in items:
        marker = key(item) if key else json.dumps(item, sort_keys=True, default=str)
        (dropped if marker in seen else kept).append(item)
        seen.add(marker)
    return kept, dropped


def _refuse_repeats(what: str, values: Sequence[Any]) -> None:
    _, repeated = dedupe(values)
    if repeated:
        raise ConfigError(
            f"The {what} {repeated[0]!r} is given twice; each must appear once (a repeat would run the same run "
            "twice into one file)."
        )


def _refuse_same_names(scenarios: Sequence[Scenario]) -> None:
    """Two scenarios with one name would write one set of result files: name both files."""
    first: dict[str, Scenario] = {}
    for scenario in scenarios:
        if scenario.name not in first:
            first[scenario.name] = scenario
            continue
        other = first[scenario.name]
        if other.source and other.source == scenario.source:
            raise ConfigError(f"Scenario {scenario.name!r} ({scenario.source}) is listed twice; list it once.")
        raise ConfigError(
            f"Two scenarios are named {scenario.name!r}: {other.source or '(no file)'} and "
            f"{scenario.source or '(no file)'}. Their results would overwrite each other; give one of them "
            "another `name` in its file."
        )


def _content(scenario: Scenario) -> dict[str, Any]:
    """What a scenario is, without where it was read from (the same file may be reached by two paths)."""
    data = dataclasses.asdict(scenario)
    data.pop("source")
    return json.loads(json.dumps(data, default=str))


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted fields that differ between two JSON-like trees."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in dict.fromkeys([*old, *new]):
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [f"{prefix.rstrip('.')} {old!r} -> {new!r}"]


def _union(first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
    return dedupe([*first, *second])[0]


def _without_source(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value for key, value in item.items() if key != "source" and not (key == "off_policy" and value is None)
    }


def _points(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of ``axes`` as dicts; [{}] when there are none."""
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(axes[name] for name in names))]


def with_fields(scenario: Scenario, point: Mapping[str, Any]) -> Scenario:
    """``scenario`` with dotted fields replaced (e.g. 'simulator.params.sensitivity'), renamed after the point."""
    data = dataclasses.asdict(scenario)
    for dotted, value in point.items():
        *parents, leaf = dotted.split(".")
        table = data
        for part in parents:
            if not isinstance(table.get(part), dict):
                raise ConfigError(f"Grid key scenario.{dotted}: {scenario.name} has no table {part!r}.")
            table = table[part]
        table[leaf] = value
    suffix = ",".join(f"{dotted.rsplit('.', 1)[-1]}={value}" for dotted, value in point.items())
    data["name"] = f"{scenario.name}[{suffix}]"
    source = data.pop("source")
    try:
        variant = parse_dataclass(Scenario, _without_source(data), source)
    except ScenarioError as error:
        raise ConfigError(f"Grid key scenario.{error.field} (on {scenario.name}): {error.problem}") from error
    return dataclasses.replace(variant, source=source)


def parse_grid(entries: Sequence[str]) -> dict[str, list[Any]]:
    """``['linucb.alpha=0.5,1']`` -> ``{'linucb.alpha': [0.5, 1]}``; values are JSON where they parse."""
    grid: dict[str, list[Any]] = {}
    for entry in entries:
        key, sep, values = entry.partition("=")
        if not sep or not key or not values:
            raise ConfigError(f"Grid entry {entry!r} must look like KEY=V1,V2 (e.g. linucb.alpha=0.5,1,2).")
        key = key.strip()
        if key in grid:
            raise ConfigError(f"Grid key {key!r} is given twice; give all its values once: {key}=V1,V2,...")
        grid[key] = [_value(text.strip()) for text in values.split(",")]
    return grid


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
