"""Every environment variable FER Studio reads (the table is in docs/data.md, "Where things live"),
each parsed here and only here.

Read on every call rather than at import, so tests and the sidebar can redirect them; a bad
value raises one ``ConfigError`` that names the variable and what it takes.
"""

from __future__ import annotations

import os
from pathlib import Path

from fer_core.core.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # what a job runs from: the code
IMAGE_SIZE = 48  # FER-2013's native resolution; every image is stored at this size.
JOB_BACKENDS = ("local", "ray")
# Set by the local worker for the job it starts: the job's stdout already goes to this file.
JOB_LOG = "FER_JOB_LOG"


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def data_dir() -> Path | None:
    """The configured data set, or ``None`` for the demo data set."""
    value = _text("FER_DATA_DIR")
    return Path(value).expanduser() if value else None


def runs_dir() -> Path:
    return Path(_text("FER_RUNS_DIR") or "runs").expanduser()


def cache_dir() -> Path:
    value = _text("FER_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "fer-studio"


def jobs_backend() -> str:
    value = (_text("FER_JOBS_BACKEND") or "local").lower()
    if value not in JOB_BACKENDS:
        raise ConfigError(f"FER_JOBS_BACKEND must be one of {', '.join(JOB_BACKENDS)}; got "
                          f"{value!r}.")
    return value


def ray_address() -> str | None:
    return _text("RAY_ADDRESS") or None


def ray_gpus() -> float:
    """GPUs per Ray job: a whole or fractional number, at least 0."""
    text = _text("FER_RAY_GPUS")
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"FER_RAY_GPUS must be a number of GPUs such as 1 or 0.5; got {text!r}.")
    return int(value) if value.is_integer() else value


def mlflow_tracking_uri() -> str | None:
    return _text("MLFLOW_TRACKING_URI") or None


def for_jobs_elsewhere() -> dict[str, str]:
    """What a job on another machine must see too (the same data, MLflow), paths absolute."""
    paths = {"FER_DATA_DIR": data_dir(), "FER_CACHE_DIR": _text("FER_CACHE_DIR") and cache_dir()}
    values = {name: str(path.resolve()) for name, path in paths.items() if path}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_DISABLE_TELEMETRY"):
        if _text(name):
            values[name] = _text(name)
    return values


def job_log() -> str | None:
    return _text(JOB_LOG) or None


def read_only() -> bool:
    """Whether this is a read-only viewer: only the environment says so, so no UI can undo it."""
    return _text("FER_READ_ONLY").lower() in ("1", "true", "yes", "on")


def ice_servers() -> list[dict[str, list[str]]]:
    """The live camera's ICE servers, WebRTC's shape; none unless asked for, so that nothing
    is sent to a STUN server on the internet by default."""
    urls = [url.strip() for url in _text("FER_ICE_SERVERS").split(",") if url.strip()]
    return [{"urls": urls}] if urls else []
