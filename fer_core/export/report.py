"""``export.json`` as people read it: a table with each target met or missed, for the command
line (:func:`describe`) and the Results page (``views.export``), in the vocabulary's words."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fer_core.core.vocabulary import for_people, text, view_count, views_text

COLUMNS = ["format", "file", "MB", "max_abs_diff", "top1_agreement", "export_accuracy",
           "images_per_s", "target"]


def rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per export, sizes in MB, and "met" or "MISSED: why" as its target."""
    return [{
        "format": e["format"], "file": e["file"], "MB": round(e["bytes"] / 1e6, 2),
        "max_abs_diff": e["max_abs_diff"], "top1_agreement": e["top1_agreement"],
        "export_accuracy": e["accuracy"], "images_per_s": e["images_per_s"],
        "target": "met" if e.get("target_met") else "MISSED: " + "; ".join(e.get("misses", [])),
    } for e in entries]


def frame(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per export, in ``export.json``'s order (``for_people`` names it for people)."""
    return pd.DataFrame(rows(entries), columns=COLUMNS)


def run_accuracy_text(metrics: dict[str, Any] | None) -> str:
    """The run's own test accuracy and how many views it averaged, beside the exports' one."""
    test = (metrics or {}).get("test") or {}
    if test.get("accuracy") is None:
        return ""
    how = (f"averages {views_text(metrics)} of each image (test-time augmentation)"
           if view_count(metrics) > 1 else "scores one view of each image too")
    return (f"The run's own test accuracy, {text('accuracy', test['accuracy'])}, {how}; each "
            "export here scores one view.")


def describe(entries: list[dict[str, Any]], metrics: dict[str, Any] | None = None) -> list[str]:
    """The command line's table, then whether every target was met and the views scored."""
    missed = [e["format"] for e in entries if not e.get("target_met")]
    n = entries[0]["images"] if entries else 0
    verdict = ("Every export meets its target." if not missed
               else f"Target missed by: {', '.join(missed)}.")
    return [for_people(frame(entries)).to_string(index=False),
            f"Re-scored {n:,} test images per format. {verdict}", run_accuracy_text(metrics)]
