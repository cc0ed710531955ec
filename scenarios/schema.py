"""The typed scenario schema: what one experiment setting is, checked field by field on load.

A scenario names a simulator and its parameters, the catalog, the population, the episode
(horizon, slate and candidate sizes), the reward, the metrics to report, and the budget
policies get to learn before they are scored. Files are TOML (or JSON) with the same keys
as these dataclasses; ``scenarios.loader`` turns a file into a ``Scenario`` and reports the
first problem as a ``ScenarioError`` that names the file, the field and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recgym.errors import ConfigError


class ScenarioError(ConfigError):
    """A scenario file is invalid: the message names the file, the field and what to write instead."""

    def __init__(self, source: str | Path, field: str, problem: str) -> None:
        self.source, self.field, self.problem = str(source), field, problem
        super().__init__(f"{source}: field '{field}': {problem}")


@dataclasses.dataclass(frozen=True)
class SimulatorSpec:
    """Which simulator, and its parameters (passed to the env id's factory)."""

    env: str
    """A registered env id, e.g. 'recgym/LongTermSatisfaction-v0' (``recgym envs`` lists them)."""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Simulator factory keyword arguments, e.g. {sensitivity = 0.3}."""
    param_distribution: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Per-user hidden parameter draws (a Sim2Rec family), e.g. {sensitivity = {uniform = [0.1, 0.5]}}."""


@dataclasses.dataclass(frozen=True)
class PopulationSpec:
    """The simulated users every policy is scored on."""

    num_users: int = 256
    """Users simulated in parallel; each run's metrics average over them."""


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
    """What one user's episode looks like to the policy."""

    horizon_steps: int = 200
    """Most steps in one user's episode (simulators with sessions may end it sooner, at their horizon in days)."""
    slate_size: int = 3
    """Items shown per step."""
    num_candidates: int = 20
    """Candidates the policy ranks per step."""
    history_length: int = 10
    """Past steps visible in the observation."""
    candidate_sampler: str = "uniform"
    """How candidates are drawn from the catalog: 'uniform', 'popularity', ... (see recgym.core.candidates)."""


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    """The learning budget every policy gets before it is scored."""

    online_steps: int = 50
    """Steps per user that online learners (bandits, most-popular) learn for; also the learning curve's length."""
    rl_steps: int = 100_000
    """User-steps of training for RL policies (ppo, slateq, ...)."""
    rl_users: int = 256
    """Users simulated in parallel while an RL policy trains."""
    simulator_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Simulator parameters that differ while training (a transfer scenario: train on one family, score on another)."""


@dataclasses.dataclass(frozen=True)
class OffPolicySpec:
    """Off-policy estimates of each policy's value from logs of another, beside the true value."""

    logging_policy: str = "myopic_greedy"
    """The policy that writes the log (mixed with uniform exploration so every slate has a propensity)."""
    epsilon: float = 0.3
    """Share of uniformly random slates in the logging policy."""
    steps: int = 20
    """Logged steps per user."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One named experiment setting; see the module docstring and docs/scenarios.md."""

    name: str
    """Identifier used on the command line and in results, e.g. 'clickbait_vs_satisfaction'."""
    title: str
    """A human title for reports."""
    question: str
    """The question the scenario answers, in one sentence."""
    simulator: SimulatorSpec
    description: str = ""
    """What the users do and why the setting matters."""
    catalog: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Catalog options of the simulator factory (num_items, num_topics, ...)."""
    population: PopulationSpec = PopulationSpec()
    episode: EpisodeSpec = EpisodeSpec()
    reward: str = "watch_time"
    """The env's reward: 'watch_time', 'clicks', 'return_gap' or 'return_visits'."""
    metrics: list[str] = dataclasses.field(default_factory=list)
    """Metrics to report, the first one ranks policies; empty means recgym.eval.metrics.DEFAULT_METRICS."""
    training: TrainingSpec = TrainingSpec()
    policies: list[str] = dataclasses.field(default_factory=list)
    """Policies a sweep runs when it names none; empty means the sweep's defaults."""
    exclude_policies: list[str] = dataclasses.field(default_factory=list)
    """Policies a sweep skips here even when asked, e.g. oracle_greedy where the oracle costs an LLM call per item."""
    off_policy: OffPolicySpec | None = None
    """When set, each run also estimates its policy's value off-policy from a log."""
    tags: list[str] = dataclasses.field(default_factory=list)
    """Topics for listing: 'long-term', 'retention', 'bias', 'llm', ..."""
    source: str = ""
    """The file this scenario came from (set by the loader)."""


def parse_dataclass(cls: type, data: Any, source: str | Path, prefix: str = "") -> Any:
    """An instance of dataclass ``cls`` from a mapping, checking required, unknown and mistyped fields."""
    if not isinstance(data, Mapping):
        raise ScenarioError(
            source, prefix.rstrip(".") or cls.__name__, f"expected a table of fields; got {_describe(data)}."
        )
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls) if field.name != "source"}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else f" Known fields: {', '.join(fields)}."
            raise ScenarioError(source, prefix + str(key), f"unknown field.{hint}")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        path = prefix + name
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ScenarioError(source, path, f"missing; every scenario needs it ({_doc_of(cls, name)}).")
            continue
        values[name] = _coerce(hints[name], data[name], source, path)
    return cls(**values)


def _coerce(annotation: Any, value: Any, source: str | Path, path: str) -> Any:
    """``value`` checked against ``annotation`` (and nested dataclasses parsed); ints widen to floats."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(annotation) if option is not type(None)]
        return None if value is None else _coerce(options[0], value, source, path)
    if dataclasses.is_dataclass(annotation):
        return parse_dataclass(annotation, value, source, path + ".")
    if origin is list:
        if not isinstance(value, list):
            raise ScenarioError(source, path, f"expected a list; got {_describe(value)}.")
        (item_type,) = typing.get_args(annotation)
        return [_coerce(item_type, item, source, f"{path}[{index}]") for index, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ScenarioError(source, path, f"expected a table (key = value pairs); got {_describe(value)}.")
        return dict(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool) and not (
        isinstance(value, annotation) and not (annotation is not bool and isinstance(value, bool))
    ):
        raise ScenarioError(source, path, f"expected {annotation.__name__}; got {_describe(value)}.")
    return value


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _doc_of(cls: type, name: str) -> str:
    """The field's role, for 'missing' messages."""
    roles = {
        "name": "an identifier such as 'my_scenario'",
        "title": "a human title",
        "question": "the one-sentence question the scenario answers",
        "simulator": "a [simulator] table with env = 'recgym/...'",
        "env": "a registered env id such as 'recgym/InterestEvolution-v0'",
    }
    return roles.get(name, f"a value for {cls.__name__}.{name}")
