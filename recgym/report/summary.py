"""From a results store to per-scenario ranking tables: mean and bootstrap CI over seeds, per policy."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from recgym.eval.metrics import DEFAULT_METRICS, METRICS, bootstrap_ci
from recgym.sweep.store import ResultsStore

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Cell:
    """One metric of one policy: mean over seeds and its bootstrap interval."""

    mean: float
    low: float
    high: float
    seeds: int

    def text(self) -> str:
        """'1,234 [1,200, 1,260]', or 'n/a' when the metric was not measured."""
        if math.isnan(self.mean):
            return "n/a"
        if math.isnan(self.low):
            return _number(self.mean)
        return f"{_number(self.mean)} [{_number(self.low)}, {_number(self.high)}]"

    def error_bar(self) -> list[list[float]] | None:
        """[[below], [above]] the mean, as matplotlib's errorbar takes it; None without an interval."""
        if math.isnan(self.low):
            return None
        return [[max(self.mean - self.low, 0.0)], [max(self.high - self.mean, 0.0)]]

    def short_text(self) -> str:
        """'1,234 ±30' (the interval's larger half-width), for narrow terminal tables."""
        if math.isnan(self.mean) or math.isnan(self.low):
            return self.text()
        return f"{_number(self.mean)} ±{_number(max(self.high - self.mean, self.mean - self.low))}"


@dataclasses.dataclass(frozen=True)
class ScenarioSummary:
    """The ranking of one scenario's policies and what went into it."""

    scenario: str
    title: str
    question: str
    metrics: list[str]
    """Reported metrics; the first ranks the policies."""
    ranking: list[str]
    """Policy labels, best first by the ranking metric."""
    cells: dict[str, dict[str, Cell]]
    """policy label -> metric -> cell."""
    best: dict[str, set[str]]
    """metric -> the policy labels with the best mean (bold in reports)."""
    off_policy: pd.DataFrame
    """Per policy: the true value and each estimator's mean over seeds (empty if no logs)."""

    @property
    def ranking_metric(self) -> str:
        return self.metrics[0]


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarise_store(store: ResultsStore) -> list[ScenarioSummary]:
    """One summary per scenario in the store, in the plan's order."""
    runs = store.runs()
    plan = store.read_plan()["plan"]
    scenario_info = {item["name"]: item for item in plan["scenarios"]}
    summaries = []
    for name in dict.fromkeys(runs["scenario"]):
        info = scenario_info.get(name.split("[")[0], {})
        metrics = list(info.get("metrics") or DEFAULT_METRICS)
        summaries.append(summarise_scenario(name, runs[runs["scenario"] == name], metrics, info))
    return summaries


def summarise_scenario(name: str, runs: pd.DataFrame, metrics: list[str], info: dict[str, Any]) -> ScenarioSummary:
    """Mean and CI over seeds of each metric for each policy, the ranking, and the best per metric."""
    metrics = [metric for metric in metrics if metric in runs.columns]
    cells: dict[str, dict[str, Cell]] = {}
    for label, group in runs.groupby("policy_label", sort=False):
        cells[str(label)] = {}
        for metric in metrics:
            mean, low, high = bootstrap_ci(group[metric].astype(float).tolist(), confidence=CONFIDENCE)
            cells[str(label)][metric] = Cell(mean, low, high, int(group[metric].notna().sum()))
    ranking_metric = metrics[0]
    sign = 1.0 if METRICS[ranking_metric].higher_is_better else -1.0
    ranking = sorted(cells, key=lambda label: -sign * _finite(cells[label][ranking_metric].mean, sign))
    best = {metric: _best(cells, metric) for metric in metrics}
    return ScenarioSummary(
        scenario=name,
        title=info.get("title", name),
        question=info.get("question", ""),
        metrics=metrics,
        ranking=ranking,
        cells=cells,
        best=best,
        off_policy=_off_policy(runs),
    )


def _finite(value: float, sign: float) -> float:
    """NaN ranks last whichever way is better."""
    return value if not math.isnan(value) else -math.inf * sign


def _best(cells: dict[str, dict[str, Cell]], metric: str) -> set[str]:
    means = {label: row[metric].mean for label, row in cells.items() if not math.isnan(row[metric].mean)}
    if not means:
        return set()
    target = max(means.values()) if METRICS[metric].higher_is_better else min(means.values())
    return {label for label, value in means.items() if math.isclose(value, target, rel_tol=1e-9, abs_tol=1e-12)}


def _off_policy(runs: pd.DataFrame) -> pd.DataFrame:
    columns = [column for column in runs.columns if column.startswith("ope_")]
    if not columns or runs[columns].isna().all().all():
        return pd.DataFrame()
    table = runs.groupby("policy_label", sort=False)[columns].mean().dropna(how="all")  # the oracle has no estimate
    return table.rename(columns=lambda column: column.removeprefix("ope_"))
