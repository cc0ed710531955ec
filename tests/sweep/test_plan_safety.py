"""Issue 16: a sweep's plan is whole and checked before anything is written, run ids are unique,
and --resume adds what it is asked to add (or refuses, saying how) without touching a finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recgym.cli import main
from recgym.errors import ConfigError
from recgym.sweep import LocalExecutor, ResultsStore, SweepPlan, parse_grid, run_sweep
from scenarios import load_scenario
from tests.file_hashes import assert_unchanged, folder_hashes
from tests.sweep.helpers import TINY_SCENARIOS

TINY = TINY_SCENARIOS[0]


def flat(text: str) -> str:
    """Rich wraps long lines at the console width: compare without whitespace."""
    return "".join(text.split())


def sweep(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    """``recgym sweep ARGUMENTS --workers 1`` in this process: its exit code and its output, whitespace removed."""
    code = main(["sweep", *arguments, "--workers", "1"])
    captured = capsys.readouterr()
    return code, flat(captured.out + captured.err)


def results(out: Path) -> dict[str, str]:
    """Hashes of every result file (runs/ and curves/) of a store, keyed as ``folder_hashes(out)`` keys them."""
    hashes = {name: digest for name, digest in folder_hashes(out).items() if name.startswith(("runs/", "curves/"))}
    assert hashes, f"{out} holds no results"
    return hashes


FINISHED_SEEDS = 2
"""Seeds of the ``finished`` sweep (tests/sweep/conftest.py) these tests start from."""


# -- A: names and ids -------------------------------------------------------------------------------


def test_two_files_with_one_scenario_name_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "cold_start.toml"
    mine.write_text(Path(TINY).read_text().replace('name = "tiny_linear"', 'name = "cold_start"'))
    out = tmp_path / "out"
    code, text = sweep(capsys, "cold_start", str(mine), "--policies", "random", "--seeds", "1", "--out", str(out))
    assert code == 2
    assert "Twoscenariosarenamed'cold_start'" in text
    assert flat(str(mine)) in text and "library/cold_start.toml" in text
    assert "anothe" in text and "`name`" in text  # the fix
    assert not out.exists()


def test_repeats_on_the_command_line_run_once_with_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, text = sweep(capsys, TINY, TINY, "--policies", "random", "random", "--seeds", "1", "--out", str(out))
    assert code == 0
    assert "isnamedmorethanonce;itrunsonce" in text and "policyrandom" in text
    assert ResultsStore(out).finished_ids() == {"tiny_linear--random--seed0"}
    assert "1runsin" in text  # one run planned and run, not four runs into one file
    assert json.loads((out / "sweep.json").read_text())["plan"]["policies"] == ["random"]


@pytest.mark.parametrize(
    ("policies", "seeds", "grid", "message"),
    [
        (["random", "random"], [0], {}, "policy 'random' is given twice"),
        (["random"], [0, 0], {}, "seed 0 is given twice"),
        (["linucb"], [0], {"linucb.alpha": [1, 1]}, "value of grid key linucb.alpha 1 is given twice"),
        (["random"], [0], {"scenario.simulator.params.theta_spread": [0.5, "0.5"]}, "share an id"),
    ],
)
def test_a_plan_never_holds_two_runs_with_one_id(policies: list, seeds: list, grid: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SweepPlan([load_scenario(TINY)], policies, seeds, grid)


def test_a_plan_refuses_one_scenario_listed_twice() -> None:
    scenario = load_scenario(TINY)
    with pytest.raises(ConfigError, match="listed twice"):
        SweepPlan([scenario, scenario], ["random"], [0])


# -- B: everything checked before anything is written -----------------------------------------------


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--device", "cuda:99"], ["cuda:99", "--devicecpu"]),
        (["--grid", "linucb.alpah=1,2"], ["linucb.alpah", "didyoumean'alpha'", "alpha=1.0", "regularization=1.0"]),
        (["--grid", "linucb.alpha=-1,1"], ["alpha", "mustbe>=0;got-1"]),
        (["--grid", "linucb.seed=1,2"], ["linucb.seed", "setbythesweepitself"]),
        (["--grid", "ucb1.exploration=1"], ["ucb1", "doesnotrun", "--policies"]),
        (["--grid", "scenario.population.num_user=4,8"], ["population.num_user", "num_users"]),
        (["--grid", "scenario.simulator.params.theta_sprd=0.1"], ["theta_sprd", "simulator.params"]),
        (["--grid", "scenario.population.num_users=0"], ["population.num_users", "positive"]),
        (["--num-users", "0"], ["--num-users", "positive"]),
        (["--seeds", "0"], ["--seeds", "positive"]),
    ],
)
def test_a_bad_setting_fails_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: list[str]
) -> None:
    out = tmp_path / "out"
    code, text = sweep(capsys, TINY, "--policies", "random", "linucb", "--seeds", "2", "--out", str(out), *extra)
    assert code == 2, text
    for word in words:
        assert word in text, (word, text)
    assert not out.exists(), "a plan that failed its checks must write nothing"
    # the way out is the same command with the setting fixed, no folder to delete
    code, _ = sweep(capsys, TINY, "--policies", "random", "--seeds", "1", "--out", str(out))
    assert code == 0


def test_a_stored_device_that_is_missing_here_can_be_resumed_on_another(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((store / "sweep.json").read_text())
    data["plan"]["device"] = "cuda:99"  # a store started on a GPU machine, resumed on this one
    (store / "sweep.json").write_text(json.dumps(data))
    before = results(store)
    code, text = sweep(capsys, "--resume", "--seeds", "3", "--out", str(store))
    assert code == 2 and "cuda:99" in text and "--resume--devicecpu" in text
    assert ResultsStore(store).finished_ids() == {"tiny_linear--random--seed0", "tiny_linear--random--seed1"}
    code, text = sweep(capsys, "--resume", "--seeds", "3", "--device", "cpu", "--out", str(store))
    assert code == 0, text
    assert "devicecuda:99->cpu" in text
    assert len(ResultsStore(store).finished_ids()) == 3
    assert_unchanged(before, store)
    assert json.loads((store / "sweep.json").read_text())["plan"]["device"] == "cpu"


# -- B: --resume with new arguments -----------------------------------------------------------------


def test_resume_with_more_seeds_and_policies_adds_their_runs(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = results(store)
    code, text = sweep(capsys, "--resume", "--policies", "random", "ucb1", "--seeds", "3", "--out", str(store))
    assert code == 0, text
    assert "addspoliciesucb1;seeds2(4newruns;finishedrunskept)" in text
    assert "2of6runsalreadyfinished" in text
    runs = ResultsStore(store).runs()
    assert sorted(zip(runs["policy"], runs["seed"], strict=True)) == [
        ("random", 0), ("random", 1), ("random", 2), ("ucb1", 0), ("ucb1", 1), ("ucb1", 2)
    ]  # fmt: skip
    assert_unchanged(before, store)
    plan = json.loads((store / "sweep.json").read_text())
    assert plan["plan"]["seeds"] == [0, 1, 2] and plan["plan"]["policies"] == ["random", "ucb1"]
    assert plan["extended"][0]["adds"] == ["policies ucb1", "seeds 2"]
    # the same resume again has nothing left to add or run
    code, text = sweep(capsys, "--resume", "--policies", "random", "ucb1", "--seeds", "3", "--out", str(store))
    assert code == 0 and "6of6runsalreadyfinished" in text and "Extending" not in text


def test_resume_can_add_a_scenario(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = results(store)
    code, text = sweep(capsys, TINY_SCENARIOS[1], "--resume", "--out", str(store))
    assert code == 0, text
    assert "addsscenariostiny_satisfaction" in text
    assert set(ResultsStore(store).runs()["scenario"]) == {"tiny_linear", "tiny_satisfaction"}
    assert_unchanged(before, store)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--num-users", "4"], ["population.num_users32->4", "another--out", "--num-users"]),
        (["--grid", "random.nothing=1"], ["random.nothing", "random:none"]),
        (["--policies", "linucb", "--grid", "linucb.alpha=1,2"], ["gridkeysdiffer", "another--out"]),
    ],
)
def test_a_resume_that_would_mix_incomparable_runs_is_refused(
    store: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], words: list[str]
) -> None:
    before = folder_hashes(store)
    code, text = sweep(capsys, "--resume", "--out", str(store), *arguments)
    assert code == 2, text
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    assert_unchanged(before, store)
    assert set(folder_hashes(store)) == set(before), "a refused resume writes nothing"


def test_a_resume_with_a_changed_scenario_file_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "tiny_linear.toml"
    changed.write_text(Path(TINY).read_text().replace("horizon_steps = 15", "horizon_steps = 16"))
    before = folder_hashes(store)
    code, text = sweep(capsys, str(changed), "--resume", "--seeds", "3", "--out", str(store))
    assert code == 2
    assert "Scenario'tiny_linear'differs" in text and "episode.horizon_steps15->16" in text
    assert_unchanged(before, store)


def test_scenarios_at_all_their_grid_points_are_checked_before_any_run(tmp_path: Path) -> None:
    """A value that only one grid point makes invalid (slate larger than the candidates) fails up front."""
    plan = SweepPlan([load_scenario(TINY)], ["random"], [0], parse_grid(["scenario.episode.slate_size=2,11"]))
    with pytest.raises(ConfigError, match="slate_size"):
        run_sweep(plan, tmp_path / "out", LocalExecutor(1), progress=False)
    assert not (tmp_path / "out").exists()


# -- F: --num-users ---------------------------------------------------------------------------------


def test_num_users_overrides_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, text = sweep(
        capsys, *TINY_SCENARIOS, "--policies", "linucb", "--seeds", "1", "--num-users", "4", "--out", str(out)
    )
    assert code == 0, text
    plan = json.loads((out / "sweep.json").read_text())["plan"]
    assert [scenario["population"]["num_users"] for scenario in plan["scenarios"]] == [4, 4]
    curves = pd.read_parquet(out / "curves")
    assert set(curves.groupby("run_id")["user_steps"].min()) == {4.0}  # one online step = 4 user-steps


def test_sweep_help_lists_num_users_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = flat(capsys.readouterr().out)
    assert "--num-usersNUM_USERS" in text and "(default:eachscenario'sown)" in text
    assert "(default:3;on--resume" in text


def test_a_new_sweep_refuses_result_files_without_a_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "theirs.parquet").write_bytes(b"someone's results")
    before = folder_hashes(out)
    code, text = sweep(capsys, TINY, "--policies", "random", "--seeds", "1", "--out", str(out))
    assert code == 2 and "holdsresultfiles" in text and "another--out" in text
    assert_unchanged(before, out)
    assert set(folder_hashes(out)) == set(before)
