"""The self-contained HTML report: per scenario, a ranking table, plots and off-policy estimates; then provenance."""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd

from recgym.eval.metrics import METRICS
from recgym.report import plots
from recgym.report.plots import PolicyStyle
from recgym.report.summary import CONFIDENCE, Cell, ScenarioSummary

WINNER_BACKGROUND = "#fff1a8"
"""The top-ranked row's background: visible at a glance (and checked in the report's browser test)."""

MAX_METRICS_PER_TABLE = 6
"""Metric columns per ranking table; a scenario with more gets its table split into balanced parts, each
repeating the policy column, so no table is wider than about 850 px and none needs a horizontal scrollbar.
Rows stay policies, best first (the ranking is the table's point); transposing would make the width grow
with the number of policies instead, which a parameter grid multiplies."""

STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #1d1d1f; }}
h1 {{ margin-bottom: 0.2rem; }}
section.scenario {{ border-top: 2px solid #ddd; padding-top: 1rem; margin-top: 2rem; }}
p.question {{ font-style: italic; color: #444; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin: 0.8rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; white-space: nowrap; }}
th {{ white-space: normal; vertical-align: bottom; }}
th:first-child, td:first-child {{ text-align: left; }}
thead th {{ background: #f2f2f4; }}
tr.winner td {{ background: {WINNER_BACKGROUND}; }}
td .interval {{ display: block; color: #555; font-size: 0.75rem; }}
td.policy {{ white-space: normal; overflow-wrap: anywhere; }}
.policy-key {{ display: flex; flex-wrap: wrap; gap: 0.2rem 1.2rem; font-size: 0.9rem; }}
.key {{ font-size: 0.9em; margin-right: 0.2em; }}
.ranking-continued {{ margin-top: 0.2rem; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure.plot {{ margin: 0; }}
figure.plot svg {{ width: 560px; height: auto; }}
pre {{ background: #f6f6f8; padding: 0.8rem; overflow-x: auto; font-size: 0.75rem; }}
.note {{ color: #555; font-size: 0.85rem; }}
"""


def render(summaries: list[ScenarioSummary], curves: pd.DataFrame, plan: dict[str, Any], runs: int) -> str:
    """The whole page as one string."""
    labels = [label for summary in summaries for label in summary.ranking]
    if "policy_label" in curves:
        labels += [str(label) for label in curves["policy_label"].dropna()]
    styles = plots.policy_styles(labels)  # one colour and marker per policy on the whole page
    sections = "\n".join(_scenario_section(summary, curves, styles) for summary in summaries)
    contents = "".join(
        f'<li><a href="#{_anchor(summary.scenario)}">{html.escape(summary.title)}</a> '
        f"<small>({html.escape(summary.scenario)})</small> (winner: {html.escape(summary.ranking[0])})</li>"
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
{_policy_key(styles)}
{sections}
{_provenance(plan)}
</body></html>
"""


def _anchor(name: str) -> str:
    return "scenario-" + "".join(character if character.isalnum() else "-" for character in name)


def _key(style: PolicyStyle) -> str:
    return f'<span class="key" style="color: {style.colour}" aria-hidden="true">{style.symbol}</span>'


def _policy_key(styles: dict[str, PolicyStyle]) -> str:
    """Every policy with its colour and marker, the same in every plot and table below."""
    entries = "".join(
        f'<span data-policy="{html.escape(label)}">{_key(style)}{html.escape(label)}</span>'
        for label, style in styles.items()
    )
    return f'<p class="policy-key" aria-label="policy colours">{entries}</p>'


def _scenario_section(summary: ScenarioSummary, curves: pd.DataFrame, styles: dict[str, PolicyStyle]) -> str:
    scenario_curves = curves[curves["scenario"] == summary.scenario]
    figures = [
        ("learning-curves", plots.learning_curves(scenario_curves, summary, styles)),
        ("engagement-vs-diversity", plots.trade_off(summary, "diversity", "engagement", styles)),
        ("engagement-vs-retention", plots.trade_off(summary, "return_visits", "engagement", styles)),
        ("off-policy", plots.off_policy_bars(summary)),
    ]
    plot_html = "".join(
        f'<figure class="plot" data-plot="{kind}">{svg}</figure>' for kind, svg in figures if svg is not None
    )
    name = html.escape(summary.scenario)
    return f"""<section class="scenario" id="{_anchor(summary.scenario)}" data-scenario="{name}">
<h2>{html.escape(summary.title)} <small>({html.escape(summary.scenario)})</small></h2>
<p class="question">{html.escape(summary.question)}</p>
<div class="table-wrap">{ranking_table(summary, styles)}</div>
<div class="plots">{plot_html}</div>
{_off_policy_table(summary)}
</section>"""


def ranking_table(summary: ScenarioSummary, styles: dict[str, PolicyStyle] | None = None) -> str:
    """Policies best first; one column per metric with its direction; the best mean per column in bold.

    More than ``MAX_METRICS_PER_TABLE`` metrics are split over several tables: the first
    (class ``ranking``) holds the ranking metric, the rest have class ``ranking-continued``.
    """
    styles = styles or plots.policy_styles(summary.ranking)
    parts = _balanced_parts(summary.metrics, MAX_METRICS_PER_TABLE)
    return "".join(
        _ranking_part(
            summary, metrics, styles, "ranking" if index == 0 else "ranking-continued", index == len(parts) - 1
        )
        for index, metrics in enumerate(parts)
    )


def _ranking_part(
    summary: ScenarioSummary, metrics: list[str], styles: dict[str, PolicyStyle], table_class: str, with_seeds: bool
) -> str:
    head = "".join(
        f'<th title="{html.escape(METRICS[metric].description)}">{_breakable(metric)} '
        f"{'↑' if METRICS[metric].higher_is_better else '↓'}</th>"
        for metric in metrics
    )
    rows = []
    for rank, label in enumerate(summary.ranking, start=1):
        cells = []
        for metric in metrics:
            text = _cell_html(summary.cells[label][metric])
            cells.append(f"<td><strong>{text}</strong></td>" if label in summary.best[metric] else f"<td>{text}</td>")
        seeds = f"<td>{summary.cells[label][summary.ranking_metric].seeds}</td>" if with_seeds else ""
        row_class = ' class="winner"' if rank == 1 else ""
        rows.append(
            f'<tr{row_class} data-policy="{html.escape(label)}"><td class="policy">{_key(styles[label])}'
            f"{rank}. {html.escape(label)}</td>{''.join(cells)}{seeds}</tr>"
        )
    seeds_head = "<th>seeds</th>" if with_seeds else ""
    return (
        f'<table class="{table_class}" data-scenario="{html.escape(summary.scenario)}"><thead><tr><th>policy</th>'
        f"{head}{seeds_head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _balanced_parts(items: list[str], most: int) -> list[list[str]]:
    """``items`` in order, cut into as few parts of at most ``most`` as possible, sizes differing by at most one."""
    count = max(1, -(-len(items) // most))
    size, extra = divmod(len(items), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (index < extra)
        parts.append(items[start:end])
        start = end
    return parts


def _breakable(name: str) -> str:
    """A metric name that may wrap after its underscores (exposure_<wbr>fairness), so headers stay narrow."""
    return "_<wbr>".join(html.escape(part) for part in name.split("_"))


def _cell_html(cell: Cell) -> str:
    """The mean, with its interval on a second, smaller line: half the width of 'mean [low, high]' on one line."""
    mean, _, interval = cell.text().partition(" [")
    if not interval:
        return html.escape(mean)
    return f'{html.escape(mean)}<span class="interval">[{html.escape(interval)}</span>'


def _off_policy_table(summary: ScenarioSummary) -> str:
    if summary.off_policy.empty:
        return ""
    table = (
        summary.off_policy.rename_axis("policy")
        .reset_index()
        .to_html(float_format=lambda value: f"{value:.4f}", classes="off-policy", border=0, index=False, na_rep="n/a")
    )
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
