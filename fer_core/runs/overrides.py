"""A run folder's copy of the label overrides, taken at launch so a job on a Ray node applies
exactly what was chosen then; training records what it applied in ``config.json``."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from fer_core import runs
from fer_core.core import atomic
from fer_core.core.errors import DataError
from fer_core.data.dataset import Dataset
from fer_core.data.overrides import RECORD_KEY, apply, load, read_file
from fer_core.data.reference import DataRef

log = logging.getLogger("fer_core.runs")


def copy_into_run(run_dir: Path, data: DataRef) -> int:
    """Copy the data set's overrides into a new run folder; return how many decisions. Data
    this machine cannot read (a path on the cluster's nodes only) can have none chosen here."""
    try:
        fingerprint = data.fingerprint()
    except DataError:
        return 0
    chosen = load(fingerprint)
    if chosen:
        atomic.write_json(runs.files(run_dir).overrides, chosen.to_json())
    return len(chosen.exclude) + len(chosen.relabel)


def apply_for_run(run_dir: Path, ds: Dataset) -> Dataset:
    """Apply the run folder's overrides; record in ``config.json`` what was (or why not)."""
    found, note = read_file(runs.files(run_dir).overrides, ds.fingerprint)
    if note:
        log.warning(note)
        _record(run_dir, {"excluded": 0, "relabelled": 0, "ignored": note})
        return ds
    if found is None:
        return ds
    out, counts = apply(ds, found)
    log.info("Label overrides: %d images excluded, %d relabelled.", counts["excluded"],
             counts["relabelled"])
    _record(run_dir, {**counts, "exclude": list(found.exclude), "relabel": dict(found.relabel)})
    return out


def _record(run_dir: Path, block: dict[str, Any]) -> None:
    record = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(record, extra={**record.extra, RECORD_KEY: block}))


def run_summary(record: Any) -> str | None:
    """One sentence on a run's overrides for the report, from its ``config.json`` record."""
    extra = getattr(record, "extra", None) or {}
    block = extra.get(RECORD_KEY)
    if not isinstance(block, dict):
        return None
    if block.get("ignored"):
        return str(block["ignored"])
    return (f"Label overrides: {int(block.get('excluded', 0)):,} images excluded and "
            f"{int(block.get('relabelled', 0)):,} relabelled before training.")
