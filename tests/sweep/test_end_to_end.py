"""The whole path on the tiny sweep: results, SIGKILL mid-sweep and resume, and a report checked in Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from recgym.report import write_report
from recgym.sweep import ResultsStore
from tests.sweep.browser import open_report
from tests.sweep.helpers import TINY_POLICIES, TINY_RUNS, metrics_by_run, run_cli, sweep_command

pytestmark = pytest.mark.slow


def _kill_after(out: Path, finished_at_least: int, timeout: float = 300) -> None:
    """Start the sweep in its own process group and SIGKILL the group once enough runs are stored."""
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        sweep_command(out, "--workers", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
        start_new_session=True,
    )
    store = ResultsStore(out)
    deadline = time.monotonic() + timeout
    while len(store.finished_ids()) < finished_at_least:
        assert process.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("sweep") / "tiny"
    _kill_after(out, finished_at_least=3)
    store = ResultsStore(out)
    before = store.runs().set_index("run_id")
    resumed = run_cli(sweep_command(out, "--resume", "--workers", "2"))
    return {"out": out, "before": before, "after": store.runs().set_index("run_id"), "log": resumed.stdout}


def test_killed_sweep_resumes_without_losing_or_repeating_runs(killed_and_resumed: dict[str, object]) -> None:
    before, after = killed_and_resumed["before"], killed_and_resumed["after"]
    assert isinstance(before, pd.DataFrame) and isinstance(after, pd.DataFrame)
    assert 3 <= len(before) < TINY_RUNS, "the kill must land mid-sweep"
    assert len(after) == TINY_RUNS and after.index.is_unique
    # Runs finished before the kill were neither lost nor run again: their rows are byte-identical,
    # down to the time they finished.
    pd.testing.assert_frame_equal(after.loc[before.index, before.columns], before)
    assert f"{len(before)} of {TINY_RUNS} runs already finished" in str(killed_and_resumed["log"]).replace("\n", " ")


def test_results_are_readable_by_pandas_and_duckdb(killed_and_resumed: dict[str, object]) -> None:
    import duckdb

    out = Path(str(killed_and_resumed["out"]))
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == TINY_RUNS
    counted = duckdb.sql(
        f"select scenario, policy, count(*) as runs from read_parquet('{out}/runs/*.parquet', union_by_name=true) "
        "group by all order by all"
    ).fetchall()
    assert [row[2] for row in counted] == [2] * 6
    curves = duckdb.sql(f"select count(distinct run_id) from read_parquet('{out}/curves/*.parquet')").fetchall()
    assert curves == [(TINY_RUNS,)]
    import sqlite3

    with sqlite3.connect(out / "manifest.sqlite") as connection:
        assert connection.execute("select count(*) from runs").fetchone()[0] == TINY_RUNS


def test_the_oracle_beats_the_bandit_which_beats_random_on_clicks(killed_and_resumed: dict[str, object]) -> None:
    after = killed_and_resumed["after"]
    assert isinstance(after, pd.DataFrame)
    clicks = after[after["scenario"] == "tiny_linear"].groupby("policy")["clicks"].mean()
    assert clicks["oracle_greedy"] > clicks["linucb"] > clicks["random"]
    regret = after[after["scenario"] == "tiny_linear"].groupby("policy")["regret"].mean()
    assert regret["oracle_greedy"] == pytest.approx(0.0, abs=1e-6)
    assert regret["random"] > regret["linucb"] > 0


def test_resumed_results_equal_an_uninterrupted_sweep(killed_and_resumed: dict[str, object], tmp_path: Path) -> None:
    run_cli(sweep_command(tmp_path / "whole", "--workers", "2"))
    whole = ResultsStore(tmp_path / "whole").runs()
    after = killed_and_resumed["after"]
    assert isinstance(after, pd.DataFrame)
    pd.testing.assert_frame_equal(metrics_by_run(whole), metrics_by_run(after.reset_index()))


def test_report_renders_plots_and_the_right_ranking_in_chromium(
    killed_and_resumed: dict[str, object], tmp_path: Path
) -> None:
    out = Path(str(killed_and_resumed["out"]))
    html_path, markdown_path = write_report(out)
    runs = ResultsStore(out).runs()
    expected_winner = {
        "tiny_linear": runs[runs["scenario"] == "tiny_linear"].groupby("policy")["clicks"].mean().idxmax(),
        "tiny_satisfaction": runs[runs["scenario"] == "tiny_satisfaction"]
        .groupby("policy")["engagement"]
        .mean()
        .idxmax(),
    }
    page = open_report(html_path, tmp_path / "report.png")
    assert page.screenshot.is_file()
    for scenario, winner in expected_winner.items():
        table = page.tables[scenario]
        assert table.row_order[0] == winner
        # The highlight fills the row's cells around their (often bold) text.
        assert table.winner_row_highlight_share > 0.3, "the top-ranked row is not highlighted on screen"
        assert table.second_row_highlight_share < 0.01
        assert table.bold_cells_in_winner_row >= 1
        for kind in ("learning-curves", "engagement-vs-diversity"):
            plot = page.plots[(scenario, kind)]
            assert plot.width > 300 and plot.height > 150
            assert plot.ink_share > 0.02, f"{scenario} {kind} plot rendered blank"
            assert plot.distinct_colours >= len(TINY_POLICIES), f"{scenario} {kind}: a policy's colour is missing"
    assert "tiny_linear" in markdown_path.read_text()
