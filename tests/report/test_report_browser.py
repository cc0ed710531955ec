"""The report's plots and tables as a reader sees them in headless Chromium, on a small real sweep.

The sweep is built to show what used to go wrong: policies rank differently from scenario to
scenario (colours followed rank), an online budget of 20 steps of 32 users (1.3 decades of
user-steps, where the log axis labelled its minor ticks into each other), a budget of one step
(one-point curves, listed in the legend but not drawn), and up to ten metrics (tables wider
than the page). Everything asserted is read from the rendered page: legend entries and their
label as matplotlib writes them into the SVG, computed colours and bounding boxes, scroll widths.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from recgym.report import write_report
from tests.sweep.browser import CHROMIUM_FLAGS, chromium_path
from tests.sweep.helpers import DATA, TINY_SCENARIOS, run_cli

pytestmark = pytest.mark.slow

POLICIES = ["random", "oracle_greedy", "linucb", "most_popular"]
VIEWPORT = {"width": 1280, "height": 900}
"""A common laptop width: every table must fit it without a horizontal scrollbar."""
POLICY_PLOTS = ("learning-curves", "engagement-vs-diversity", "engagement-vs-retention")
"""Plots with one legend entry per policy (the off-policy plot's entries are estimators)."""

PIXEL_TOLERANCE = 40
"""Largest channel difference from a policy's colour for a screenshot pixel to count as that colour."""
MIN_PIXELS = 6
"""Pixels of its colour a policy needs inside the axes to count as seen (a hollow marker gives about 20)."""

OFF_POLICY = """
[off_policy]
logging_policy = "myopic_greedy"
epsilon = 0.3
steps = 5
"""

MEASURE = """
() => {
  const box = (element) => {
    const r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height};
  };
  const paint = (element) => {
    // The colours an element paints with, and whether it paints anything a reader can see.
    const style = getComputedStyle(element);
    const r = element.getBoundingClientRect();
    const colours = [];
    let visible = false;
    if (style.stroke !== "none" && parseFloat(style.strokeWidth) > 0 && parseFloat(style.strokeOpacity) > 0) {
      colours.push(style.stroke);
      visible = visible || Math.max(r.width, r.height) >= 3;  // a stroked line of some length
    }
    if (style.fill !== "none" && parseFloat(style.fillOpacity) > 0) {
      colours.push(style.fill);
      visible = visible || (r.width >= 2 && r.height >= 2);  // a filled shape of some area
    }
    return {colours, visible, centre: [(r.left + r.right) / 2, (r.top + r.bottom) / 2]};
  };
  const markerShape = (svg, element) => {
    const href = element.getAttribute("xlink:href") || element.getAttribute("href");
    const target = href && svg.querySelector(`[id="${href.slice(1)}"]`);
    return target ? target.getAttribute("d").replace(/\\s+/g, " ").trim() : null;
  };
  const plots = [];
  for (const figure of document.querySelectorAll("section.scenario figure.plot")) {
    const svg = figure.querySelector("svg");
    const axes = svg.querySelector('g[id^="axes_"]');
    const legend = axes.querySelector('g[id^="legend_"]');
    const legendBox = box(legend);
    // Legend entries as matplotlib lays them out: handle groups, then the label's text group
    // (its comment holds the label); a frame patch spanning the whole legend is no entry.
    const entries = [];
    let handles = [];
    for (const child of legend.children) {
      if ((child.id || "").startsWith("text_")) {
        const comment = [...child.childNodes].find((node) => node.nodeType === Node.COMMENT_NODE);
        entries.push({label: comment ? comment.textContent.trim() : "", handles});
        handles = [];
      } else {
        const b = box(child);
        const frame = Math.abs(b.width - legendBox.width) < 1 && Math.abs(b.height - legendBox.height) < 1;
        if (!frame) handles.push(child);
      }
    }
    const axesBox = box(axes.querySelector('g[id^="patch_"]'));
    const drawn = [...axes.querySelectorAll("path, use")]
      .filter((element) => !legend.contains(element) && !element.closest('g[id^="matplotlib.axis"]'))
      .filter((element) => !element.closest("defs") && !element.closest('g[id^="patch_"]'))
      .map(paint)
      .filter((p) => p.centre[0] >= axesBox.left - 1 && p.centre[0] <= axesBox.right + 1
                  && p.centre[1] >= axesBox.top - 1 && p.centre[1] <= axesBox.bottom + 1);
    const ticks = {};
    for (const axis of ["x", "y"]) {
      ticks[axis] = [...svg.querySelectorAll(`g[id^="${axis}tick_"] > g[id^="text_"]`)].map((text) => {
        const comment = [...text.childNodes].find((node) => node.nodeType === Node.COMMENT_NODE);
        return {label: comment ? comment.textContent.trim() : "", box: box(text)};
      });
    }
    plots.push({
      scenario: figure.closest("section").dataset.scenario,
      kind: figure.dataset.plot,
      box: box(figure),
      axes: axesBox,
      legend: legendBox,
      entries: entries.map((entry) => {
        const parts = entry.handles
          .flatMap((handle) => [...handle.querySelectorAll("path, use")])
          .filter((part) => !part.closest("defs"));
        const colours = new Set(parts.flatMap((part) => paint(part).colours));
        const markers = new Set(parts.filter((part) => part.tagName === "use").map((part) => markerShape(svg, part)));
        return {label: entry.label, colours: [...colours].sort(), markers: [...markers].sort()};
      }),
      drawn,
      ticks,
    });
  }
  const tables = [...document.querySelectorAll("table")].map((table) => {
    const container = table.parentElement;
    return {
      classes: table.className,
      scenario: table.dataset.scenario || "",
      box: box(table),
      container: box(container),
      containerScrollWidth: container.scrollWidth,
      containerClientWidth: container.clientWidth,
    };
  });
  return {
    scroll: [window.scrollX, window.scrollY],
    plots,
    tables,
    pageScrollWidth: document.documentElement.scrollWidth,
    pageClientWidth: document.documentElement.clientWidth,
  };
}
"""


@dataclasses.dataclass(frozen=True)
class Page:
    screenshot: Path
    measured: dict[str, Any]

    def policy_plots(self) -> list[dict[str, Any]]:
        return [plot for plot in self.measured["plots"] if plot["kind"] in POLICY_PLOTS]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Page:
    folder = tmp_path_factory.mktemp("report")
    logged = folder / "tiny_logged.toml"
    logged.write_text(
        (DATA / "tiny_linear.toml").read_text().replace('name = "tiny_linear"', 'name = "tiny_logged"') + OFF_POLICY
    )
    out = folder / "sweep"
    run_cli(
        [
            sys.executable,
            "-m",
            "recgym.cli",
            "sweep",
            *TINY_SCENARIOS,
            str(logged),
            "--policies",
            *POLICIES,
            "--seeds",
            "2",
            "--grid",
            "scenario.training.online_steps=1,20",
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    html_path, _ = write_report(out)
    from playwright.sync_api import sync_playwright

    screenshot = folder / "report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            tab.goto(html_path.resolve().as_uri())
            tab.wait_for_load_state("load")
            tab.screenshot(path=str(screenshot), full_page=True)
            measured = tab.evaluate(MEASURE)
        finally:
            browser.close()
    return Page(screenshot, measured)


def test_the_sweep_shows_every_case(page: Page) -> None:
    """The page holds what the other tests need: all plots, one-point curves, differing rankings."""
    assert page.screenshot.is_file() and page.screenshot.stat().st_size > 10_000
    kinds = {(plot["scenario"], plot["kind"]) for plot in page.measured["plots"]}
    scenarios = {scenario for scenario, _ in kinds}
    assert len(scenarios) == 6, scenarios  # 3 scenarios x online_steps 1, 20
    assert all((scenario, kind) in kinds for scenario in scenarios for kind in ("learning-curves",))
    assert any(kind == "off-policy" for _, kind in kinds)
    orders = {tuple(entry["label"] for entry in plot["entries"]) for plot in page.policy_plots()}
    assert len(orders) > 1, "every plot ranks the policies alike: the colour test would prove nothing"


def test_each_policy_has_one_colour_and_marker_in_every_plot(page: Page) -> None:
    colours: dict[str, set[tuple[str, ...]]] = {}
    markers: dict[str, set[tuple[str, ...]]] = {}
    for plot in page.policy_plots():
        labels = [entry["label"] for entry in plot["entries"]]
        assert sorted(labels) == sorted(POLICIES), f"{plot['scenario']} {plot['kind']}: legend lists {labels}"
        for entry in plot["entries"]:
            colours.setdefault(entry["label"], set()).add(tuple(entry["colours"]))
            markers.setdefault(entry["label"], set()).add(tuple(entry["markers"]))
    for label in POLICIES:
        assert len(colours[label]) == 1, f"{label} is drawn in {sorted(colours[label])} across plots"
        assert len(next(iter(colours[label]))) == 1, f"{label}'s legend entry mixes colours {colours[label]}"
        assert len(markers[label]) == 1, f"{label}'s marker changes across plots"
    assert len({next(iter(colours[label])) for label in POLICIES}) == len(POLICIES), "two policies share a colour"


def test_every_legend_entry_is_drawn_where_it_can_be_seen(page: Page) -> None:
    screenshot = np.asarray(Image.open(page.screenshot).convert("RGB"), dtype=np.int32)
    scroll_x, scroll_y = page.measured["scroll"]
    for plot in page.policy_plots():
        # What shows inside the axes, with the legend (should it sit there) painted out.
        region = screenshot.copy()
        legend = plot["legend"]
        region[_pixel_slice(legend["top"] + scroll_y, legend["bottom"] + scroll_y),
               _pixel_slice(legend["left"] + scroll_x, legend["right"] + scroll_x)] = 255  # fmt: skip
        axes = plot["axes"]
        region = region[
            _pixel_slice(axes["top"] + scroll_y, axes["bottom"] + scroll_y),
            _pixel_slice(axes["left"] + scroll_x, axes["right"] + scroll_x),
        ]
        for entry in plot["entries"]:
            where = f"{plot['scenario']} {plot['kind']}: {entry['label']}"
            (colour,) = entry["colours"]
            drawn = [element for element in plot["drawn"] if element["visible"] and colour in element["colours"]]
            assert drawn, f"{where} is in the legend but nothing of its colour is drawn in the axes"
            target = np.array([int(value) for value in re.findall(r"\d+", colour)[:3]])
            pixels = int((np.abs(region - target).max(axis=-1) <= PIXEL_TOLERANCE).sum())
            assert pixels >= MIN_PIXELS, f"{where}: only {pixels} pixels of its colour show on screen"


def _pixel_slice(start: float, end: float) -> slice:
    return slice(max(0, math.floor(start)), max(0, math.ceil(end)))


def test_no_tick_labels_overlap(page: Page) -> None:
    for plot in page.measured["plots"]:
        for axis, ticks in plot["ticks"].items():
            assert len(ticks) >= 2, f"{plot['scenario']} {plot['kind']}: {axis} axis has {len(ticks)} tick labels"
            for first, second in itertools.combinations(ticks, 2):
                a, b = first["box"], second["box"]
                overlap_x = min(a["right"], b["right"]) - max(a["left"], b["left"])
                overlap_y = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
                assert overlap_x <= 0 or overlap_y <= 0, (
                    f"{plot['scenario']} {plot['kind']}: {axis} tick labels {first['label']!r} and "
                    f"{second['label']!r} overlap"
                )


def test_log_axis_labels_are_plain_numbers(page: Page) -> None:
    for plot in page.measured["plots"]:
        if plot["kind"] == "learning-curves":
            labels = [tick["label"] for tick in plot["ticks"]["x"]]
            assert all("times" not in label and "^" not in label for label in labels), labels


def test_tables_fit_the_page_without_scrolling(page: Page) -> None:
    measured = page.measured
    assert measured["pageScrollWidth"] <= measured["pageClientWidth"], "the page scrolls sideways"
    assert any("ranking" in table["classes"] for table in measured["tables"])
    for table in measured["tables"]:
        where = f"{table['classes'] or 'table'} {table['scenario']}"
        assert table["containerScrollWidth"] <= table["containerClientWidth"], f"{where} hides behind a scrollbar"
        assert table["box"]["right"] <= table["container"]["right"] + 0.5, f"{where} is wider than its column"
