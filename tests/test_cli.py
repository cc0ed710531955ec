import json

from recgym.cli import main


def test_envs_lists_registered_ids(capsys) -> None:
    assert main(["envs"]) == 0
    assert "recgym/InterestEvolution-v0" in capsys.readouterr().out


def test_demo_trains_evaluates_and_writes_a_report(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--num-users",
            "32",
            "--train-steps",
            "1024",
            "--train-users",
            "16",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("random", "most popular", "myopic greedy", "SB3 PPO"):
        assert name in printed
    results = json.loads((out / "results.json").read_text())["results"]
    assert set(results) == {"random", "most popular", "myopic greedy", "SB3 PPO"}
    for summary in results.values():
        assert summary["watch_time"]["count"] == 32 and summary["length"]["mean"] > 0
    assert "| SB3 PPO |" in (out / "report.md").read_text()


def test_bad_option_reports_a_clear_error(tmp_path, capsys) -> None:
    assert main(["demo", "--num-users", "0", "--out", str(tmp_path)]) == 2
    assert "num_envs must be positive" in capsys.readouterr().out


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
