"""The report's ranking tables for a terminal (rich), narrow enough to read: the first few metrics, mean ± CI."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from recgym.eval.metrics import METRICS
from recgym.report.summary import ScenarioSummary

TERMINAL_METRICS = 5
"""Metrics shown per scenario in the terminal; report.md and report.html have them all."""


def print_summaries(summaries: list[ScenarioSummary], console: Console) -> None:
    """One table per scenario, best first, the best mean per column in bold."""
    for summary in summaries:
        shown = summary.metrics[:TERMINAL_METRICS]
        table = Table(title=f"{summary.title} ({summary.scenario})", caption=summary.question, title_justify="left")
        table.add_column("policy", no_wrap=True, min_width=max(len(label) for label in summary.ranking) + 3)
        for metric in shown:
            arrow = "↑" if METRICS[metric].higher_is_better else "↓"
            table.add_column(f"{metric} {arrow}", justify="right")
        for rank, label in enumerate(summary.ranking, start=1):
            cells = []
            for metric in shown:
                text = summary.cells[label][metric].short_text()
                cells.append(f"[bold]{text}[/bold]" if label in summary.best[metric] else text)
            table.add_row(f"{rank}. {label}", *cells, style="on grey23" if rank == 1 else None)
        console.print(table)
