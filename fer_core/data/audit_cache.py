"""The audit of a data set, kept on disk under its fingerprint: the pairwise search takes
seconds (far more on a busy host) and depends only on the pixels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.core import atomic, settings
from fer_core.data.audit import BLANK_MAX_CONTRAST, NEAR_MAX_DISTANCE, AuditReport, audit
from fer_core.data.dataset import Dataset

CACHE_FORMAT = 1  # bump when the stored layout or the audit's findings change
_LISTS = ("blank_ids", "exact_duplicate_groups", "near_duplicate_pairs", "leakage_pairs")


def cache_files(fingerprint: str, *, max_distance: int, max_contrast: float
                ) -> tuple[Path, Path]:
    """The JSON (findings) and .npz (per-image brightness and contrast) of one audit."""
    stem = (settings.cache_dir() / "audit"
            / f"{fingerprint}-d{max_distance}-c{max_contrast:g}-v{CACHE_FORMAT}")
    return stem.with_suffix(".json"), stem.with_suffix(".npz")


def cached_audit(ds: Dataset, *, progress: Callable[[float], None] | None = None,
                 max_distance: int = NEAR_MAX_DISTANCE,
                 max_contrast: float = BLANK_MAX_CONTRAST) -> AuditReport:
    """The data set's audit from the disk cache, or computed and stored for next time."""
    report = load(ds, max_distance=max_distance, max_contrast=max_contrast)
    if report is None:
        report = audit(ds.images, ds.index, max_distance=max_distance,
                       max_contrast=max_contrast, progress=progress)
        save(report, ds.fingerprint)
    return report


def is_cached(ds: Dataset, *, max_distance: int = NEAR_MAX_DISTANCE,
              max_contrast: float = BLANK_MAX_CONTRAST) -> bool:
    """Whether the audit of ``ds`` is stored (a file check, nothing read)."""
    return all(path.is_file() for path in cache_files(ds.fingerprint, max_distance=max_distance,
                                                      max_contrast=max_contrast))


def load(ds: Dataset, *, max_distance: int = NEAR_MAX_DISTANCE,
         max_contrast: float = BLANK_MAX_CONTRAST) -> AuditReport | None:
    """The stored audit of ``ds``, or ``None`` when there is none (or it cannot be read)."""
    findings, arrays = cache_files(ds.fingerprint, max_distance=max_distance,
                                   max_contrast=max_contrast)
    try:
        data = json.loads(findings.read_text())
        with np.load(arrays) as stored:
            brightness, contrast = stored["brightness"], stored["contrast"]
    except (OSError, ValueError, KeyError):
        return None
    if len(brightness) != len(ds.index):
        return None
    stats = pd.DataFrame({col: ds.index[col].astype(str).to_numpy()
                          for col in ("id", "split", "label")})
    stats["brightness"], stats["contrast"] = brightness, contrast
    return AuditReport(stats=stats, blank_ids=data["blank_ids"],
                       exact_duplicate_groups=data["exact_duplicate_groups"],
                       near_duplicate_pairs=[tuple(p) for p in data["near_duplicate_pairs"]],
                       leakage_pairs=[tuple(p) for p in data["leakage_pairs"]],
                       max_distance=data["max_distance"], max_contrast=data["max_contrast"])


def save(report: AuditReport, fingerprint: str) -> None:
    findings, arrays = cache_files(fingerprint, max_distance=report.max_distance,
                                   max_contrast=report.max_contrast)
    with atomic.atomic_path(arrays) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, brightness=report.stats["brightness"].to_numpy(),
                 contrast=report.stats["contrast"].to_numpy())
    data = {name: getattr(report, name) for name in _LISTS}
    atomic.write_text(findings, json.dumps({**data, "max_distance": report.max_distance,
                                            "max_contrast": report.max_contrast}))
