"""One run: deterministic, learns online, estimates off-policy beside the truth, trains RL policies."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from recgym.sweep import RunSpec, execute_run
from scenarios import ScenarioError, load_scenario
from scenarios.schema import OffPolicySpec
from simulators.linear_click import LinearClickParams
from tests.sweep.helpers import TINY_SCENARIOS


@pytest.fixture
def tiny_linear():
    return load_scenario(TINY_SCENARIOS[0])


def test_a_run_repeats_exactly_and_seeds_differ(tiny_linear) -> None:
    first = execute_run(RunSpec(tiny_linear, "linucb", 0))
    again = execute_run(RunSpec(tiny_linear, "linucb", 0))
    other = execute_run(RunSpec(tiny_linear, "linucb", 1))
    assert first.metrics == again.metrics and first.curve == again.curve
    assert first.metrics != other.metrics
    assert len(first.curve["user_steps"]) == tiny_linear.training.online_steps
    assert len(first.curve["regret"]) == tiny_linear.training.online_steps


def test_off_policy_estimates_sit_beside_the_true_value(tiny_linear) -> None:
    logged = dataclasses.replace(tiny_linear, off_policy=OffPolicySpec(logging_policy="random", epsilon=1.0, steps=40))
    result = execute_run(RunSpec(logged, "myopic_greedy", 0))
    truth = result.off_policy["truth"]
    assert truth > 0
    # A uniform logger covers every slate. Item-position IPS and the direct method land near the truth on
    # 1,280 rows; full-slate weights (IPS, SNIPS, DR) match 1 logged slate in 90, so they are merely finite here.
    for name in ("dm", "iips"):
        assert result.off_policy[name] == pytest.approx(truth, rel=0.15), name
    assert all(math.isfinite(result.off_policy[name]) for name in ("ips", "snips", "dr"))
    oracle = execute_run(RunSpec(logged, "oracle_greedy", 0)).off_policy
    assert all(math.isnan(value) for value in oracle.values())  # reads hidden state: no estimate, no failure


def test_rl_policies_train_inside_a_run(tiny_linear) -> None:
    budget = dataclasses.replace(tiny_linear.training, rl_steps=2048, rl_users=32)
    result = execute_run(RunSpec(dataclasses.replace(tiny_linear, training=budget), "ppo", 0))
    assert result.curve["user_steps"] and result.curve["user_steps"][-1] >= 2048
    assert result.metrics["clicks"] > 0


def test_episode_settings_in_simulator_params_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "wrong.toml"
    path.write_text(
        'name = "wrong"\ntitle = "t"\nquestion = "q"\n[simulator]\nenv = "recgym/LinearClick-v0"\n'
        "params = { slate_size = 4 }\n"
    )
    with pytest.raises(ScenarioError, match=r"simulator.params.slate_size.*\[episode\]"):
        load_scenario(path)


def test_online_learners_learn_on_the_training_simulator_of_a_transfer_scenario(tiny_linear) -> None:
    def with_training_params(params: dict) -> dict:
        training = dataclasses.replace(tiny_linear.training, simulator_params=params)
        return execute_run(RunSpec(dataclasses.replace(tiny_linear, training=training), "linucb", 0)).metrics

    plain = execute_run(RunSpec(tiny_linear, "linucb", 0)).metrics
    default_spread = LinearClickParams().theta_spread
    assert with_training_params({"theta_spread": default_spread}) == plain  # same simulator: same run
    assert with_training_params({"theta_spread": 3 * default_spread + 1}) != plain  # learned elsewhere
