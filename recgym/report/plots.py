"""The report's pictures as inline SVG: learning curves and trade-off scatters per scenario.

Matplotlib renders to SVG text, so the HTML page carries its plots inside it (no image files,
no JavaScript, nothing fetched): it opens anywhere, offline, and prints cleanly.

Every policy keeps one colour and one marker across the whole report (``policy_styles``),
whatever its rank in a scenario, so a reader can follow it from plot to plot. Drawn
policy elements carry ``data-policy`` and ``data-role`` attributes (legend, curve, band,
point) so the page can be checked, or scripted, by policy.
"""

from __future__ import annotations

import dataclasses
import html
import io
import math
import re
from collections.abc import Iterable, Mapping

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import offset_copy

from recgym.eval.metrics import METRICS
from recgym.report.summary import ScenarioSummary

FIGURE_SIZE = (5.6, 3.4)
"""Inches; small enough that text stays legible when the page scales a plot (and its legend) to half its width."""

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""Policy colours: matplotlib's qualitative tab10, the palette most readers of such plots already know."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""Policy markers. Seven against ten colours (coprime): the first 70 policies get distinct (colour, marker) pairs,
and neighbours in the palette differ in shape too, which helps where colours are hard to tell apart."""

MARKER_SYMBOLS = {"o": "●", "s": "■", "^": "▲", "D": "◆", "v": "▼", "P": "✚", "X": "✖"}
"""Each marker as a text symbol, for the HTML tables' policy key."""

MAX_MARKERS_PER_CURVE = 12
"""A curve with more points gets markers on this many, evenly spaced on the log axis (markers on every
point would pile up at its right end)."""

MARKER_STYLE = {"markerfacecolor": "none", "markeredgewidth": 1.4}
"""Hollow markers: where two policies land on the same point (a one-step budget often does), both outlines show."""

DODGE_POINTS = 4.0
"""Sideways shift between neighbouring learning curves, in points: policies measured at the same user-steps
with the same value (untrained learners after one step often are) would otherwise hide one another. A few
points against an axis hundreds wide moves no point visibly off its tick."""

ESTIMATOR_COLOUR = "#4d4d4d"
"""Off-policy estimates in dark grey (truth in black), so an estimator is never mistaken for a policy's colour."""

ESTIMATOR_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")

_GID = re.compile(r'id="recgym-(\w+)-(\d+)"')


@dataclasses.dataclass(frozen=True)
class PolicyStyle:
    """How one policy looks in every plot and table of a report."""

    colour: str
    marker: str

    @property
    def symbol(self) -> str:
        """The marker as a text symbol."""
        return MARKER_SYMBOLS[self.marker]


def policy_styles(labels: Iterable[str]) -> dict[str, PolicyStyle]:
    """One colour and marker per policy label, fixed by the set of labels (sorted), never by rank or plot order.

    >>> policy_styles(["random", "linucb", "random"])["linucb"]
    PolicyStyle(colour='#1f77b4', marker='o')
    """
    return {
        label: PolicyStyle(PALETTE[index % len(PALETTE)], MARKERS[index % len(MARKERS)])
        for index, label in enumerate(sorted(set(labels)))
    }


def _svg(figure: plt.Figure, labels: list[str]) -> str:
    """The figure as an <svg> element (XML prolog and doctype removed), then closed.

    Artists tagged by ``_tag`` come out with ``data-role`` and ``data-policy`` instead of an id,
    so the page holds no duplicate ids when a policy appears in several plots.
    """
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = re.sub(r"^.*?(<svg)", r"\1", buffer.getvalue(), count=1, flags=re.DOTALL)
    return _GID.sub(lambda match: f'data-role="{match[1]}" data-policy="{html.escape(labels[int(match[2])])}"', text)


def _tag(artist: Artist, role: str, labels: list[str], label: str) -> None:
    if label not in labels:
        labels.append(label)
    artist.set_gid(f"recgym-{role}-{labels.index(label)}")


def _legend(axis: Axes, entries: list[tuple[str, PolicyStyle]], linestyle: str, tags: list[str]) -> None:
    """A legend beside the axes (never over a curve), one entry per policy in the policy's own colour and marker."""
    handles = [
        Line2D([], [], color=style.colour, marker=style.marker, linestyle=linestyle, markersize=6, **MARKER_STYLE)
        for _, style in entries
    ]
    legend = axis.legend(
        handles,
        [label for label, _ in entries],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )
    for handle, (label, _) in zip(legend.legend_handles, entries, strict=True):
        if handle is not None:
            _tag(handle, "legend", tags, label)


def count_label(value: float, _position: object = None) -> str:
    """A count as people write it: 50, 200, 1k, 20k, 100k, 1M (never 3x10^2)."""
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:g}{suffix}"
    return f"{value:g}"


def log_spaced_indices(steps: np.ndarray, count: int) -> list[int]:
    """Indices of at most ``count`` of the positive, increasing ``steps``, evenly spaced in log(step); all if few.

    >>> log_spaced_indices(np.array([1.0, 2.0, 3.0]), 12)
    [0, 1, 2]
    """
    if len(steps) <= count:
        return list(range(len(steps)))
    logs = np.log(steps)
    targets = np.linspace(logs[0], logs[-1], count)
    return sorted({int(np.abs(logs - target).argmin()) for target in targets})


def log_count_axis(axis: Axes) -> None:
    """A readable log x-axis of counts: labels on major ticks only (1-2-5 steps over up to three decades,
    decades beyond), none on minor ticks; under two such ticks in view (a narrow range), evenly spaced
    plain ticks instead, as a linear axis would have."""
    low, high = axis.get_xlim()
    decades = math.log10(high / low)
    locator: Locator = LogLocator(base=10.0, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,), numticks=8)
    if sum(low <= tick <= high for tick in locator.tick_values(low, high)) < 2:
        locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(FuncFormatter(count_label))
    axis.xaxis.set_minor_locator(LogLocator(base=10.0, subs="auto", numticks=8))
    axis.xaxis.set_minor_formatter(NullFormatter())


def learning_curves(
    curves: pd.DataFrame, summary: ScenarioSummary, styles: Mapping[str, PolicyStyle] | None = None
) -> str | None:
    """Mean reward per user-step against training user-steps, one line per policy (band: min-max over seeds).

    Every curve has markers, so a curve of one point is drawn too; curves are dodged sideways
    by ``DODGE_POINTS`` so equal values at the same step do not hide each other.
    """
    if curves.empty:
        return None
    styles = styles or policy_styles(summary.ranking)
    figure, axis = plt.subplots(figsize=FIGURE_SIZE)
    tags: list[str] = []
    entries = []
    drawn = [label for label in summary.ranking if (curves["policy_label"] == label).any()]
    for index, label in enumerate(drawn):
        rows = curves[curves["policy_label"] == label]
        style = styles[label]
        dodged = offset_copy(
            axis.transData, figure, x=(index - (len(drawn) - 1) / 2) * DODGE_POINTS, y=0.0, units="points"
        )
        by_step = rows.groupby("user_steps")["reward"]
        mean = by_step.mean()
        (line,) = axis.plot(
            mean.index,
            mean.values,
            color=style.colour,
            marker=style.marker,
            markersize=5,
            markevery=log_spaced_indices(mean.index.to_numpy(dtype=float), MAX_MARKERS_PER_CURVE),
            linewidth=1.4,
            **MARKER_STYLE,
        )
        _tag(line, "curve", tags, label)
        band = axis.fill_between(
            mean.index,
            by_step.min().values,
            by_step.max().values,
            color=style.colour,
            alpha=0.15,
            linewidth=0,
        )
        _tag(band, "band", tags, label)
        for artist in (line, band):
            artist.set_transform(dodged)  # after autoscaling has taken the undodged data limits
        entries.append((label, style))
    if not entries:
        plt.close(figure)
        return None
    axis.set_xscale("log")  # online learners learn for thousands of user-steps, RL policies for hundreds of thousands
    log_count_axis(axis)
    axis.set_xlabel("training user-steps (log scale)")
    axis.set_ylabel("reward per user-step")
    axis.set_title(f"{summary.scenario}: learning curves")
    axis.grid(alpha=0.3)
    _legend(axis, entries, "-", tags)
    return _svg(figure, tags)


def trade_off(
    summary: ScenarioSummary, x_metric: str, y_metric: str, styles: Mapping[str, PolicyStyle] | None = None
) -> str | None:
    """One point per policy at (x, y) means, with bootstrap-CI error bars; None if either metric is missing."""
    if x_metric not in summary.metrics or y_metric not in summary.metrics:
        return None
    styles = styles or policy_styles(summary.ranking)
    figure, axis = plt.subplots(figsize=FIGURE_SIZE)
    tags: list[str] = []
    for label in summary.ranking:
        x_cell, y_cell = summary.cells[label][x_metric], summary.cells[label][y_metric]
        style = styles[label]
        container = axis.errorbar(
            [x_cell.mean],
            [y_cell.mean],
            xerr=x_cell.error_bar(),
            yerr=y_cell.error_bar(),
            color=style.colour,
            marker=style.marker,
            markersize=7,
            linestyle="none",
            capsize=3,
            **MARKER_STYLE,
        )
        _tag(container.lines[0], "point", tags, label)
    axis.set_xlabel(f"{x_metric} ({METRICS[x_metric].description})", fontsize=8)
    axis.set_ylabel(y_metric)
    axis.set_title(f"{summary.scenario}: {y_metric} vs {x_metric}")
    axis.grid(alpha=0.3)
    _legend(axis, [(label, styles[label]) for label in summary.ranking], "none", tags)
    return _svg(figure, tags)


def off_policy_bars(summary: ScenarioSummary) -> str | None:
    """Each policy's true value (a black bar across its row) beside each off-policy estimate (a grey marker).

    Policies are rows, so their names never collide however long; each estimator keeps its
    row position and marker, and how far it sits from the black bar is its error.
    """
    table = summary.off_policy
    if table.empty:
        return None
    estimators = [column for column in table.columns if column != "truth"]
    height = max(FIGURE_SIZE[1], 0.35 * len(table) * max(2, len(estimators)) / 2)
    figure, axis = plt.subplots(figsize=(FIGURE_SIZE[0], height))
    rows = list(range(len(table)))
    if "truth" in table.columns:
        axis.errorbar(
            table["truth"], rows, yerr=0.42, fmt="none", ecolor="black", elinewidth=2.2, capsize=0, label="truth"
        )
    for index, estimator in enumerate(estimators):
        offset = (index - (len(estimators) - 1) / 2) * 0.7 / max(1, len(estimators) - 1)
        axis.plot(
            table[estimator],
            [row + offset for row in rows],
            linestyle="none",
            marker=ESTIMATOR_MARKERS[index % len(ESTIMATOR_MARKERS)],
            markersize=5,
            color=ESTIMATOR_COLOUR,
            label=estimator,
            **MARKER_STYLE,
        )
    axis.set_yticks(rows, [str(label) for label in table.index])
    axis.set_ylim(len(table) - 0.5, -0.5)  # the first policy on top
    axis.set_xlabel("value per user-step")
    axis.set_title(f"{summary.scenario}: off-policy estimates vs truth")
    axis.grid(alpha=0.3, axis="x")
    handles, labels = axis.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda index: labels[index] != "truth")  # truth first, as in the table
    axis.legend(
        [handles[index] for index in order],
        [labels[index] for index in order],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )
    return _svg(figure, [])
