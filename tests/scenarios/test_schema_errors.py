"""Bad scenario files fail on load with a ScenarioError that names the file and the field."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from recgym.errors import ConfigError
from scenarios import Scenario, ScenarioError, load_scenario

VALID = """
name = "mine"
title = "My scenario"
question = "Does it load?"
policies = ["random", "linucb"]
metrics = ["clicks", "ctr"]
reward = "clicks"

[simulator]
env = "recgym/LinearClick-v0"
params = { theta_spread = 0.5 }

[catalog]
num_items = 200

[population]
num_users = 8

[episode]
horizon_steps = 5
slate_size = 2
num_candidates = 10
"""


def write(tmp_path: Path, text: str, suffix: str = ".toml") -> Path:
    path = tmp_path / f"mine{suffix}"
    path.write_text(text)
    return path


def fails(tmp_path: Path, text: str, field: str, *words: str, suffix: str = ".toml") -> ScenarioError:
    """Load ``text`` as a scenario file; assert the error names the file, ``field`` and ``words``."""
    path = write(tmp_path, text, suffix)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, check_build=True)
    error = caught.value
    message = str(error)
    assert str(path) in message
    assert f"'{field}'" in message
    assert error.field == field
    for word in words:
        assert word in message, (word, message)
    return error


def test_the_valid_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID), check_build=True)
    assert isinstance(scenario, Scenario)
    assert scenario.name == "mine" and scenario.episode.slate_size == 2
    assert scenario.episode.history_length == 10  # a default
    assert scenario.source == str(tmp_path / "mine.toml")


def test_unknown_env_id(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace("recgym/LinearClick-v0", "recgym/Nope-v0"), "simulator.env", "Nope", "LinearClick")


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("num_users = 8", 'num_users = "many"', "population.num_users", "expected int"),
        ("num_users = 8", "num_users = true", "population.num_users", "expected int"),
        ("horizon_steps = 5", "horizon_steps = 5.5", "episode.horizon_steps", "expected int"),
        ('question = "Does it load?"', "question = 3", "question", "expected str"),
        ('policies = ["random", "linucb"]', 'policies = "random"', "policies", "expected a list"),
        ('metrics = ["clicks", "ctr"]', 'metrics = ["clicks", 3]', "metrics[1]", "expected str"),
        ("params = { theta_spread = 0.5 }", "params = 0.5", "simulator.params", "expected a table"),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    assert old in VALID
    fails(tmp_path, VALID.replace(old, new), field, expected)


def test_a_table_given_as_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, "population = 8\n" + VALID.replace("[population]\nnum_users = 8\n", ""))
    with pytest.raises(ScenarioError, match="expected a table of fields; got int 8") as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert caught.value.field.rstrip(".") == "population"  # the loader currently reports 'population.'


def test_missing_question(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace('question = "Does it load?"\n', ""), "question", "missing")


def test_missing_simulator(tmp_path: Path) -> None:
    text = VALID.replace('[simulator]\nenv = "recgym/LinearClick-v0"\nparams = { theta_spread = 0.5 }\n', "")
    fails(tmp_path, text, "simulator", "missing")


def test_missing_env_inside_simulator(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace('env = "recgym/LinearClick-v0"\n', ""), "simulator.env", "missing")


def test_unknown_metric(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace('"clicks", "ctr"', '"clicks", "ndcg"'), "metrics[1]", "ndcg", "engagement")


def test_unknown_policy(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace('"random", "linucb"', '"random", "dqn"'), "policies[1]", "dqn", "thompson")


def test_unknown_logging_policy(tmp_path: Path) -> None:
    text = VALID + '\n[off_policy]\nlogging_policy = "oracle"\n'
    fails(tmp_path, text, "off_policy.logging_policy", "oracle")


@pytest.mark.parametrize(
    ("old", "new", "field", "suggestion"),
    [
        ('policies = ["random", "linucb"]', 'polices = ["random", "linucb"]', "polices", "policies"),
        ("horizon_steps = 5", "horizon_stepz = 5", "episode.horizon_stepz", "horizon_steps"),
        ("num_users = 8", "num_user = 8", "population.num_user", "num_users"),
        ("params = { theta_spread = 0.5 }", "parameters = { theta_spread = 0.5 }", "simulator.parameters", "params"),
    ],
)
def test_unknown_field_suggests_the_closest(tmp_path: Path, old: str, new: str, field: str, suggestion: str) -> None:
    fails(tmp_path, VALID.replace(old, new), field, "unknown field", f"Did you mean '{suggestion}'?")


def test_slate_larger_than_candidates(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace("slate_size = 2", "slate_size = 12"), "episode.slate_size", "12", "num_candidates")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("num_users = 8", "num_users = 0", "population.num_users"),
        ("horizon_steps = 5", "horizon_steps = -1", "episode.horizon_steps"),
        ('reward = "clicks"', 'reward = "dollars"', "reward"),
    ],
)
def test_bad_values(tmp_path: Path, old: str, new: str, field: str) -> None:
    fails(tmp_path, VALID.replace(old, new), field)


def test_unknown_simulator_parameter_is_caught_by_the_build(tmp_path: Path) -> None:
    text = VALID.replace("theta_spread = 0.5", "theta_sprd = 0.5")
    load_scenario(write(tmp_path, text))  # the types are fine: only building the env can tell
    fails(tmp_path, text, "simulator.params", "theta_sprd", "theta_spread")


def test_out_of_range_simulator_parameter_is_caught_by_the_build(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace("theta_spread = 0.5", "theta_spread = -1.0"), "simulator.params", "theta_spread")


def test_unknown_training_override_is_caught_by_the_build(tmp_path: Path) -> None:
    text = VALID + "\n[training]\nsimulator_params = { bogus = 1 }\n"
    fails(tmp_path, text, "training.simulator_params", "bogus")


def test_toml_syntax_error(tmp_path: Path) -> None:
    fails(tmp_path, VALID.replace("[episode]", "[episode"), "(syntax)", "cannot be parsed")


def test_json_syntax_error(tmp_path: Path) -> None:
    fails(tmp_path, '{"name": "mine",', "(syntax)", "cannot be parsed", suffix=".json")


def test_top_level_must_be_a_table(tmp_path: Path) -> None:
    fails(tmp_path, '["not", "a", "table"]', "(top level)", suffix=".json")


def test_json_file_loads_like_toml(tmp_path: Path) -> None:
    data = tomllib.loads(VALID)
    from_json = load_scenario(write(tmp_path, json.dumps(data), ".json"), check_build=True)
    from_toml = load_scenario(write(tmp_path, VALID), check_build=True)
    assert {**from_json.__dict__, "source": ""} == {**from_toml.__dict__, "source": ""}


def test_json_file_fails_like_toml(tmp_path: Path) -> None:
    data = tomllib.loads(VALID)
    data["population"]["num_users"] = "many"
    fails(tmp_path, json.dumps(data), "population.num_users", "expected int", suffix=".json")
    del data["question"]
    data["population"]["num_users"] = 8
    fails(tmp_path, json.dumps(data), "question", "missing", suffix=".json")


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"Shipped scenarios: .*cold_start"):
        load_scenario("no_such_scenario")


@pytest.mark.parametrize(
    ("assignment", "field", "message"),
    [
        ("slate_size = 3", "simulator.params.slate_size", "is an episode setting; set it in [episode]"),
        ('device = "cuda"', "simulator.params.device", "recgym sweep --device"),
    ],
)
def test_env_settings_in_simulator_params_are_refused(
    tmp_path: Path, assignment: str, field: str, message: str
) -> None:
    text = VALID.replace("theta_spread = 0.5", f"theta_spread = 0.5, {assignment}")
    fails(tmp_path, text, field, message)
