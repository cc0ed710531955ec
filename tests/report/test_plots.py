"""Report plots: one colour and marker per policy whatever its rank, readable log ticks, every curve drawn."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ElementTree

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from recgym.report import html, plots
from recgym.report.summary import ScenarioSummary, summarise_scenario

POLICIES = ["random", "greedy", "bandit"]


def _summary(scenario: str, engagement: dict[str, float]) -> ScenarioSummary:
    rows = [
        {
            "run_id": f"{scenario}--{policy}--seed{seed}",
            "scenario": scenario,
            "policy": policy,
            "policy_label": policy,
            "seed": seed,
            "engagement": value + noise,
            "diversity": 0.5 + 0.1 * index,
            "return_visits": 1.0 + index,
        }
        for index, (policy, value) in enumerate(engagement.items())
        for seed, noise in enumerate((-0.5, 0.5))
    ]
    return summarise_scenario(scenario, pd.DataFrame(rows), ["engagement", "diversity", "return_visits"], {})


def _curves(scenario: str, points: dict[str, int]) -> pd.DataFrame:
    """Learning curves of ``points[policy]`` steps each, 32 users per step, two seeds."""
    rows = [
        {"scenario": scenario, "policy_label": policy, "seed": seed, "user_steps": 32.0 * step, "reward": 1.0 + seed}
        for policy, count in points.items()
        for step in range(1, count + 1)
        for seed in (0, 1)
    ]
    return pd.DataFrame(rows)


def _svg_elements(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def _colours_by_role(svg: str, role: str) -> dict[str, set[str]]:
    """policy -> the stroke and fill colours of its elements of ``role`` (legend, curve, band, point)."""
    found: dict[str, set[str]] = {}
    for element in _svg_elements(svg).iter():
        if element.get("data-role") != role:
            continue
        colours = found.setdefault(element.get("data-policy", ""), set())
        for part in element.iter():
            colours.update(re.findall(r"(?:stroke|fill): (#[0-9a-f]{6})", part.get("style", "")))
    return found


def test_styles_depend_only_on_the_set_of_policies() -> None:
    styles = plots.policy_styles(POLICIES)
    for order in itertools.permutations(POLICIES):
        assert plots.policy_styles([*order, order[0]]) == styles
    assert list(styles) == sorted(POLICIES)


def test_styles_are_distinct() -> None:
    ten = plots.policy_styles(f"policy{index}" for index in range(10))
    assert len({style.colour for style in ten.values()}) == 10
    seventy = plots.policy_styles(f"policy{index:02d}" for index in range(70))
    assert len({(style.colour, style.marker) for style in seventy.values()}) == 70
    three = plots.policy_styles(POLICIES)
    assert len({style.marker for style in three.values()}) == 3, "neighbouring policies differ in shape too"


def test_a_policy_keeps_its_colour_whatever_its_rank() -> None:
    first = _summary("a", {"random": 1.0, "greedy": 3.0, "bandit": 2.0})
    second = _summary("b", {"random": 3.0, "greedy": 1.0, "bandit": 2.0})
    assert first.ranking != second.ranking
    styles = plots.policy_styles(POLICIES)
    curves = pd.concat([_curves("a", dict.fromkeys(POLICIES, 5)), _curves("b", dict.fromkeys(POLICIES, 5))])
    svgs = [
        plots.learning_curves(curves[curves["scenario"] == summary.scenario], summary, styles)
        for summary in (first, second)
    ] + [plots.trade_off(summary, "diversity", "engagement", styles) for summary in (first, second)]
    for svg in svgs:
        assert svg is not None
        for role in ("legend", "curve", "point"):
            for label, colours in _colours_by_role(svg, role).items():
                assert colours == {styles[label].colour}, f"{label}'s {role} is drawn in {colours}"
        assert set(_colours_by_role(svg, "legend")) == set(POLICIES)


def test_the_page_uses_one_mapping_for_every_scenario() -> None:
    first = _summary("a", {"random": 1.0, "greedy": 3.0, "bandit": 2.0})
    second = _summary("b", {"random": 3.0, "greedy": 1.0})  # fewer policies here: colours must not shift
    curves = pd.concat([_curves("a", dict.fromkeys(POLICIES, 5)), _curves("b", {"random": 5, "greedy": 5})])
    page = html.render([first, second], curves, {"plan": {}, "versions": {}}, runs=10)
    styles = plots.policy_styles(POLICIES)
    for label, style in styles.items():
        legend_colours = set(
            re.findall(rf'data-role="legend" data-policy="{label}"[^>]*>\s*<path[^>]*stroke: (#\w+)', page)
        )
        assert legend_colours == {style.colour}, label
        assert f'<span class="key" style="color: {style.colour}" aria-hidden="true">{style.symbol}</span>' in page


def test_a_one_point_curve_is_drawn_with_a_marker() -> None:
    summary = _summary("a", {"random": 1.0, "greedy": 3.0, "bandit": 2.0})
    svg = plots.learning_curves(_curves("a", {"random": 1, "greedy": 30, "bandit": 5}), summary)
    assert svg is not None
    root = _svg_elements(svg)
    markers = {
        element.get("data-policy"): len(element.findall(".//{http://www.w3.org/2000/svg}use"))
        for element in root.iter()
        if element.get("data-role") == "curve"
    }
    assert markers["random"] == 1
    assert markers["bandit"] == 5
    assert 2 <= markers["greedy"] <= plots.MAX_MARKERS_PER_CURVE  # long curves: evenly spaced markers


@pytest.mark.parametrize(
    ("value", "text"),
    [(5, "5"), (50, "50"), (200, "200"), (1000, "1k"), (2000, "2k"), (10_000, "10k"), (100_000, "100k"), (2e6, "2M")],
)
def test_counts_are_labelled_plainly(value: float, text: str) -> None:
    assert plots.count_label(value) == text


@pytest.mark.parametrize(("low", "high"), [(32, 1280), (128, 5120), (32, 32), (40_960, 81_920), (100, 100_000)])
def test_log_axis_labels_only_major_ticks_and_never_overlaps(low: float, high: float) -> None:
    """128 to 5120 user-steps (128 users, 40 steps) is where the old minor labels ran into each other."""
    figure, axis = plt.subplots(figsize=plots.FIGURE_SIZE)
    try:
        axis.plot([low, high], [0.0, 1.0])
        axis.set_xscale("log")
        plots.log_count_axis(axis)
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        assert all(label.get_text() == "" for label in axis.get_xticklabels(minor=True))
        shown = [
            label
            for label in axis.get_xticklabels()
            if label.get_text() and axis.get_xlim()[0] <= label.get_position()[0] <= axis.get_xlim()[1]
        ]
        assert len(shown) >= 2
        assert all(re.fullmatch(r"[0-9.]+[kM]?", label.get_text()) for label in shown), [
            label.get_text() for label in shown
        ]
        boxes = sorted((label.get_window_extent(renderer) for label in shown), key=lambda box: box.x0)
        assert all(left.x1 <= right.x0 for left, right in itertools.pairwise(boxes))
    finally:
        plt.close(figure)


def test_log_spaced_marker_indices() -> None:
    steps = 32.0 * np.arange(1, 41)
    indices = plots.log_spaced_indices(steps, 12)
    assert indices[0] == 0 and indices[-1] == 39 and len(indices) <= 12
    assert indices == sorted(set(indices))
    assert plots.log_spaced_indices(steps[:3], 12) == [0, 1, 2]
