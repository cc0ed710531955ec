"""Load scenarios by name (the shipped library) or from a user's file, and check them before any run.

    from scenarios import load_scenario, list_scenarios
    scenario = load_scenario("clickbait_vs_satisfaction")      # shipped, from scenarios/library/
    scenario = load_scenario("path/to/my_scenario.toml")        # a user's own file, same schema

Checks go past the types: the env id is registered, sizes are positive and consistent,
the reward, metrics and policies exist, and ``check_buildable`` builds a one-user env so
an unknown simulator parameter fails here, naming the file and field, not mid-sweep.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from recgym.errors import ConfigError
from scenarios.schema import Scenario, ScenarioError, parse_dataclass

LIBRARY = Path(__file__).parent / "library"
SUFFIXES = (".toml", ".json")


def library_names() -> list[str]:
    """Names of the shipped scenarios, sorted."""
    return sorted(path.stem for path in LIBRARY.glob("*.toml"))


def resolve_path(name_or_path: str | Path) -> Path:
    """The file of a shipped scenario name, or ``name_or_path`` itself when it is a file."""
    path = Path(name_or_path)
    if path.suffix in SUFFIXES or path.exists():
        if not path.is_file():
            raise ScenarioError(path, "(file)", "no such file; pass a .toml or .json scenario file.")
        return path
    shipped = LIBRARY / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        f"Unknown scenario {str(name_or_path)!r}: not a shipped name nor a file. "
        f"Shipped scenarios: {', '.join(library_names())}; `recgym scenarios` describes them."
    )


def read_file(path: Path) -> dict[str, Any]:
    """The raw table of a TOML or JSON scenario file."""
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ScenarioError(path, "(syntax)", f"cannot be parsed: {error}") from error
    if not isinstance(data, dict):
        raise ScenarioError(path, "(top level)", "must be a table of fields.")
    return data


def load_scenario(name_or_path: str | Path, check_build: bool = False) -> Scenario:
    """A checked ``Scenario``; ``check_build`` also builds a one-user env from it (slower, catches bad params)."""
    path = resolve_path(name_or_path)
    scenario = parse_dataclass(Scenario, read_file(path), path)
    scenario = Scenario(**{**scenario.__dict__, "source": str(path)})
    check_scenario(scenario)
    if check_build:
        check_buildable(scenario)
    return scenario


def list_scenarios() -> list[Scenario]:
    """Every shipped scenario, loaded and checked."""
    return [load_scenario(name) for name in library_names()]


def check_scenario(scenario: Scenario) -> None:
    """Value checks the types cannot express; raises ScenarioError naming the field."""
    import recgym  # noqa: F401  (registers the env ids)
    from recgym.core.reward import make_reward
    from recgym.envs.registration import registered_ids
    from recgym.eval.metrics import METRICS
    from recgym.sweep.policies import policy_entry

    source = scenario.source
    if scenario.simulator.env not in registered_ids():
        raise ScenarioError(
            source, "simulator.env", f"unknown env id {scenario.simulator.env!r}; use one of {registered_ids()}."
        )
    positive = {
        "population.num_users": scenario.population.num_users,
        "episode.horizon_steps": scenario.episode.horizon_steps,
        "episode.slate_size": scenario.episode.slate_size,
        "episode.num_candidates": scenario.episode.num_candidates,
        "episode.history_length": scenario.episode.history_length,
        "training.rl_steps": scenario.training.rl_steps,
        "training.rl_users": scenario.training.rl_users,
    }
    for field, value in positive.items():
        if value <= 0:
            raise ScenarioError(source, field, f"must be a positive integer; got {value}.")
    if scenario.training.online_steps < 0:
        raise ScenarioError(source, "training.online_steps", f"must be >= 0; got {scenario.training.online_steps}.")
    if scenario.episode.slate_size > scenario.episode.num_candidates:
        raise ScenarioError(
            source,
            "episode.slate_size",
            f"{scenario.episode.slate_size} exceeds episode.num_candidates={scenario.episode.num_candidates}; "
            "a slate is drawn from the candidates.",
        )
    from recgym.envs.factory import ENV_ARGUMENTS
    from recgym.sweep.envs import SCENARIO_ENV_ARGUMENTS

    for table in ("params", "param_distribution"):
        for key in getattr(scenario.simulator, table):
            if key in SCENARIO_ENV_ARGUMENTS:
                raise ScenarioError(
                    source, f"simulator.{table}.{key}", f"{key} is an episode setting; set it in [episode] (or reward)."
                )
            if key in ENV_ARGUMENTS:
                raise ScenarioError(
                    source,
                    f"simulator.{table}.{key}",
                    f"{key} is an env setting that a sweep chooses (e.g. recgym sweep --device), not a simulator "
                    "parameter; remove it from the scenario.",
                )
    try:
        make_reward(scenario.reward)
    except ConfigError as error:
        raise ScenarioError(source, "reward", str(error)) from error
    for index, metric in enumerate(scenario.metrics):
        if metric not in METRICS:
            raise ScenarioError(
                source, f"metrics[{index}]", f"unknown metric {metric!r}; use any of {sorted(METRICS)}."
            )
    named = [
        (f"{field}[{index}]", policy)
        for field in ("policies", "exclude_policies")
        for index, policy in enumerate(getattr(scenario, field))
    ]
    if scenario.off_policy is not None:
        named.append(("off_policy.logging_policy", scenario.off_policy.logging_policy))
    for field, policy in named:
        try:
            policy_entry(policy)
        except ConfigError as error:
            raise ScenarioError(source, field, str(error)) from error
    if scenario.off_policy is not None:
        if not 0 < scenario.off_policy.epsilon <= 1:
            raise ScenarioError(source, "off_policy.epsilon", f"must lie in (0, 1]; got {scenario.off_policy.epsilon}.")
        if scenario.off_policy.steps <= 0:
            raise ScenarioError(source, "off_policy.steps", f"must be positive; got {scenario.off_policy.steps}.")


def check_buildable(scenario: Scenario) -> Any:
    """Build a one-user env of the scenario (and of its training variant); a bad parameter names its field.

    Returns the one-user env of the scenario itself (the sweep builds each policy on it to check its parameters).
    """
    from recgym.sweep.envs import make_scenario_env

    built = None
    for training in (False, True):
        field = "training.simulator_params" if training else "simulator.params"
        try:
            env = make_scenario_env(scenario, num_users=1, training=training)
        except ScenarioError:
            raise
        except (ConfigError, TypeError, ValueError) as error:
            where = "" if training else " (or one of the catalog options)"
            raise ScenarioError(scenario.source, field, f"the simulator rejected it{where}: {error}") from error
        if not training:
            built = env
    return built
