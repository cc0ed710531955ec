import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from recgym.cli import default_threads, main
from recgym.demo import demo_folder
from tests.file_hashes import assert_unchanged, folder_hashes


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch) -> None:
    """Rich wraps at the terminal width; a wide one keeps messages on one line for the assertions."""
    monkeypatch.setenv("COLUMNS", "1000")


def test_envs_lists_registered_ids(capsys) -> None:
    assert main(["envs"]) == 0
    assert "recgym/InterestEvolution-v0" in capsys.readouterr().out


def test_demo_runs_a_short_sweep_and_writes_its_report(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    arguments = ["demo", "--seeds", "1", "--rl-steps", "2048", "--num-users", "16", "--workers", "1"]
    assert main([*arguments, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("random", "myopic_greedy", "linucb", "ppo"):
        assert name in printed
    runs = pd.read_parquet(out / "runs")
    assert set(runs["policy"]) == {"random", "myopic_greedy", "oracle_greedy", "linucb", "thompson", "ppo"}
    assert set(runs["scenario"]) == {"clickbait_vs_satisfaction", "interest_drift"}
    assert (runs["engagement"] > 0).all()
    assert "<svg" in (out / "report.html").read_text()
    assert "| 1. " in (out / "report.md").read_text()


def test_bad_option_reports_a_clear_error(tmp_path, capsys) -> None:
    assert main(["demo", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "at least one seed" in capsys.readouterr().out


TRAIN_ARGS = [
    "train",
    "--algo",
    "ppo",
    "--env",
    "recgym/LongTermSatisfaction-v0",
    "--num-users",
    "16",
    "--device",
    "cpu",
    "--set",
    "rollout_steps=8",
    "checkpoint_every=1",
    "--env-kwarg",
    "horizon_days=2",
    "num_items=200",
]


def test_train_saves_artefacts_resumes_and_evaluates(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main([*TRAIN_ARGS, "--total-steps", "256", "--out", str(out)]) == 0
    assert (out / "checkpoint.pt").is_file() and (out / "config.json").is_file()
    assert any((out / "tensorboard").iterdir())
    assert json.loads((out / "config.json").read_text())["algorithm"] == "ppo"

    assert main([*TRAIN_ARGS, "--total-steps", "256", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().out

    assert main([*TRAIN_ARGS, "--total-steps", "512", "--out", str(out), "--resume"]) == 0
    assert "from 256" in capsys.readouterr().out.replace(",", "")

    assert main(["evaluate", str(out), "--num-users", "16", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for name in ("ppo", "myopic greedy", "random", "watch time"):
        assert name in printed


def test_train_rejects_bad_configs_at_once(tmp_path, capsys) -> None:
    out = str(tmp_path / "bad")
    assert main(["train", "--algo", "dqn-please", "--out", out]) == 2
    assert "Unknown algorithm 'dqn-please'" in capsys.readouterr().out
    assert main(["train", "--env", "CartPole-v1", "--out", out, "--device", "cpu"]) == 2
    assert "slates" in capsys.readouterr().out
    assert main(["train", "--device", "cuda:7", "--out", out]) == 2
    assert "cuda:7" in capsys.readouterr().out
    assert main(["train", "--set", "gamma=2", "--out", out, "--device", "cpu"]) == 2
    assert "gamma" in capsys.readouterr().out
    assert main(["train", "--set", "gama=0.9", "--out", out, "--device", "cpu"]) == 2
    assert "Unknown PPOConfig field(s) 'gama' (did you mean 'gamma'?)" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "No run folder, checkpoint or policy file" in capsys.readouterr().out


# -- nothing lost -------------------------------------------------------------------------------------


def _users_own_sweep(folder) -> None:
    """A folder as a user leaves it: their own sweep's files and a notes file."""
    (folder / "runs").mkdir(parents=True)
    for index in range(3):
        (folder / "runs" / f"run-{index}.parquet").write_bytes(bytes([index]) * 64)
    (folder / "sweep.json").write_text('{"plan": {}}')
    (folder / "notes.txt").write_text("my thesis results")


def test_demo_refuses_a_folder_that_holds_anything_and_names_the_flag(tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    _users_own_sweep(out)
    before = folder_hashes(out)
    assert main(["demo", "--seeds", "1", "--out", str(out)]) == 2
    printed = capsys.readouterr().out
    assert str(out) in printed and "--out" in printed
    assert_unchanged(before, out)
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt", "runs", "sweep.json"]


def test_default_demo_folder_is_a_fresh_one_beside_earlier_demos(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = demo_folder(None)
    assert first.name == "demo" and first.is_dir()
    (first / "report.html").write_text("earlier demo")
    second = demo_folder(None)
    assert second.name == "demo-2" and second.is_dir()
    assert demo_folder(None).name == "demo-3"  # claimed even while empty: two demos never share a folder
    assert (first / "report.html").read_text() == "earlier demo"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert demo_folder(empty) == empty


# -- train and evaluate: typed errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("gamma=abc", "gamma must be a number; got 'abc' (str). On the command line write e.g. --set gamma=0.99"),
        ("epochs=2.5", "epochs must be an integer; got 2.5 (float). On the command line write e.g. --set epochs=4"),
    ],
)
def test_train_set_of_the_wrong_type_fails_before_any_rollout(tmp_path, capsys, assignment, message) -> None:
    out = tmp_path / "run"
    assert main(["train", "--device", "cpu", "--out", str(out), "--set", assignment]) == 2
    assert message in capsys.readouterr().out
    assert not out.exists()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main([*TRAIN_ARGS, "--total-steps", "100", "--out", str(out)]) == 0
    return out


def test_train_reports_the_steps_it_really_trained(trained_run, capsys) -> None:
    assert main([*TRAIN_ARGS, "--total-steps", "200", "--out", str(trained_run), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "Trained 256 user-steps (requested 200)" in printed
    assert "num_users x rollout_steps = 128 user-steps" in printed


def test_evaluate_on_an_env_of_other_shapes_names_both_and_the_fix(trained_run, capsys) -> None:
    before = folder_hashes(trained_run)
    arguments = ["evaluate", str(trained_run), "--num-users", "8", "--device", "cpu", "--no-baselines"]
    assert main([*arguments, "--env", "recgym/InterestEvolution-v0"]) == 2
    printed = capsys.readouterr().out
    assert "trained on recgym/LongTermSatisfaction-v0" in printed and "recgym/InterestEvolution-v0" in printed
    assert "candidate_features: trained on" in printed and "--env-kwarg" in printed
    assert_unchanged(before, trained_run)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_evaluate_a_damaged_checkpoint_names_the_file_and_the_way_out(trained_run, tmp_path, capsys, damage) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    original = (trained_run / "checkpoint.pt").read_bytes()
    contents = {
        "truncated": original[: len(original) // 2],
        "garbage": b"not a checkpoint at all" * 10,
        "foreign": b"",
    }[damage]
    if damage == "foreign":
        torch.save({"weights": torch.zeros(2)}, broken / "checkpoint.pt")
    else:
        (broken / "checkpoint.pt").write_bytes(contents)
    before = folder_hashes(broken)
    assert main(["evaluate", str(broken), "--device", "cpu"]) == 2
    printed = capsys.readouterr().out
    assert str(broken / "checkpoint.pt") in printed
    assert ("truncated, corrupt" in printed) if damage != "foreign" else ("not a recgym RL checkpoint" in printed)
    assert "recgym train" in printed
    assert_unchanged(before, broken)


def test_evaluate_writes_its_table_to_a_new_file_and_never_over_one(trained_run, tmp_path, capsys) -> None:
    arguments = ["evaluate", str(trained_run), "--num-users", "8", "--device", "cpu"]
    table = tmp_path / "table.json"
    assert main([*arguments, "--out", str(table)]) == 0
    written = json.loads(table.read_text())
    assert set(written["policies"]) == {"ppo", "myopic greedy", "random"}
    assert written["policies"]["ppo"]["watch_time"]["count"] == 8
    markdown = tmp_path / "table.md"
    assert main([*arguments, "--out", str(markdown)]) == 0
    assert "| ppo |" in markdown.read_text()
    before = folder_hashes(tmp_path)
    capsys.readouterr()
    assert main([*arguments, "--out", str(table)]) == 2
    assert "already exists" in capsys.readouterr().out
    assert main([*arguments, "--out", str(tmp_path / "table.csv")]) == 2
    assert ".json or .md" in capsys.readouterr().out
    assert_unchanged(before, tmp_path)


# -- seeds, threads, help --------------------------------------------------------------------------------


def test_trainers_of_different_seeds_train_on_disjoint_users() -> None:
    from recgym.rl import make_trainer

    def user_keys(seed: int) -> set[int]:
        trainer = make_trainer("ppo", device="cpu", num_users=64, seed=seed, env_kwargs={"num_items": 200})
        return set(trainer.env.state.keys.tolist())

    assert not user_keys(0) & user_keys(1)


def test_default_threads_are_one_on_small_machines_and_half_on_large() -> None:
    assert default_threads(1) == default_threads(2) == default_threads(4) == 1
    assert default_threads(16) == 8


def test_threads_option_sets_torch_threads_and_refuses_nonsense(tmp_path, capsys) -> None:
    arguments = ["evaluate", str(tmp_path / "none"), "--device", "cpu"]
    assert main([*arguments, "--threads", "0"]) == 2
    assert "--threads must be a positive integer; got 0" in capsys.readouterr().out
    assert main([*arguments, "--threads", "2"]) == 2  # fails later, on the missing checkpoint
    assert torch.get_num_threads() == 2


def test_help_shows_defaults_and_policies_lists_parameters(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "(default: 1024)" in capsys.readouterr().out
    assert main(["policies"]) == 0
    printed = capsys.readouterr().out
    for name in ("linucb", "ppo", "alpha=1.0"):
        assert name in printed


def test_the_command_line_starts_without_importing_torch() -> None:
    """What makes `recgym --help` answer at once: nothing heavy is imported until a command needs it."""
    code = "import sys, recgym.cli; recgym.cli._parser(); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_error_messages_keep_their_brackets(tmp_path, capsys) -> None:
    """Rich reads '[episode]' as markup; an error must print exactly as raised."""
    scenario = tmp_path / "bad.toml"
    shipped = (Path(__file__).parents[1] / "scenarios" / "library" / "cold_start.toml").read_text()
    scenario.write_text(
        shipped.replace('name = "cold_start"', 'name = "bad"').replace(
            "params = { theta_spread = 1.0 }", "params = { theta_spread = 1.0, slate_size = 3 }"
        )
    )
    assert main(["sweep", str(scenario), "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr().out
    assert "set it in [episode] (or reward)" in printed


def _hold_train_lock(out: str, ready, release) -> None:
    from recgym.core.files import file_lock

    with file_lock(Path(out) / "train"):
        ready.set()
        release.wait(60)


def test_a_second_train_into_a_folder_in_use_fails_at_once(tmp_path, capsys) -> None:
    import multiprocessing

    out = tmp_path / "run"
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_train_lock, args=(str(out), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        assert main([*TRAIN_ARGS, "--total-steps", "128", "--out", str(out)]) == 2
        assert "Another recgym train is writing" in capsys.readouterr().out
        assert not (out / "checkpoint.pt").exists() and not (out / "config.json").exists()
    finally:
        release.set()
        holder.join(60)


def test_train_keeps_the_files_of_a_run_that_never_checkpointed(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"algorithm": "ppo", "note": "crashed early"}')
    before = folder_hashes(out)
    assert main([*TRAIN_ARGS, "--total-steps", "128", "--out", str(out)]) == 2
    assert "stopped before its first checkpoint" in capsys.readouterr().out
    assert_unchanged(before, out)
