"""A quick look at a chosen data location: a path that cannot be a data set is refused where
it was chosen, not seconds into loading or minutes into a job."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from fer_core.core.errors import DataError
from fer_core.data.dataset import DEMO_DATA
from fer_core.data.sources import EXPECTED_LAYOUT

DATA_FILE_SUFFIXES = (".zip", ".csv")


def check_upload(name: str, data: bytes) -> None:
    """Refuse an uploaded file that is not a zip archive, whatever its name says."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataError(f"{name} is not a zip archive ({len(data):,} bytes); upload a .zip of "
                        f"the data set. {EXPECTED_LAYOUT}")


def check_location(location: str | Path | None) -> None:
    """Refuse a location that cannot hold a data set; ``None`` and ``"demo"`` are the demo."""
    if location is None or str(location) == DEMO_DATA:
        return
    path = Path(location).expanduser()
    if not path.exists():
        raise DataError(f"Data path {str(path)!r} does not exist. {EXPECTED_LAYOUT}")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise DataError(f"Data path {str(path)!r} cannot be read here: check its permissions.")
    if path.is_dir():
        return
    if path.suffix.lower() not in DATA_FILE_SUFFIXES:
        raise DataError(f"{path.name} is neither a folder, a .csv nor a .zip. {EXPECTED_LAYOUT}")
    if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
        raise DataError(f"{path.name} is not a valid zip archive. {EXPECTED_LAYOUT}")
