"""Session state and cached loaders every page uses.

Session keys are named ``"<page>.<name>"``; the ones here are shared by all pages. Loaders are
cached so that switching pages never reloads the data set: the data set and models with
``st.cache_resource`` (large, read-only: never copied), small files with ``st.cache_data``
keyed by path and modification time so a job's new progress shows on the next rerun.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from fer_core import runs, settings
from fer_core.data import Dataset, load_dataset
from fer_core.errors import FerError

DATA_KEY = "app.data_path"  # None: the demo data set (or FER_DATA_DIR when set)
RUNS_KEY = "app.runs_dir"


def init_state() -> None:
    """Set the shared keys once per session, from the environment."""
    if DATA_KEY not in st.session_state:
        configured = settings.data_dir()
        st.session_state[DATA_KEY] = str(configured) if configured else None
    if RUNS_KEY not in st.session_state:
        st.session_state[RUNS_KEY] = str(settings.runs_dir())


def data_path() -> str | None:
    init_state()
    return st.session_state[DATA_KEY]


def runs_root() -> Path:
    init_state()
    return Path(st.session_state[RUNS_KEY])


@st.cache_resource(show_spinner="Loading images...", max_entries=3)
def _load(location: str | None) -> Dataset:
    return load_dataset(location)


def current_dataset() -> Dataset:
    """The chosen data set; a user error is shown and the page stops."""
    try:
        return _load(data_path())
    except FerError as err:
        st.error(str(err))
        st.stop()


def reload_dataset() -> None:
    _load.clear()


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=500, show_spinner=False)
def _read_run(path: str, stamp: tuple[float, float, float]) -> runs.RunInfo:
    return runs.read_run(Path(path))


def list_runs() -> list[runs.RunInfo]:
    """Every run in the runs folder, re-read only when one of its small files changed."""
    root = runs_root()
    if not root.is_dir():
        return []
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     reverse=True)
    infos = []
    for folder in folders:
        stamp = (_mtime(folder / "status.json"), _mtime(folder / "metrics.json"),
                 _mtime(folder / "config.json"))
        info = _read_run(str(folder), stamp)
        if info.status.get("state") == "running":  # crash detection must not be cached
            info = runs.read_run(folder)
        infos.append(info)
    return infos
