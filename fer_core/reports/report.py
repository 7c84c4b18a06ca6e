"""A self-contained HTML report of one or more runs, to send to someone who has no FER Studio.

It must open offline, in any browser, years from now: charts are inline SVG (``blocks``),
tables plain HTML, images base64 PNGs, so nothing in the page refers to another file or
address. Everything taken from a run folder is HTML-escaped: a report may be made of a run
someone else sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core.errors import FerError, RunError
from fer_core.core.vocabulary import label, text
from fer_core.data import DataRef
from fer_core.data.leakage import LeakageCaveat, leakage_caveat
from fer_core.reports import blocks, report_map, report_trust, seed_report, wording
from fer_core.reports.baseline import verdict
from fer_core.reports.card import card_html
from fer_core.reports.report_seed import seed_section_html
from fer_core.runs.frames import most_confused_frame, per_class_frame
from fer_core.runs.overrides import run_summary

TABLE_COLUMNS = ["run", "state", "preset", "backbone", "val_accuracy", "val_loss",
                 "test_accuracy", "test_loss", "macro_f1", "epochs", "minutes", "batch_size",
                 "learning_rate", "dropout", "optimizer", "weights", "augment",
                 "finetune_epochs", "seed", "sweep"]
EXTRA_HYPERPARAMETERS = ("optimizer", "weights", "augment", "finetune_epochs", "seed")


# --- the results table ---------------------------------------------------------------------------

def summary_table(infos: Sequence[runs.RunInfo]) -> pd.DataFrame:
    """``runs.runs_table`` with the preset filled in and a few more hyperparameters: what
    Results compares and exports, and the report's summary."""
    table = runs.runs_table(list(infos))
    if table.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    for name in EXTRA_HYPERPARAMETERS:
        table[name] = [info.config.get(name) for info in infos]
    return table[[c for c in TABLE_COLUMNS if c in table]]


def metrics_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """``metrics.json`` flattened: per split, an "(all)" row and one row per class."""
    rows = []
    for split in ("val", "test"):
        if not (result := metrics.get(split)):
            continue
        rows.append({"split": split, "class": "(all)",
                     **{key: result.get(key) for key in ("n", "accuracy", "loss", "macro_f1")}})
        rows.extend({"split": split, "class": name, "n": values.get("support"),
                     "precision": values.get("precision"), "recall": values.get("recall"),
                     "f1": values.get("f1-score")}
                    for name, values in result.get("per_class", {}).items())
    return pd.DataFrame(rows, columns=["split", "class", "n", "accuracy", "loss", "macro_f1",
                                       "precision", "recall", "f1"])


# --- the report ----------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem;
     margin-top: 2.5rem; } .meta { color: #666; }
.table { max-width: 100%; } td, th { overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.6rem 0; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
svg.chart text { font-size: 11px; fill: #333; } svg.chart .title { font-size: 13px;
  font-weight: 600; } svg.chart .label { font-size: 12px; } svg.chart .grid { stroke: #eee; }
svg.chart .axis { stroke: #888; } svg.chart .rule { stroke: #666; stroke-dasharray: 4 4; }
svg.chart .count { font-size: 12px; } svg.chart .share { font-size: 9px; }
svg.chart text.on-dark { fill: #ffffff; } svg.chart text.on-light { fill: #000000; }
.unusable { background: #fdecea; padding: 0.5rem 0.8rem; border-radius: 4px; }
.gallery { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.gallery figure { margin: 0; width: 104px; font-size: 0.75rem; text-align: center; }
.gallery img { width: 96px; height: 96px; border: 4px solid; border-radius: 4px; }
.right img { border-color: #009E73; } .wrong img { border-color: #D55E00; }
.right figcaption b { color: #007a5a; } .wrong figcaption b { color: #b34700; }
.note { background: #fff8e1; padding: 0.5rem 0.8rem; border-radius: 4px; }
"""


def report_on(run_dirs: Sequence[Path], data: DataRef) -> str:
    """The report the Share tab downloads and ``runs report`` writes: galleries come from the
    chosen data set (from its disk cache) for the runs trained on it, and are left out if it
    cannot be read."""
    try:
        ds = data.load()
    except FerError:
        return build_report(run_dirs)
    images = dict(zip(ds.index["id"], ds.images, strict=True))
    return build_report(run_dirs, images, fingerprint=ds.fingerprint,
                        leakage=leakage_caveat(ds))


def build_report(run_dirs: Sequence[Path], images_by_id: Mapping[str, np.ndarray] | None = None,
                 *, fingerprint: str | None = None, gallery_size: int = blocks.GALLERY_SIZE,
                 title: str = "FER Studio report", leakage: LeakageCaveat | None = None) -> str:
    """The HTML report of ``run_dirs``. ``images_by_id`` maps prediction ids to 48x48 images
    for the galleries; ids are only unique within one data set, so when ``fingerprint`` is
    given, galleries are drawn only for runs trained on that data set. ``leakage`` is stated for
    the runs trained on the data set it was computed for."""
    infos = [runs.read_run(Path(d)) for d in run_dirs]
    if not infos:
        raise RunError("A report needs at least one run; pick one.")
    parts = [
        f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{blocks.esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{blocks.esc(title)}</h1><p class=\"meta\">{len(infos)} run(s), made "
        f"{datetime.now().strftime('%Y-%m-%d %H:%M')} by FER Studio. Accuracy and loss on "
        f"the validation and test splits; macro-F1 on test.</p>",
        _data_html(infos, leakage),
        "<h2>Summary</h2>",
        *_summary_html(infos),
    ]
    histories = {info.run_id: runs.read_history(info.path) for info in infos}
    if len(infos) > 1:
        parts.append("<h2>Comparison</h2>" + blocks.comparison_html(histories))
    if seed_report.has_study_runs(infos):
        parts.append(seed_section_html(infos, images_by_id, fingerprint=fingerprint,
                                       gallery_size=gallery_size))
    for info in infos:
        same_data = fingerprint is None or info.data.get("fingerprint") == fingerprint
        parts.append(_run_section(info, histories[info.run_id],
                                  images_by_id if same_data else None, gallery_size))
    parts.append("</body></html>")
    return "\n".join(parts)


def _data_html(infos: Sequence[runs.RunInfo], leakage: LeakageCaveat | None) -> str:
    """What the runs were trained and scored on, and how far their test scores can be trusted."""
    lines = [f"<li>{blocks.esc(line)}</li>" for line in wording.data_sets_text(infos)]
    if not lines:
        return ""
    parts = ["<h2>Data</h2><ul>" + "".join(lines) + "</ul>"]
    if leakage is not None and any((info.data or {}).get("fingerprint") == leakage.fingerprint
                                   for info in infos):
        parts.append(f'<p class="note">Leakage: {blocks.esc(leakage.text)}</p>')
    judged = [(info.run_id, v) for info in infos if (v := verdict(info.metrics)) is not None]
    if judged:
        base = judged[0][1].baseline
        parts.append(f"<p>Baseline: always answering \"{blocks.esc(base.majority_class)}\", the "
                     f"commonest class of the {'test' if base.split == 'test' else 'validation'}"
                     f" split, scores {base.accuracy:.1%}. A run that does no better is marked "
                     "not usable.</p>")
    return "\n".join(parts)


def _summary_html(infos: Sequence[runs.RunInfo]) -> list[str]:
    """Scores, then settings: two tables of about ten columns, each fits the page."""
    table = wording.with_usable(summary_table(infos), infos)
    return [blocks.table_html(table, wording.SCORE_COLUMNS), "<h3>Settings</h3>",
            blocks.table_html(table, wording.SETTING_COLUMNS)]


def _run_section(info: runs.RunInfo, history: pd.DataFrame,
                 images: Mapping[str, np.ndarray] | None, gallery_size: int) -> str:
    parts = [f'<h2 id="{blocks.esc(info.run_id)}">{blocks.esc(info.run_id)}</h2>']
    if info.problem:
        parts.append(f'<p class="note">This run could not be read completely: '
                     f'{blocks.esc(info.problem)}.</p>')
    facts = {"state": info.state, "backbone": info.config.get("backbone"), "preset": info.preset,
             **{key: info.config.get(key)
                for key in ("epochs", "batch_size", "learning_rate", "dropout", "augment")}}
    parts.append("<p class=\"meta\">" + " &middot; ".join(
        f"{blocks.esc(label(k).lower())} <b>{blocks.esc(text(k, v))}</b>"
        for k, v in facts.items() if v is not None) + "</p>")
    judged = verdict(info.metrics)
    if judged is not None and not judged.usable:
        parts.append(f'<p class="unusable"><b>{blocks.esc(judged.text)}</b></p>')
    if info.state == "failed" and info.status.error:
        parts.append(f'<p class="note">Error: {blocks.esc(info.status.error)}</p>')
    relabelled = run_summary(runs.RunRecord.from_json(runs.read_json(runs.files(info.path).config)))
    if relabelled:
        parts.append(f'<p class="meta">{blocks.esc(relabelled)}</p>')
    parts.append(blocks.curves_html(history))
    metrics = info.metrics or {}
    split = "test" if "test" in metrics else "val" if "val" in metrics else None
    if split is None:
        parts.append('<p class="note">No metrics.json: the run did not finish evaluating.</p>')
        return "\n".join(parts)
    result, classes = metrics[split], metrics.get("classes", [])
    parts.append(f"<h3>{label(split)} split: {text('n', result.get('n'))} images, " + ", ".join(
        f"{label(k)} {text(k, result.get(k))}" for k in ("accuracy", "loss", "macro_f1")) + "</h3>")
    per_class = per_class_frame(result)
    charts = []
    if result.get("confusion_matrix") and classes:
        charts.append(blocks.svg_confusion_matrix(result["confusion_matrix"], classes,
                                           title=f"Confusion matrix ({split})"))
    if len(per_class):
        charts.append(blocks.svg_score_bars(per_class))
    parts.append(f'<div class="charts">{"".join(charts)}</div>')
    parts.append("<h3>Per-class report</h3>" + blocks.table_html(per_class))
    confused = most_confused_frame(result)
    if len(confused):
        parts.append("<h3>Most confused</h3>" + blocks.table_html(confused))
    parts.append(report_trust.calibration_html(info.path))
    parts.append(blocks.gallery_html(info.path, images, split, gallery_size))
    parts.append(report_trust.gradcam_gallery_html(info.path, images, split, gallery_size))
    parts.append(report_map.map_html(info.path))
    parts.append(card_html(info.path))
    return "\n".join(parts)

