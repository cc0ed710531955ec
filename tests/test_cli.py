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
