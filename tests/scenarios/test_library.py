"""The shipped scenario library: every file loads, builds, and says what it is for."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from policies.registry import policy_registry
from recgym.eval.metrics import METRICS
from scenarios import library_names, list_scenarios, load_scenario
from scenarios.loader import LIBRARY

NAMES = library_names()
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
TOPICS = {
    # The questions issue 7 asks the library to cover, each by at least one shipped scenario.
    "cold start": "cold_start",
    "interest drift": "interest_drift",
    "filter bubble": "filter_bubble",
    "popularity bias": "popularity_bias",
    "clickbait vs long-term satisfaction": "clickbait_vs_satisfaction",
    "fatigue": "fatigue",
    "novelty seekers": "novelty_seekers",
    "retention and churn": "retention_churn",
    "budget-constrained exploration": "budget_constrained_exploration",
    "Sim2Rec transfer (train family)": "sim2rec_in_family",
    "Sim2Rec transfer (held-out family)": "sim2rec_transfer",
    "LLM-persona population": "llm_personas",
}


def test_the_library_is_large_and_names_are_file_stems() -> None:
    assert len(NAMES) >= 10
    assert len(set(NAMES)) == len(NAMES)
    for path in LIBRARY.glob("*.toml"):
        assert tomllib.loads(path.read_text())["name"] == path.stem, path


def test_every_topic_of_the_issue_has_a_scenario() -> None:
    missing = {topic: name for topic, name in TOPICS.items() if name not in NAMES}
    assert not missing


@pytest.mark.parametrize(
    "name",
    # Building the LLM scenario loads the sentence encoder and embeds its catalog (~10 s cold).
    [pytest.param(name, marks=pytest.mark.slow) if name == "llm_personas" else name for name in NAMES],
)
def test_shipped_scenario_loads_and_builds(name: str) -> None:
    scenario = load_scenario(name, check_build=True)
    assert scenario.name == name
    assert Path(scenario.source).resolve() == (LIBRARY / f"{name}.toml").resolve()


@pytest.mark.parametrize("name", NAMES)
def test_shipped_scenario_is_documented_and_complete(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.title and scenario.tags
    assert scenario.question.endswith("?") and "\n" not in scenario.question.strip()
    assert len(scenario.description.split()) >= 40, "say what users do, why it matters and what a good policy does"
    assert scenario.metrics and all(metric in METRICS for metric in scenario.metrics)
    assert scenario.policies and all(policy in policy_registry() for policy in scenario.policies)
    assert len(set(scenario.policies)) == len(scenario.policies)
    assert {"random", "myopic_greedy"} <= set(scenario.policies), "baselines belong in every default set"
    assert any(policy_registry()[policy].kind == "online" for policy in scenario.policies), "and at least one bandit"


def test_shipped_scenarios_fit_the_sweep_time_budget() -> None:
    for scenario in list_scenarios():
        assert 32 <= scenario.population.num_users <= 256, scenario.name
        assert scenario.episode.horizon_steps <= 300, scenario.name
        assert scenario.training.online_steps <= 50, scenario.name
        assert scenario.catalog.get("num_items", 0) <= 5000, scenario.name


def test_llm_scenario_avoids_the_per_candidate_oracle() -> None:
    scenario = load_scenario("llm_personas")
    assert scenario.simulator.env == "recgym/LLMPersona-v0"
    assert "regret" not in scenario.metrics
    assert "oracle_greedy" not in scenario.policies


def test_the_sim2rec_pair_differs_only_in_the_scored_family() -> None:
    in_family, transfer = load_scenario("sim2rec_in_family"), load_scenario("sim2rec_transfer")
    assert in_family.simulator.params["family"] == in_family.training.simulator_params["family"] == "train"
    assert transfer.simulator.params["family"] == "heldout"
    assert transfer.training.simulator_params == {"family": "train"}
    same = {"simulator", "name", "title", "question", "description", "source"}
    assert {
        field.name
        for field in dataclasses.fields(in_family)
        if field.name not in same and getattr(in_family, field.name) != getattr(transfer, field.name)
    } == set()
    assert {key: value for key, value in in_family.simulator.params.items() if key != "family"} == {
        key: value for key, value in transfer.simulator.params.items() if key != "family"
    }


def test_some_scenario_reports_off_policy_estimates() -> None:
    with_ope = [scenario for scenario in list_scenarios() if scenario.off_policy is not None]
    assert with_ope
    for scenario in with_ope:
        assert scenario.off_policy.logging_policy in policy_registry()
        # Logged candidates must not depend on past actions for the estimates to be unbiased.
        assert scenario.episode.candidate_sampler in ("uniform", "popularity"), scenario.name


def test_the_guide_lists_every_shipped_scenario() -> None:
    library_section = GUIDE.read_text().split("## The shipped library", 1)[1]
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", library_section, flags=re.MULTILINE))
    assert listed == set(NAMES)


def test_a_shrunken_shipped_scenario_runs_end_to_end() -> None:
    from recgym.sweep.run import RunSpec, execute_run

    scenario = load_scenario("cold_start")
    small = dataclasses.replace(
        scenario,
        population=dataclasses.replace(scenario.population, num_users=8),
        episode=dataclasses.replace(scenario.episode, horizon_steps=5),
        training=dataclasses.replace(scenario.training, online_steps=3),
    )
    result = execute_run(RunSpec(small, "linucb", seed=0))
    assert list(result.metrics) == scenario.metrics
    assert len(result.curve["reward"]) == 3
