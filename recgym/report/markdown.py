"""The report as Markdown, for terminals and pull requests: one ranking table per scenario."""

from __future__ import annotations

from recgym.eval.metrics import METRICS
from recgym.report.summary import CONFIDENCE, ScenarioSummary


def render(summaries: list[ScenarioSummary], runs: int) -> str:
    """Ranking tables, best first, best mean per column in bold, plus off-policy estimates where logged."""
    lines = [
        "# recgym sweep report",
        "",
        f"{runs} runs over {len(summaries)} scenarios; mean over seeds [{CONFIDENCE:.0%} bootstrap interval]; "
        "**bold** = best mean per column.",
    ]
    for summary in summaries:
        arrows = ["↑" if METRICS[metric].higher_is_better else "↓" for metric in summary.metrics]
        lines += [
            "",
            f"## {summary.title} (`{summary.scenario}`)",
            "",
            f"_{summary.question}_",
            "",
            "| policy | " + " | ".join(f"{m} {a}" for m, a in zip(summary.metrics, arrows, strict=True)) + " | seeds |",
            "|---|" + "---:|" * (len(summary.metrics) + 1),
        ]
        for rank, label in enumerate(summary.ranking, start=1):
            cells = []
            for metric in summary.metrics:
                text = summary.cells[label][metric].text()
                cells.append(f"**{text}**" if label in summary.best[metric] else text)
            seeds = summary.cells[label][summary.ranking_metric].seeds
            lines.append(f"| {rank}. {label} | " + " | ".join(cells) + f" | {seeds} |")
        if not summary.off_policy.empty:
            lines += ["", "Off-policy estimates (value per user-step; truth from the oracle):", ""]
            if _has_tabulate():
                lines.append(summary.off_policy.to_markdown(floatfmt=".4f"))
            else:
                lines += ["```", summary.off_policy.to_string(float_format=lambda value: f"{value:.4f}"), "```"]
    return "\n".join(lines) + "\n"


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
