"""The seed report's numbers beside ours, and its questions answered from the study runs.

The seed report trained InceptionV3 with ImageNet weights on FER-2013 and quoted three test
accuracies (:data:`QUOTED`); it also asked whether batch size, subsampling and the ways of
handling the rare disgust class change the result. A *study* (``fer_core.core.studies``)
launches one group of runs per question. Every row is marked ``quoted`` or ``measured``, so
nobody mistakes a number copied from the report for one measured here. It reads run folders
only, so Results, the HTML report and a read-only viewer all show the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fer_core import runs
from fer_core.core import studies as study_plans
from fer_core.core.studies import Study


@dataclass(frozen=True)
class QuotedResult:
    """A test accuracy the seed report states; never measured here (no ImageNet weights)."""

    recipe: str
    preset: str
    accuracy: float
    classes: int


QUOTED = (
    QuotedResult("InceptionV3 frozen", "seed-baseline", 0.4414, 7),
    QuotedResult("InceptionV3, top 50 layers fine-tuned", "seed-finetuned", 0.4900, 7),
    QuotedResult("fine-tuned, without disgust", "seed-no-disgust", 0.4866, 6),
)


# The studies' questions and arms, in the order the view shows them: one source, the launcher's.
STUDIES: tuple[Study, ...] = tuple(study_plans.STUDIES.values())
STUDY_NAMES = tuple(study.name for study in STUDIES)
RARE_CLASS = "disgust"  # the class the imbalance study is about
ROW_COLUMNS = ["source", "recipe", "study", "arm", "classes", "test_accuracy", "val_accuracy",
               "best_val_loss", "minutes", "images_per_s", "hardware", "run"]  # named: vocabulary


@dataclass(frozen=True)
class FinishedArm:
    """A finished run of a study: its arm label and what it measured."""

    label: str
    info: runs.RunInfo
    history: pd.DataFrame

    @property
    def test(self) -> dict[str, Any]:
        return (self.info.metrics or {}).get("test", {})


@dataclass(frozen=True)
class StudyResult:
    """The latest run group of a study: its finished arms, in the study's order."""

    study: Study
    group: str | None = None
    arms: list[FinishedArm] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        done = {arm.label for arm in self.arms}
        return [arm.label for arm in self.study.arms if arm.label not in done]


@dataclass(frozen=True)
class SeedReport:
    """What the "Seed report" tab and the HTML section show."""

    rows: pd.DataFrame
    studies: dict[str, StudyResult]
    answers: dict[str, str]
    other: runs.RunInfo | None = None  # the best finished run that is not in a study

    @property
    def measured(self) -> list[runs.RunInfo]:
        """The measured runs, best test accuracy first: the figures' candidates."""
        found = [arm.info for result in self.studies.values() for arm in result.arms]
        found += [self.other] if self.other else []
        return sorted(found, key=lambda info: -_test_accuracy(info))


# --- finding the studies' runs -------------------------------------------------------------------

def _finished(info: runs.RunInfo) -> bool:
    return info.state == "succeeded" and "accuracy" in (info.metrics or {}).get("test", {})


def _test_accuracy(info: runs.RunInfo) -> float:
    return float((info.metrics or {}).get("test", {}).get("accuracy", 0.0))


def latest_studies(infos: Sequence[runs.RunInfo]) -> dict[str, StudyResult]:
    """For each study, its latest run group that has a finished run (group ids sort by time):
    a group still running shows the arms finished so far; an arm rerun counts once, newest."""
    groups: dict[str, dict[str, dict[str, runs.RunInfo]]] = {}
    for info in sorted(infos, key=lambda i: i.run_id):  # oldest first: newer reruns win
        block = study_plans.study_of(info.extra) if _finished(info) else None
        if block and block["name"] in STUDY_NAMES:
            groups.setdefault(block["name"], {}).setdefault(block["group"], {})[
                block["arm"]] = info
    results = {}
    for study in STUDIES:
        found = groups.get(study.name)
        if not found:
            results[study.name] = StudyResult(study)
            continue
        group = max(found)
        arms = found[group]
        order = [arm.label for arm in study.arms if arm.label in arms]
        order += sorted(set(arms) - set(order))  # arms of a newer study version, kept
        results[study.name] = StudyResult(study, group, [
            FinishedArm(label, arms[label], runs.read_history(arms[label].path))
            for label in order])
    return results


def best_other_run(infos: Sequence[runs.RunInfo]) -> runs.RunInfo | None:
    """The finished run with the best test accuracy that no study launched (e.g. the fast-cpu
    run on FER-2013): the study arms are short schedules; this says what a full one reaches."""
    others = [info for info in infos if _finished(info) and not study_plans.study_of(info.extra)]
    return max(others, key=_test_accuracy, default=None)


# --- rows ----------------------------------------------------------------------------------------

def images_per_second(info: runs.RunInfo, history: pd.DataFrame) -> float | None:
    """Training images per second over the recorded epochs: training images (as config.json
    records them) times epochs, over the epochs' seconds. ``None`` when not recorded."""
    train = ((info.data or {}).get("sizes") or {}).get("train")
    if not train or history is None or "seconds" not in history or history.empty:
        return None
    seconds = pd.to_numeric(history["seconds"], errors="coerce").dropna()
    total = float(seconds.sum())
    return round(train * len(seconds) / total, 1) if total > 0 else None


def _best_val_loss(history: pd.DataFrame) -> float | None:
    if history is None or "val_loss" not in history:
        return None
    values = pd.to_numeric(history["val_loss"], errors="coerce").dropna()
    return float(values.min()) if len(values) else None


def _measured_row(info: runs.RunInfo, history: pd.DataFrame, *, recipe: str,
                  study: str | None, arm: str | None) -> dict[str, Any]:
    metrics = info.metrics or {}
    return {
        "source": "measured", "recipe": recipe, "study": study, "arm": arm,
        "classes": len(metrics.get("classes", [])) or None,
        "test_accuracy": metrics.get("test", {}).get("accuracy"),
        "val_accuracy": metrics.get("val", {}).get("accuracy"),
        "best_val_loss": _best_val_loss(history),
        "minutes": round(metrics["seconds"] / 60, 1) if "seconds" in metrics else None,
        "images_per_s": images_per_second(info, history),
        "hardware": info.environment.get("device"),
        "run": info.run_id,
    }


def _network(info: runs.RunInfo) -> str:
    backbone = info.config.get("backbone")
    if info.preset and backbone:
        return f"{info.preset} ({backbone})"
    return str(info.preset or backbone or "?")


def seed_rows(studies: dict[str, StudyResult], other: runs.RunInfo | None) -> pd.DataFrame:
    """The quoted rows, then every study arm, then the best other run; one row each."""
    rows = [{"source": "quoted", "recipe": q.recipe, "study": None, "arm": None,
             "classes": q.classes, "test_accuracy": q.accuracy, "hardware": "Colab GPU",
             "run": None} for q in QUOTED]
    for result in studies.values():
        rows += [_measured_row(arm.info, arm.history, study=result.study.name, arm=arm.label,
                               recipe=f"{_network(arm.info)}, {arm.label}")
                 for arm in result.arms]
    if other is not None:
        rows.append(_measured_row(other, runs.read_history(other.path), study=None, arm=None,
                                  recipe=f"{_network(other)}, best other run"))
    return pd.DataFrame(rows, columns=ROW_COLUMNS)


# --- answers -------------------------------------------------------------------------------------

def not_measured(study: Study) -> str:
    return (f"Not measured yet: the study {study.name} has no runs here (it is launched from "
            f"the Train page, or with `python -m fer_core jobs launch --study {study.name}`).")


def _points(value: float) -> str:
    return f"{abs(value) * 100:.1f} points {'above' if value >= 0 else 'below'}"


def _standard_error(arms: Sequence[FinishedArm]) -> str:
    """One standard error of a test accuracy, so a reader can tell a difference from noise."""
    best = max(arms, key=lambda arm: arm.test.get("accuracy", 0.0))
    n, p = best.test.get("n") or 0, best.test.get("accuracy", 0.0)
    if n <= 0:
        return ""
    return (f" One standard error on its {n:,} test images is "
            f"{math.sqrt(p * (1 - p) / n) * 100:.1f} points.")


def _ranking(arms: Sequence[FinishedArm]) -> str:
    """"X scored best on test (61.2%), 1.2 points above Y and 0.4 points above Z." """
    ranked = sorted(arms, key=lambda arm: -arm.test.get("accuracy", 0.0))
    top = ranked[0]
    accuracy = top.test.get("accuracy", 0.0)
    if len(ranked) == 1:
        return f"Only {top.label} has finished so far: {accuracy:.2%} on test."
    others = " and ".join(f"{_points(accuracy - arm.test.get('accuracy', 0.0))} {arm.label}"
                          for arm in ranked[1:])
    return f"{top.label} scored best on test ({accuracy:.2%}), {others}."


def _extra(result: StudyResult) -> str:
    """What each question asks beyond test accuracy: validation loss for batch size, the rare
    class's recall for imbalance (removing it leaves 6 classes, so accuracy alone misleads)."""
    if result.study.name == "batch-size":
        losses = [(arm.label, loss) for arm in result.arms
                  if (loss := _best_val_loss(arm.history)) is not None]
        if losses:
            label, loss = min(losses, key=lambda pair: pair[1])
            return f" Lowest validation loss: {label} ({loss:.3f})."
    if result.study.name == "imbalance":
        recalls = [f"{arm.label} {recall:.2f}" for arm in result.arms
                   if (recall := arm.test.get("per_class", {}).get(RARE_CLASS, {})
                       .get("recall")) is not None]
        if recalls:
            return f" {RARE_CLASS.capitalize()} recall on test: {', '.join(recalls)}."
    return ""


def answer(result: StudyResult) -> str:
    """One sentence (or three short ones) answering the study's question from its runs."""
    if not result.arms:
        return not_measured(result.study)
    text = _ranking(result.arms) + _extra(result) + _standard_error(result.arms)
    if result.missing:
        text += f" Not finished yet: {', '.join(result.missing)}."
    return text


def build_seed_report(infos: Sequence[runs.RunInfo]) -> SeedReport:
    """The seed report view of ``infos`` (every run of the runs folder, or a report's runs)."""
    readable = [info for info in infos if not info.problem]
    studies = latest_studies(readable)
    other = best_other_run(readable)
    return SeedReport(rows=seed_rows(studies, other), studies=studies,
                      answers={name: answer(result) for name, result in studies.items()},
                      other=other)


def has_study_runs(infos: Sequence[runs.RunInfo]) -> bool:
    """Whether any of ``infos`` was launched by a study: the HTML report then gets the section."""
    return any(study_plans.study_of(info.extra) for info in infos if not info.problem)
