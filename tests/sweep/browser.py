"""Open a report in real headless Chromium and read what is on screen: tables, row order, pixels of plots.

Playwright drives the system Chromium (/usr/bin/chromium; ``make test`` installs it); what
the tests assert comes from the rendered page and its screenshot, not from the HTML text.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from recgym.report.html import WINNER_BACKGROUND

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclasses.dataclass(frozen=True)
class RenderedPlot:
    width: float
    height: float
    ink_share: float
    """Share of the plot's pixels that are not near-white."""
    distinct_colours: int
    """Saturated colours (coarsely binned) covering at least 0.05% of the plot: lines, points, bands."""


@dataclasses.dataclass(frozen=True)
class RenderedTable:
    row_order: list[str]
    """Policies in on-screen order, top to bottom."""
    winner_row_highlight_share: float
    """Share of the first row's pixels painted in the winner highlight colour."""
    second_row_highlight_share: float
    """The same for the second row (should be none)."""
    bold_cells_in_winner_row: int


@dataclasses.dataclass(frozen=True)
class RenderedReport:
    screenshot: Path
    tables: dict[str, RenderedTable]
    plots: dict[tuple[str, str], RenderedPlot]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Chromium is missing: `make test` installs it (apt-get install chromium).")
    return path


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def _pixels(png: bytes) -> np.ndarray:
    """RGB pixels of a PNG as int [P, 3]."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int32).reshape(-1, 3)


def _plot_statistics(png: bytes) -> tuple[float, int]:
    pixels = _pixels(png)
    ink = float((pixels.min(axis=1) < 235).mean())
    saturated = pixels[pixels.max(axis=1) - pixels.min(axis=1) > 60]  # not text, axes or grid lines
    _, counts = np.unique(saturated // 32, axis=0, return_counts=True)
    return ink, int((counts >= 0.0005 * len(pixels)).sum())


def _highlight_share(png: bytes) -> float:
    target = np.array(_hex_rgb(WINNER_BACKGROUND))
    return float((np.abs(_pixels(png) - target).max(axis=1) <= 6).mean())


def open_report(html_path: Path, screenshot: Path) -> RenderedReport:
    """Render ``html_path`` in headless Chromium, save a full-page screenshot, and measure what shows."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(html_path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(screenshot), full_page=True)
            tables: dict[str, RenderedTable] = {}
            for table in page.query_selector_all("table.ranking"):
                scenario = table.get_attribute("data-scenario") or ""
                rows = table.query_selector_all("tbody tr")
                rows_by_position = sorted(rows, key=lambda row: row.bounding_box()["y"])  # type: ignore[index]
                order = [row.get_attribute("data-policy") or "" for row in rows_by_position]
                first = rows_by_position[0]
                bold = sum(
                    1
                    for cell in first.query_selector_all("td")
                    if int(cell.evaluate("c => parseInt(getComputedStyle(c.querySelector('strong') || c).fontWeight)"))
                    >= 600
                )
                tables[scenario] = RenderedTable(
                    order,
                    _highlight_share(first.screenshot()),
                    _highlight_share(rows_by_position[1].screenshot()),
                    bold,
                )
            plots: dict[tuple[str, str], RenderedPlot] = {}
            for figure in page.query_selector_all("section.scenario figure.plot"):
                scenario = figure.evaluate("f => f.closest('section').dataset.scenario")
                box = figure.bounding_box()
                assert box is not None, "a plot has no layout box"
                ink, colours = _plot_statistics(figure.screenshot())
                plots[(scenario, figure.get_attribute("data-plot") or "")] = RenderedPlot(
                    box["width"], box["height"], ink, colours
                )
        finally:
            browser.close()
    return RenderedReport(screenshot, tables, plots)
