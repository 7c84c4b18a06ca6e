"""The HTML report of a search: what Results' Search tab shows, in one file drawn the way the
run report draws (inline SVG, no scripts): the objective as the search went on, the trials
across their settings, what mattered, every trial and the best settings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from fer_core import runs
from fer_core.core.errors import RunError
from fer_core.core.vocabulary import label, text
from fer_core.reports import blocks
from fer_core.reports.report import CSS
from fer_core.runs import searches

BEST, TRIAL, PRUNED = "#D55E00", "#0072B2", "#999999"


def search_report(task_dir: Path) -> str:
    task_dir = Path(task_dir)
    summary = searches.read_summary(task_dir)
    if summary is None:
        raise RunError(f"Search {task_dir.name} has no trial yet: nothing to report.")
    plan = searches.plan_of(task_dir)
    objective = summary["objective"]
    counts = searches.counts(summary)
    status = runs.read_status(task_dir)
    title = f"FER Studio search {task_dir.name}"
    varied = ", ".join(f"{label(d.name).lower()} {d.describe()}" for d in plan.dimensions)
    parts = [
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
        f"{blocks.esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{blocks.esc(title)}</h1><p class=\"meta\">Made {datetime.now():%Y-%m-%d %H:%M} "
        f"by FER Studio. {status.state or 'unknown'}; "
        f"{text('minutes', summary.get('seconds', 0) / 60)} minutes of search; "
        f"{counts['complete']} trials finished, {counts['pruned']} pruned, {counts['fail']} "
        f"failed. Objective: {label(objective).lower()}.</p>",
        f"<p>Searched around the {blocks.esc(plan.preset or 'form')} recipe: "
        f"{blocks.esc(varied)}; {plan.trial_budget_min:g} minutes per trial"
        if plan.trial_budget_min else
        f"<p>Searched around the {blocks.esc(plan.preset or 'form')} recipe: "
        f"{blocks.esc(varied)}; {plan.base_config.epochs} epochs per trial",
        ". Optuna's TPE sampler chose the settings; a median pruner stopped trials below the "
        "median of finished ones at the same share of their time.</p>",
    ]
    if best := summary.get("best"):
        parts.append(f"<h2>Best: trial {best['number']}, {label(objective).lower()} "
                     f"{text(objective, best['value'])}</h2>")
        shown = searches.shown_params(best["params"])
        parts.append(blocks.table_html(pd.DataFrame(
            [{"setting": label(k), "value": text(k, v)} for k, v in shown.items()])))
    charts = [_progress_svg(searches.progress_frame(summary), objective),
              _parallel_svg(searches.parallel_frame(summary, plan)),
              _importance_svg(searches.importance_frame(summary))]
    parts.append("<div class=\"charts\">" + "".join(c for c in charts if c) + "</div>")
    parts.append("<h2>Trials</h2>" + blocks.table_html(searches.trials_frame(summary)))
    parts.append("</body></html>")
    return "\n".join(parts)


def _progress_svg(frame: pd.DataFrame, objective: str) -> str:
    if frame.empty:
        return ""
    return blocks.svg_line_chart(
        [{"label": "best finished trial so far", "color": BEST,
          "x": frame["minutes"].tolist(), "y": frame["best"].fillna(float("nan")).tolist()},
         {"label": "each trial as it ended", "color": TRIAL, "x": frame["minutes"].tolist(),
          "y": frame["value"].tolist()}],
        title=f"{label(objective)} as the search went on", x_label="minutes of search",
        y_label=label(objective).lower())


def _parallel_svg(frame: pd.DataFrame, width: int = 460, height: int = 280) -> str:
    """One polyline per trial across the settings' axes (low at the bottom)."""
    if frame.empty:
        return ""
    settings = list(dict.fromkeys(frame["setting"]))
    left, right, top, bottom = 40, 40, 30, 40
    step = (width - left - right) / max(len(settings) - 1, 1)
    low, high = frame["objective"].min(), frame["objective"].max()
    out = []
    for k, name in enumerate(settings):
        x = left + k * step
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}" '
                   f'class="axis"/><text x="{x:.1f}" y="{height - bottom + 16}" class="tick" '
                   f'text-anchor="middle">{blocks.esc(label(name))}</text>')
    for trial, rows in frame.groupby("trial", sort=True):
        rows = rows.set_index("setting").reindex(settings).dropna(subset=["position"])
        points = " ".join(f"{left + settings.index(name) * step:.1f},"
                          f"{height - bottom - row.position * (height - top - bottom):.1f}"
                          for name, row in rows.iterrows())
        share = (rows["objective"].iloc[0] - low) / (high - low) if high > low else 1.0
        pruned = rows["state"].iloc[0] == "pruned"
        color = PRUNED if pruned else blocks.blue_shade(0.3 + 0.7 * share)
        dash = ' stroke-dasharray="4 3"' if pruned else ""
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                   f'stroke-width="2"{dash}><title>trial {trial}: '
                   f'{rows["objective"].iloc[0]:.1%}</title></polyline>')
    return blocks.svg(width, height, "Trials across their settings (darker: better; dashed: "
                      "pruned)", left, out)


def _importance_svg(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    left, bar, width = 150, 24, 420
    height = 36 + bar * len(frame) + 10
    out = []
    for n, row in enumerate(frame.itertuples()):
        y = 30 + n * bar
        length = row.importance * (width - left - 50)
        out.append(f'<text x="{left - 6}" y="{y + 15}" class="tick" text-anchor="end">'
                   f'{blocks.esc(label(row.setting))}</text><rect x="{left}" y="{y + 3}" '
                   f'width="{length:.1f}" height="{bar - 6}" fill="{TRIAL}"/><text '
                   f'x="{left + length + 6:.1f}" y="{y + 15}" class="tick">'
                   f'{row.importance:.0%}</text>')
    return blocks.svg(width, height, "What mattered (parameter importance)", 10, out)
