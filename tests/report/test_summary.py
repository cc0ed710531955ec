"""Ranking tables from stored runs: direction of each metric, bold best, intervals over seeds, missing values."""

from __future__ import annotations

import math
import re

import pandas as pd

from recgym.eval.metrics import METRICS
from recgym.report import html, markdown
from recgym.report.html import ranking_table
from recgym.report.summary import summarise_scenario


def _runs() -> pd.DataFrame:
    rows = []
    for policy, engagement, gini in (("random", 10.0, 0.1), ("greedy", 30.0, 0.8), ("bandit", 20.0, 0.5)):
        for seed, noise in enumerate((-1.0, 1.0)):
            rows.append(
                {
                    "run_id": f"s--{policy}--seed{seed}",
                    "scenario": "s",
                    "policy": policy,
                    "policy_label": policy,
                    "seed": seed,
                    "engagement": engagement + noise,
                    "gini": gini,
                    "regret": math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_ranks_by_the_first_metric_and_bolds_the_best_in_each_direction() -> None:
    summary = summarise_scenario("s", _runs(), ["engagement", "gini", "regret"], {"title": "S", "question": "Q?"})
    assert summary.ranking == ["greedy", "bandit", "random"]
    assert summary.best["engagement"] == {"greedy"}
    assert summary.best["gini"] == {"random"}  # lower is better
    assert summary.best["regret"] == set()  # not measured anywhere
    cell = summary.cells["greedy"]["engagement"]
    assert cell.mean == 30.0 and cell.low == 29.0 and cell.high == 31.0 and cell.seeds == 2
    assert summary.cells["random"]["regret"].text() == "n/a"


def test_lower_is_better_metrics_rank_ascending() -> None:
    summary = summarise_scenario("s", _runs(), ["gini", "engagement"], {})
    assert summary.ranking == ["random", "bandit", "greedy"]


def test_html_and_markdown_tables_follow_the_ranking() -> None:
    summary = summarise_scenario("s", _runs(), ["engagement", "gini"], {"title": "S", "question": "Q?"})
    table = ranking_table(summary)
    assert (
        table.index('data-policy="greedy"') < table.index('data-policy="bandit"') < table.index('data-policy="random"')
    )
    assert 'class="winner" data-policy="greedy"' in table
    text = markdown.render([summary], runs=6)
    assert "| 1. greedy | **30.00 [29.00, 31.00]** | 0.800 [0.800, 0.800] | 2 |" in text
    assert "gini ↓" in text


def test_wide_tables_split_into_balanced_parts_that_keep_the_ranking() -> None:
    """Ten metrics would make one table too wide for the page: two tables of five, each ranked alike."""
    runs = _runs()
    metrics = list(METRICS)[:10]
    for index, metric in enumerate(metrics):
        runs[metric] = runs["engagement"] * (index + 1)
    table = ranking_table(summarise_scenario("s", runs, metrics, {}))
    parts = re.findall(r'<table class="([\w-]+)".*?</table>', table)
    assert parts == ["ranking", "ranking-continued"]
    for part in re.findall(r"<table.*?</table>", table):
        assert part.count("<th title=") == 5
        assert re.findall(r'data-policy="(\w+)"', part) == ["greedy", "bandit", "random"]
        assert 'class="winner" data-policy="greedy"' in part
    first, second = re.findall(r"<table.*?</table>", table)
    assert "<th>seeds</th>" not in first and "<th>seeds</th>" in second


def test_cells_put_the_interval_under_the_mean() -> None:
    summary = summarise_scenario("s", _runs(), ["engagement"], {})
    assert '30.00<span class="interval">[29.00, 31.00]</span>' in ranking_table(summary)
    assert "exposure_<wbr>fairness" in html._breakable("exposure_fairness")
