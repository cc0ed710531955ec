"""Sweep plans: the grid expands as documented, run ids are stable, bad input fails before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgym.cli import main
from recgym.errors import ConfigError
from recgym.sweep import LocalExecutor, SweepPlan, parse_grid, run_sweep
from recgym.sweep.plan import with_fields
from scenarios import load_scenario
from tests.sweep.helpers import TINY_SCENARIOS


@pytest.fixture
def tiny() -> list:
    return [load_scenario(path) for path in TINY_SCENARIOS]


def test_grid_expands_scenarios_policies_points_and_seeds(tiny: list) -> None:
    grid = parse_grid(["linucb.alpha=0.5,2", "scenario.population.num_users=8,16"])
    assert grid == {"linucb.alpha": [0.5, 2], "scenario.population.num_users": [8, 16]}
    plan = SweepPlan(tiny, ["random", "linucb"], [0, 1, 2], grid)
    specs = plan.specs()
    # 2 scenarios x 2 user counts x (random + linucb x 2 alphas) x 3 seeds
    assert len(specs) == 2 * 2 * 3 * 3
    assert len({spec.run_id for spec in specs}) == len(specs)
    linucb = [spec for spec in specs if spec.policy == "linucb"]
    assert {spec.policy_params["alpha"] for spec in linucb} == {0.5, 2}
    assert {spec.policy_label for spec in linucb} == {"linucb (alpha=0.5)", "linucb (alpha=2)"}
    assert {spec.scenario.population.num_users for spec in specs} == {8, 16}
    assert "tiny_linear[num_users=8]" in {spec.scenario.name for spec in specs}


def test_run_ids_are_stable_and_plans_round_trip(tiny: list) -> None:
    plan = SweepPlan(tiny, ["random", "linucb"], [0], parse_grid(["linucb.alpha=0.5,2"]))
    again = SweepPlan.from_dict(plan.to_dict())
    assert [spec.run_id for spec in again.specs()] == [spec.run_id for spec in plan.specs()]
    assert again.specs()[0].scenario == plan.specs()[0].scenario


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"nosuchpolicy.alpha": [1]}, "Unknown policy"),
        ({"linucb": [1]}, "must look like"),
        ({"linucb.alpha": []}, "must look like"),
    ],
)
def test_bad_grids_are_refused(tiny: list, grid: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SweepPlan(tiny, ["linucb"], [0], grid)


def test_bad_grid_syntax_and_unknown_scenario_tables(tiny: list) -> None:
    with pytest.raises(ConfigError, match="KEY=V1,V2"):
        parse_grid(["linucb.alpha"])
    with pytest.raises(ConfigError, match="has no table"):
        with_fields(tiny[0], {"nosuch.section.field": 1})


def test_a_new_sweep_refuses_a_folder_holding_one(tiny: list, tmp_path: Path) -> None:
    plan = SweepPlan(tiny[:1], ["random"], [0])
    run_sweep(plan, tmp_path, LocalExecutor(1), progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        run_sweep(plan, tmp_path, LocalExecutor(1), progress=False)
    with pytest.raises(ConfigError, match="Nothing to resume"):
        run_sweep(None, tmp_path / "empty", LocalExecutor(1), resume=True, progress=False)


def test_unknown_policy_parameter_fails_when_the_plan_is_built(tiny: list) -> None:
    with pytest.raises(ConfigError, match="linucb has no parameter 'nonsense'"):
        SweepPlan(tiny[:1], ["linucb"], [0], parse_grid(["linucb.nonsense=1"]))


def test_cli_rejects_a_bad_scenario_file_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "t"\nquestion = "q"\n[simulator]\nenv = "recgym/NoSuchSim-v0"\n')
    out = tmp_path / "out"
    assert main(["sweep", str(bad), "--policies", "random", "--seeds", "1", "--out", str(out)]) == 2
    error = "".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "bad.toml" in error and "simulator.env" in error
    assert not out.exists()


def test_cli_lists_shipped_scenarios_and_reports_need_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenarios"]) == 0
    assert "clickbait_vs_satisfaction" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "holdsnosweep" in "".join(capsys.readouterr().out.split())
