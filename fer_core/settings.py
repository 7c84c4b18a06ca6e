"""Where things live, read from the environment once per call so tests can redirect them.

``FER_DATA_DIR``   the data set to use (a Kaggle folder, ``fer2013.csv`` or a ``.zip``);
                   unset means the built-in synthetic demo data set.
``FER_RUNS_DIR``   where run folders are written (default ``./runs``).
``FER_CACHE_DIR``  decoded image arrays, extracted zips and the demo data
                   (default ``~/.cache/fer-studio``).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # what a job runs from: the code
IMAGE_SIZE = 48  # FER-2013's native resolution; every image is stored at this size.


def data_dir() -> Path | None:
    """The configured data set, or ``None`` for the demo data set."""
    value = os.environ.get("FER_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def runs_dir() -> Path:
    return Path(os.environ.get("FER_RUNS_DIR", "runs")).expanduser()


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "fer-studio"
    return Path(os.environ.get("FER_CACHE_DIR", default)).expanduser()
