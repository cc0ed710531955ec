"""Reports of a sweep: a self-contained HTML page with plots and a Markdown summary."""

from __future__ import annotations

from pathlib import Path

from recgym.core.files import atomic_write_text
from recgym.errors import ConfigError
from recgym.report import html, markdown
from recgym.report.summary import ScenarioSummary, summarise_store
from recgym.report.terminal import print_summaries
from recgym.sweep.store import ResultsStore


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into the sweep folder ``run_dir``; returns their paths.

    Both are views of the store, rebuilt from it on every call (after a resume, say); each is
    replaced in one atomic rename, so a reader never sees half a page.
    """
    store = ResultsStore(run_dir)
    if not store.exists():
        raise ConfigError(f"{run_dir} holds no sweep (no sweep.json); run `recgym sweep ... --out {run_dir}` first.")
    runs = store.runs()
    if runs.empty:
        raise ConfigError(f"{run_dir} has no finished runs yet; resume the sweep with --resume.")
    summaries = summarise_store(store)
    plan = store.read_plan()
    html_path, markdown_path = store.root / "report.html", store.root / "report.md"
    atomic_write_text(html_path, html.render(summaries, store.curves(), plan, len(runs)))
    atomic_write_text(markdown_path, markdown.render(summaries, len(runs)))
    return html_path, markdown_path


__all__ = ["ScenarioSummary", "print_summaries", "summarise_store", "write_report"]
