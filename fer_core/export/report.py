"""``export.json`` as people read it: a table with each target met or missed, for the command
line (:func:`describe`) and the Results page (``views.export``)."""

from __future__ import annotations

from typing import Any

COLUMNS = ["format", "file", "MB", "max_abs_diff", "top1_agreement", "accuracy",
           "images_per_s", "target"]


def rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per export, sizes in MB, and "met" or "MISSED: why" as its target."""
    return [{
        "format": e["format"], "file": e["file"], "MB": round(e["bytes"] / 1e6, 2),
        "max_abs_diff": e["max_abs_diff"], "top1_agreement": e["top1_agreement"],
        "accuracy": e["accuracy"], "images_per_s": e["images_per_s"],
        "target": "met" if e.get("target_met") else "MISSED: " + "; ".join(e.get("misses", [])),
    } for e in entries]


def describe(entries: list[dict[str, Any]]) -> list[str]:
    """The command line's table, then one line saying whether every target was met."""
    lines = [f"{'format':<12}{'file':<20}{'MB':>7}{'max diff':>10}{'top-1':>9}{'accuracy':>10}"
             f"{'images/s':>10}  target"]
    for row in rows(entries):
        lines.append(f"{row['format']:<12}{row['file']:<20}{row['MB']:>7.2f}"
                     f"{row['max_abs_diff']:>10.1e}{row['top1_agreement']:>9.2%}"
                     f"{row['accuracy']:>10.2%}{row['images_per_s']:>10,.0f}  {row['target']}")
    missed = [e["format"] for e in entries if not e.get("target_met")]
    n = entries[0]["images"] if entries else 0
    lines.append(f"Re-scored {n:,} test images per format. " + (
        "Every export meets its target." if not missed
        else f"Target missed by: {', '.join(missed)}."))
    return lines
