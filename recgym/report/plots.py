"""The report's pictures as inline SVG: learning curves and trade-off scatters per scenario.

Matplotlib renders to SVG text, so the HTML page carries its plots inside it (no image files,
no JavaScript, nothing fetched): it opens anywhere, offline, and prints cleanly.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import pandas as pd

from recgym.eval.metrics import METRICS
from recgym.report.summary import ScenarioSummary

FIGURE_SIZE = (6.4, 3.6)


def _svg(figure: plt.Figure) -> str:
    """The figure as an <svg> element (XML prolog and doctype removed), then closed."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return re.sub(r"^.*?(<svg)", r"\1", text, count=1, flags=re.DOTALL)


def learning_curves(curves: pd.DataFrame, summary: ScenarioSummary) -> str | None:
    """Mean reward per user-step against training user-steps, one line per policy (band: min-max over seeds)."""
    if curves.empty:
        return None
    figure, axis = plt.subplots(figsize=FIGURE_SIZE)
    for label in summary.ranking:
        rows = curves[curves["policy_label"] == label]
        if rows.empty:
            continue
        by_step = rows.groupby("user_steps")["reward"]
        mean = by_step.mean()
        axis.plot(mean.index, mean.values, label=label, linewidth=1.6)
        axis.fill_between(mean.index, by_step.min().values, by_step.max().values, alpha=0.15)
    axis.set_xscale("log")  # online learners learn for thousands of user-steps, RL policies for hundreds of thousands
    axis.set_xlabel("training user-steps (log scale)")
    axis.set_ylabel("reward per user-step")
    axis.set_title(f"{summary.scenario}: learning curves")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    return _svg(figure)


def trade_off(summary: ScenarioSummary, x_metric: str, y_metric: str) -> str | None:
    """One point per policy at (x, y) means, with bootstrap-CI error bars; None if either metric is missing."""
    if x_metric not in summary.metrics or y_metric not in summary.metrics:
        return None
    figure, axis = plt.subplots(figsize=FIGURE_SIZE)
    for label in summary.ranking:
        x_cell, y_cell = summary.cells[label][x_metric], summary.cells[label][y_metric]
        axis.errorbar(
            [x_cell.mean],
            [y_cell.mean],
            xerr=x_cell.error_bar(),
            yerr=y_cell.error_bar(),
            fmt="o",
            capsize=3,
            label=label,
        )
    axis.set_xlabel(f"{x_metric} ({METRICS[x_metric].description})", fontsize=8)
    axis.set_ylabel(y_metric)
    axis.set_title(f"{summary.scenario}: {y_metric} vs {x_metric}")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    return _svg(figure)


def off_policy_bars(summary: ScenarioSummary) -> str | None:
    """Each policy's true value beside each off-policy estimate, as grouped bars."""
    table = summary.off_policy
    if table.empty:
        return None
    figure, axis = plt.subplots(figsize=FIGURE_SIZE)
    table.plot.bar(ax=axis, rot=0)
    axis.set_ylabel("value per user-step")
    axis.set_title(f"{summary.scenario}: off-policy estimates vs truth")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize=8)
    return _svg(figure)
