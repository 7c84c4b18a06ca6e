"""The model card of a run, after "Model Cards for Model Reporting" (Mitchell et al. 2019).

One :class:`Card` is rendered twice, as ``MODEL_CARD.md`` in the run folder and as a section of
the HTML report, so both say the same. Metrics come from ``predictions.csv`` with bootstrap 95%
intervals; the data's near-duplicates and train/test copies from the audit
(``fer_core.data.audit``), run on the data set when it is at hand.
"""

from __future__ import annotations

import html
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.vocabulary import PERCENT, SCORE, label, text, views_text
from fer_core.reports import wording
from fer_core.runs import archive

log = logging.getLogger("fer_core.runs")
BOOTSTRAP = 1000  # resamples of the test split for the 95% intervals
Table = list[list[str]]  # first row: the header


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Card:
    title: str
    sections: list[Section]

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for paragraph in section.paragraphs:
                lines += [paragraph, ""]
            for table in section.tables:
                lines.append("| " + " | ".join(table[0]) + " |")
                lines.append("|" + " --- |" * len(table[0]))
                lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
                lines.append("")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The card as an HTML fragment (escaped: a run may come from someone else)."""
        parts = [f"<h3>{html.escape(self.title)}</h3>"]
        for section in self.sections:
            parts.append(f"<h4>{html.escape(section.title)}</h4>")
            parts += [f"<p>{html.escape(p).replace('`', '')}</p>" for p in section.paragraphs]
            for table in section.tables:
                head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
                body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                               + "</tr>" for row in table[1:])
                parts.append(f'<div class="table"><table><thead><tr>{head}</tr></thead>'
                             f"<tbody>{body}</tbody></table></div>")
        return "\n".join(parts)


# --- building ------------------------------------------------------------------------------------

def build_card(run_dir: Path, *, dataset: Any = None, audit_line: str | None = None) -> Card:
    """The card of a run; ``dataset`` (a loaded ``Dataset``) saves loading it for the audit,
    ``audit_line`` (what an earlier card found) saves running the audit again."""
    run_dir = Path(run_dir)
    record = runs.read_config(run_dir)
    config, data = record.config, record.data or {}
    metrics = runs.read_metrics(run_dir) or {}
    return Card(f"Model card: {run_dir.name}", [
        _details(run_dir, record, metrics),
        _use(data),
        _data(data, config, dataset, audit_line),
        _metrics(run_dir, metrics),
        _calibration(run_dir),
        _limitations(data),
        _training(record),
    ])


def _details(run_dir: Path, record: runs.RunRecord, metrics: dict) -> Section:
    config, env = record.config, record.environment or {}
    status = runs.read_status(run_dir)
    classes = metrics.get("classes") or (record.data or {}).get("classes") or []
    return Section("Model details", [
        f"A `{config.get('backbone', '?')}` classifier of facial expressions into "
        f"{len(classes)} classes ({', '.join(classes)}), trained by FER Studio"
        + (f" from the `{record.preset}` preset" if record.preset else "")
        + f"; run `{run_dir.name}`, {status.state or 'state unknown'}"
        + (f" on {status.finished[:10]}" if status.finished else "") + ".",
        "Input: one 48x48 grey face crop, raw 0-255 pixels; output: one probability per "
        "class. Trained with " + (env.get("precision") or "float32") + " on "
        + (env.get("device") or "an unrecorded device") + f", TensorFlow "
        f"{env.get('tensorflow', '?')}, Keras {env.get('keras', '?')}. "
        + wording.REPRODUCIBLE.get(env.get("reproducible"), "")
        + " " + (wording.bfloat16_scores_note(env, metrics) or ""),
    ])


def _use(data: dict) -> Section:
    synthetic = (" This run was trained on FER Studio's synthetic demo faces: it is for trying "
                 "the tools, not for any use on real people.") if data.get("synthetic") else ""
    return Section("Intended use", [
        "Intended: research, teaching and prototyping of facial expression recognition; "
        "comparing recipes; as a starting point to fine-tune on data collected for a purpose, "
        "with consent." + synthetic,
        "Out of scope: decisions about people (hiring, education, policing, health, "
        "credit, border control); inferring what someone feels (an expression is not an "
        "emotion); surveillance or tracking people without their informed consent; faces "
        "that are not upright, frontal and reasonably lit; children, unless evaluated on them.",
    ])


def _data(data: dict, config: dict, dataset: Any, audit_line: str | None) -> Section:
    section = Section("Data")
    sizes, counts = data.get("sizes") or {}, data.get("train_counts") or {}
    kind = " (synthetic)" if data.get("synthetic") else ""
    section.paragraphs.append(
        f"{data.get('name', 'unknown data set')}{kind} at `{data.get('location', '?')}`: "
        + ", ".join(f"{n:,} {split}" for split, n in sizes.items())
        + f" images (validation is {config.get('val_fraction', 0):.0%} of train, stratified).")
    if counts:
        largest, smallest = max(counts.values()), max(min(counts.values()), 1)
        section.paragraphs.append(
            f"Imbalance: the largest class has {largest / smallest:.1f} times the images of the "
            f"smallest (class weights: {config.get('class_weights', 'none')}).")
        total = sum(counts.values()) or 1
        section.tables.append([[label("class"), "Training images", label("share")]] + [
            [name, text("n", n), text("share", n / total)] for name, n in counts.items()])
    section.paragraphs.append(audit_line or _audit_line(data, dataset))
    return section


def _audit_line(data: dict, dataset: Any) -> str:
    """What the audit found about copies, or why it could not run."""
    from fer_core.data.audit import audit

    try:
        if dataset is None:
            from fer_core.data import DataRef

            dataset = DataRef.parse(data.get("location")).load()  # none recorded: the default
        if data.get("fingerprint") and dataset.fingerprint != data["fingerprint"]:
            return ("Audit: not run; the data set at its location changed since training.")
        report = audit(dataset.images, dataset.index)
    except Exception as err:  # noqa: BLE001 - a card without an audit beats no card
        log.info("Model card: audit skipped (%s).", err)
        return f"Audit: not run; the data set could not be read here ({type(err).__name__})."
    n_test = int((dataset.index["split"] == "test").sum()) or 1
    leaked = len(report.leaked_test_ids)
    return (f"Audit (FER Studio's, pHash distance <= {report.max_distance}): "
            f"{len(report.near_duplicate_pairs):,} near-duplicate pairs; {leaked:,} of "
            f"{n_test:,} test images ({leaked / n_test:.1%}) have an exact or near copy in "
            "train or validation, so test accuracy partly measures memory.")


def bootstrap_scores(true: np.ndarray, pred: np.ndarray, n_classes: int, *,
                     resamples: int = BOOTSTRAP, seed: int = 0) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and per-class precision, recall and F1 on ``resamples`` bootstrap
    resamples of the images: arrays of shape (resamples,) or (resamples, classes)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(true), size=(resamples, len(true)))
    t, p = true[picks], pred[picks]
    rows = np.arange(resamples)[:, None]
    hits = np.zeros((resamples, n_classes))
    np.add.at(hits, (rows, t), t == p)
    support = np.stack([np.bincount(r, minlength=n_classes) for r in t])
    predicted = np.stack([np.bincount(r, minlength=n_classes) for r in p])
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(hits / predicted)
        recall = np.nan_to_num(hits / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {"accuracy": (t == p).mean(axis=1), "macro_f1": f1.mean(axis=1),
            "precision": precision, "recall": recall, "f1": f1}


def _interval(values: np.ndarray, fmt: str = SCORE) -> str:
    low, high = np.percentile(values, [2.5, 97.5], axis=0)
    return f"[{low:{fmt}}, {high:{fmt}}]"


def _metrics(run_dir: Path, metrics: dict) -> Section:
    section = Section("Metrics")
    predictions = runs.read_predictions(run_dir)
    classes = list(metrics.get("classes") or [])
    if predictions is None or not classes:
        section.paragraphs.append("No predictions.csv: the run has not been evaluated.")
        return section
    split = "test" if (predictions["split"] == "test").any() else "val"
    rows = predictions[predictions["split"] == split]
    lookup = {name: i for i, name in enumerate(classes)}
    true = rows["true"].map(lookup).to_numpy()
    pred = rows["pred"].map(lookup).to_numpy()
    ok = ~(pd.isna(true) | pd.isna(pred))
    true, pred = true[ok].astype(int), pred[ok].astype(int)
    boot = bootstrap_scores(true, pred, len(classes))
    accuracy = float((true == pred).mean())
    macro = metrics.get(split, {}).get("macro_f1")
    section.paragraphs.append(
        f"On the {text('split', split)} split ({len(true):,} images, {views_text(metrics)} of "
        f"each): accuracy {text('accuracy', accuracy)} "
        f"(95% interval {_interval(boot['accuracy'], PERCENT)})"
        + (f", macro-F1 {macro:.4f} ({_interval(boot['macro_f1'])})" if macro is not None
           else "")
        + f". Intervals: {BOOTSTRAP:,} bootstrap resamples of the images (percentile).")
    per_class = metrics.get(split, {}).get("per_class", {})
    scored = ("precision", "recall", "f1-score")
    table = [[label(k) for k in ("class", "n", *scored)] + ["Recall 95%", "F1 95%"]]
    for i, name in enumerate(classes):
        scores = per_class.get(name, {})
        table.append([name, text("n", int((true == i).sum()))]
                     + [text(k, scores.get(k, 0)) for k in scored]
                     + [_interval(boot["recall"][:, i]), _interval(boot["f1"][:, i])])
    section.tables.append(table)
    return section


def _calibration(run_dir: Path) -> Section:
    from fer_core.inference.calibration import read_calibration

    record = read_calibration(run_dir)
    if record is None:
        return Section("Calibration", ["Not measured for this run: its probabilities have not "
                                       "been checked against how often it is right "
                                       "(`python -m fer_core calibrate RUN_DIR`)."])
    scored = ("ece", "brier", "nll")
    rows = [[label("split"), label("n")] + [f"{label(k)} {when}" for k in scored
                                            for when in ("before", "after")]]
    for split, scores in record.get("scores", {}).items():
        before, after = scores["before"], scores["after"]
        rows.append([text("split", split), text("n", before["n"])]
                    + [text(k, stage[k]) for k in scored for stage in (before, after)])
    return Section("Calibration", [
        f"Temperature {record['temperature']:.3f}, fitted on validation: predicted "
        "probabilities are divided in log space by it, which never changes the predicted "
        "class. ECE (15 bins), Brier score and negative log-likelihood before and after:"],
        [rows])


def _limitations(data: dict) -> Section:
    if data.get("synthetic"):  # what holds for real photos does not apply: say what does
        return Section("Limitations", [
            "Trained on synthetic faces, drawn rather than photographed: the model has never "
            "seen a real face, and what it predicts for one means nothing.",
            "Its scores measure the drawings, not expression recognition.",
        ])
    return Section("Limitations", [
        "Faces are 48x48 grey crops: fine detail, colour and context are lost; faces that "
        "are not upright and frontal are missed by the detector or misread.",
        "The demographic make-up of the data (age, gender, skin tone, culture) was never "
        "measured, so how well the model does for any group of people is unknown.",
        "Labels are noisy: FER-2013's were given by one annotator per image, and about one in "
        "ten is arguably wrong; rare classes (disgust) are learnt least well.",
        "Posed or exaggerated expressions dominate web images; everyday expressions are "
        "subtler and read worse.",
    ])


def _training(record: runs.RunRecord) -> Section:
    table = [[label("setting"), label("value")]] + [[label(k), text(k, v)]
                                                     for k, v in record.config.items()]
    return Section("Training configuration", [
        "Reproduce it (same data, same seed; the numbers vary a little with hardware):",
        f"`{reproduce_command(record)}`",
    ], [table])


def reproduce_command(record: runs.RunRecord) -> str:
    """``python -m fer_core train ...`` with the preset and every field that differs from it."""
    from fer_core.core.config import TrainConfig, preset

    base = (preset(record.preset) if record.preset else TrainConfig()).to_dict()
    parts = ["python -m fer_core train"]
    if record.preset:
        parts.append(f"--preset {record.preset}")
    for key, value in record.config.items():
        if key == "data" or base.get(key) == value:
            continue
        if isinstance(value, dict):
            value = ",".join(f"{src}:{dst}" for src, dst in value.items())
        elif isinstance(value, list | tuple):
            value = ",".join(map(str, value))
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"--set {key}={shlex.quote(text)}")
    if record.config.get("data"):
        parts.append(f"--data {shlex.quote(str(record.config['data']))}")
    return " ".join(parts)


# --- writing -------------------------------------------------------------------------------------

def write_card(run_dir: Path, *, dataset: Any = None, extra_target: Path | None = None) -> Path:
    """Write the run's ``MODEL_CARD.md`` (and a copy at ``extra_target``); return its path."""
    text = build_card(run_dir, dataset=dataset).to_markdown()
    path = runs.files(Path(run_dir)).model_card
    atomic.write_text(path, text)
    if extra_target is not None:
        atomic.write_text(Path(extra_target), text)
    return path


def card_text(run_dir: Path) -> str:
    """The run's card as written, or built now for a run that has none (nothing written)."""
    path = runs.files(Path(run_dir)).model_card
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return build_card(run_dir).to_markdown()


def run_zip(run_dir: Path) -> bytes:
    """The run folder as a zip to send, with a card even for a run trained before cards."""
    return archive.export_run_zip(run_dir, card=card_text)


def write_after_training(run_dir: Path, dataset: Any) -> None:
    """The card at the end of training; a card that cannot be written costs a log line, never
    the trained run."""
    try:
        write_card(run_dir, dataset=dataset)
    except Exception:  # noqa: BLE001
        log.exception("The model card could not be written; `python -m fer_core runs card` "
                      "writes it later.")


def card_html(run_dir: Path) -> str:
    """The card as a section of the HTML report (built from the run, as the file is)."""
    try:
        written = card_text(run_dir) if runs.files(run_dir).model_card.is_file() else ""
        found = [line for line in written.splitlines() if line.startswith("Audit")]
        return build_card(run_dir, audit_line=found[0] if found else None).to_html()
    except Exception as err:  # noqa: BLE001 - the report shows the rest of the run
        return f'<p class="note">No model card: {html.escape(str(err))}</p>'
