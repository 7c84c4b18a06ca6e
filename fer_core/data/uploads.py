"""The data choices a user makes in the app, carried out here so the read-only gate
(``fer_core.core.access``) refuses them wherever they come from: keeping an uploaded zip, and
switching the data set the app works on."""

from __future__ import annotations

import re
from pathlib import Path

from fer_core.core import atomic, settings
from fer_core.core.access import ensure_writable
from fer_core.data.reference import DataRef

UPLOADS = ".uploads"  # under the runs folder


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded zip beside the runs, hidden from their listing: the one folder every
    job's machine reaches, a Ray worker's included, so a job on it finds the data. Its name can
    never point outside that folder."""
    ensure_writable("Uploading data")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "upload.zip"
    target = settings.runs_dir() / UPLOADS / safe
    if not target.exists() or target.stat().st_size != len(data):
        atomic.write_bytes(target, data)
    return target


def choose_data(data: DataRef, *, current: DataRef) -> DataRef:
    """The data set to work on from now; a viewer keeps the one it was started with, so a
    change is refused there while keeping the same one is not."""
    if data != current:
        ensure_writable("Changing the data set")
    return data
