import json

import pandas as pd

from recgym.cli import main


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
    assert main([*arguments, "--out", str(out)]) == 0  # a second demo replaces the first


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
    assert "Unknown PPOConfig field(s) ['gama']" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "No checkpoint" in capsys.readouterr().out
