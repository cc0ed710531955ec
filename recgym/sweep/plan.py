"""A sweep's plan: scenarios x policies x seeds x parameter-grid points, as a list of ``RunSpec``.

Grid keys say what they vary:
- ``<policy>.<param>``, e.g. ``linucb.alpha=0.5,1,2``: that policy's constructor or RL config;
- ``scenario.<section>.<field>``, e.g. ``scenario.simulator.params.sensitivity=0.1,0.5``:
  every scenario's field; each value makes a derived scenario named ``<name>[field=value]``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from recgym.errors import ConfigError
from recgym.sweep.policies import policy_entry
from recgym.sweep.run import RunSpec
from scenarios.schema import Scenario, parse_dataclass


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
        for name in self.policies:
            policy_entry(name)
        for key, values in self.grid.items():
            target, _, field = key.partition(".")
            if not field or not values:
                raise ConfigError(
                    f"Grid entry {key!r} must look like 'policy.param=v1,v2' or 'scenario.section.field=v1,v2'."
                )
            if target != "scenario":
                policy_entry(target)

    def specs(self) -> list[RunSpec]:
        """Every run, in a fixed order: scenario, then policy, then grid point, then seed.

        A scenario's ``exclude_policies`` are skipped (e.g. the oracle where it costs an LLM call per item).
        """
        specs = []
        for scenario in self._scenario_variants():
            policies = [name for name in self.policies or scenario.policies if name not in scenario.exclude_policies]
            for policy in policies:
                for point in self._policy_points(policy):
                    for seed in self.seeds:
                        specs.append(RunSpec(scenario, policy, seed, point, self.device))
        return specs

    def _policy_points(self, policy: str) -> list[dict[str, Any]]:
        keys = [key for key in self.grid if key.partition(".")[0] == policy]
        return _points({key.partition(".")[2]: self.grid[key] for key in keys})

    def _scenario_variants(self) -> list[Scenario]:
        keys = [key for key in self.grid if key.startswith("scenario.")]
        variants = []
        for scenario in self.scenarios:
            for point in _points({key.removeprefix("scenario."): self.grid[key] for key in keys}):
                variants.append(with_fields(scenario, point) if point else scenario)
        return variants

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
        return cls(
            scenarios,
            list(data["policies"]),
            list(data["seeds"]),
            dict(data.get("grid", {})),
            data.get("device", "cpu"),
        )


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
    return dataclasses.replace(parse_dataclass(Scenario, _without_source(data), source), source=source)


def parse_grid(entries: Sequence[str]) -> dict[str, list[Any]]:
    """``['linucb.alpha=0.5,1']`` -> ``{'linucb.alpha': [0.5, 1]}``; values are JSON where they parse."""
    grid: dict[str, list[Any]] = {}
    for entry in entries:
        key, sep, values = entry.partition("=")
        if not sep or not key or not values:
            raise ConfigError(f"Grid entry {entry!r} must look like KEY=V1,V2 (e.g. linucb.alpha=0.5,1,2).")
        grid[key.strip()] = [_value(text.strip()) for text in values.split(",")]
    return grid


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
