"""One env builder: registered recgym ids only, slates only, and each simulator built once per process."""

from __future__ import annotations

import pytest
import torch

import recgym
from recgym.envs.builder import build_vector_env
from recgym.errors import ConfigError
from simulators.linear_click import make_simulator as make_linear_click

BUILT: list[dict[str, object]] = []
COUNTING_ID = "recgymtest/CountingLinearClick-v0"


def counting_simulator(**kwargs: object):
    """LinearClick's factory, recording each call: how a test sees how often a simulator is built."""
    BUILT.append(dict(kwargs))
    return make_linear_click(**kwargs)


recgym.register(COUNTING_ID, simulator="tests.envs.test_builder:counting_simulator", max_episode_steps=20)


def test_envs_with_the_same_simulator_arguments_share_one_simulator() -> None:
    BUILT.clear()
    kwargs = {"num_items": 123, "num_features": 4, "slate_size": 2}
    first = build_vector_env(COUNTING_ID, 8, "cpu", kwargs)
    second = build_vector_env(COUNTING_ID, 32, "cpu", {**kwargs, "slate_size": 1})  # env settings may differ
    assert len(BUILT) == 1
    assert torch.equal(first.simulator.catalog.embedding, second.simulator.catalog.embedding)
    build_vector_env(COUNTING_ID, 8, "cpu", {**kwargs, "num_items": 124})
    assert len(BUILT) == 2  # another simulator argument builds another simulator


def test_shared_simulators_keep_envs_independent() -> None:
    kwargs = {"num_items": 200, "num_features": 4}
    first, second = (build_vector_env(COUNTING_ID, 4, "cpu", kwargs) for _ in range(2))
    first.reset(seed=1)
    second.reset(seed=1)
    slate = torch.tensor([[0, 1]] * 4)
    for _ in range(3):
        first.step(slate)
    observation, *_ = second.step(slate)
    replay = build_vector_env(COUNTING_ID, 4, "cpu", kwargs)
    replay.reset(seed=1)
    expected, *_ = replay.step(slate)
    for name, value in expected.items():
        assert torch.equal(observation[name], value), name


def test_only_registered_recgym_envs_with_slates_are_built() -> None:
    with pytest.raises(ConfigError, match=r"Unknown env id 'recgym/Nope-v0'.*registered recgym envs"):
        build_vector_env("recgym/Nope-v0", 2)
    with pytest.raises(ConfigError, match="CartPole-v1 is not a recgym env"):
        build_vector_env("CartPole-v1", 2)


def test_a_sweep_run_builds_its_scenarios_simulator_once(monkeypatch, tmp_path) -> None:
    """Plan checks, online phase, evaluation and off-policy envs of a run all share one simulator."""
    import simulators.linear_click
    from recgym.envs.factory import clear_simulator_memo
    from recgym.sweep import LocalExecutor, SweepPlan, run_sweep
    from scenarios import load_scenario
    from tests.sweep.helpers import TINY_SCENARIOS

    calls: list[dict[str, object]] = []
    original = simulators.linear_click.make_simulator

    def spy(**kwargs: object):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(simulators.linear_click, "make_simulator", spy)
    clear_simulator_memo()
    plan = SweepPlan([load_scenario(TINY_SCENARIOS[0])], ["random", "linucb"], [0, 1])
    run_sweep(plan, tmp_path / "sweep", LocalExecutor(1), progress=False)
    assert len(calls) == 1, f"the simulator was built {len(calls)} times for 4 runs of one scenario"
