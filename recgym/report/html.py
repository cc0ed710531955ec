"""The self-contained HTML report: per scenario, a ranking table, plots and off-policy estimates; then provenance."""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from recgym.eval.metrics import METRICS
from recgym.report import plots
from recgym.report.summary import CONFIDENCE, ScenarioSummary

WINNER_BACKGROUND = "#fff1a8"
"""The top-ranked row's background: visible at a glance (and checked in the report's browser test)."""

STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #1d1d1f; }}
h1 {{ margin-bottom: 0.2rem; }}
section.scenario {{ border-top: 2px solid #ddd; padding-top: 1rem; margin-top: 2rem; }}
p.question {{ font-style: italic; color: #444; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin: 0.8rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; white-space: nowrap; }}
th:first-child, td:first-child {{ text-align: left; }}
thead th {{ background: #f2f2f4; }}
tr.winner td {{ background: {WINNER_BACKGROUND}; }}
.table-wrap {{ overflow-x: auto; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure.plot {{ margin: 0; }}
figure.plot svg {{ width: 560px; height: auto; }}
pre {{ background: #f6f6f8; padding: 0.8rem; overflow-x: auto; font-size: 0.75rem; }}
.note {{ color: #555; font-size: 0.85rem; }}
"""


def render(summaries: list[ScenarioSummary], curves: pd.DataFrame, plan: dict[str, Any], runs: int) -> str:
    """The whole page as one string."""
    sections = "\n".join(_scenario_section(summary, curves) for summary in summaries)
    contents = "".join(
        f'<li><a href="#{_anchor(summary.scenario)}">{html.escape(summary.title)}</a> '
        f"(winner: {html.escape(summary.ranking[0])})</li>"
        for summary in summaries
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>recgym sweep report</title><style>{STYLE}</style></head>
<body>
<h1>recgym sweep report</h1>
<p class="note">{runs} runs over {len(summaries)} scenarios. Cells: mean over seeds
[{CONFIDENCE:.0%} percentile-bootstrap interval over seeds]; bold marks the best mean per column;
the highlighted row ranks first on the scenario's first metric.</p>
<ul>{contents}</ul>
{sections}
{_provenance(plan)}
</body></html>
"""


def _anchor(name: str) -> str:
    return "scenario-" + "".join(character if character.isalnum() else "-" for character in name)


def _scenario_section(summary: ScenarioSummary, curves: pd.DataFrame) -> str:
    figures = [
        ("learning-curves", plots.learning_curves(curves[curves["scenario"] == summary.scenario], summary)),
        ("engagement-vs-diversity", plots.trade_off(summary, "diversity", "engagement")),
        ("engagement-vs-retention", plots.trade_off(summary, "return_visits", "engagement")),
        ("off-policy", plots.off_policy_bars(summary)),
    ]
    plot_html = "".join(
        f'<figure class="plot" data-plot="{kind}">{svg}</figure>' for kind, svg in figures if svg is not None
    )
    name = html.escape(summary.scenario)
    return f"""<section class="scenario" id="{_anchor(summary.scenario)}" data-scenario="{name}">
<h2>{html.escape(summary.title)} <small>({html.escape(summary.scenario)})</small></h2>
<p class="question">{html.escape(summary.question)}</p>
<div class="table-wrap">{ranking_table(summary)}</div>
<div class="plots">{plot_html}</div>
{_off_policy_table(summary)}
</section>"""


def ranking_table(summary: ScenarioSummary) -> str:
    """Policies best first; one column per metric with its direction; the best mean per column in bold."""
    head = "".join(
        f'<th title="{html.escape(METRICS[metric].description)}">{html.escape(metric)} '
        f"{'↑' if METRICS[metric].higher_is_better else '↓'}</th>"
        for metric in summary.metrics
    )
    rows = []
    for rank, label in enumerate(summary.ranking, start=1):
        cells = []
        for metric in summary.metrics:
            text = html.escape(summary.cells[label][metric].text())
            cells.append(f"<td><strong>{text}</strong></td>" if label in summary.best[metric] else f"<td>{text}</td>")
        seeds = summary.cells[label][summary.ranking_metric].seeds
        row_class = ' class="winner"' if rank == 1 else ""
        rows.append(
            f'<tr{row_class} data-policy="{html.escape(label)}"><td>{rank}. {html.escape(label)}</td>'
            f"{''.join(cells)}<td>{seeds}</td></tr>"
        )
    return (
        f'<table class="ranking" data-scenario="{html.escape(summary.scenario)}"><thead><tr><th>policy</th>{head}'
        f"<th>seeds</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _off_policy_table(summary: ScenarioSummary) -> str:
    if summary.off_policy.empty:
        return ""
    table = summary.off_policy.to_html(float_format=lambda value: f"{value:.4f}", classes="off-policy", border=0)
    return (
        "<h3>Off-policy estimates beside the true value</h3>"
        '<p class="note">Per-step value of each policy estimated from logs of the scenario\'s logging policy '
        "(epsilon-mixed), mean over seeds; <em>truth</em> is the policy's on-policy value from the "
        "simulator's oracle.</p>" + table
    )


def _provenance(plan: dict[str, Any]) -> str:
    versions = plan.get("versions", {})
    rows = "".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(str(value))}</td></tr>"
        for key, value in versions.items()
    )
    configuration = html.escape(json.dumps(plan.get("plan", {}), indent=2, default=str))
    return f"""<section class="provenance"><h2>Configuration and versions</h2>
<table class="versions"><tbody>{rows}</tbody></table>
<details open><summary>The exact sweep plan (sweep.json)</summary><pre>{configuration}</pre></details>
</section>"""
