"""Session state and cached loaders every page uses (keys are named ``"<page>.<name>"``).

The data choice is also kept in the page's address (``?data=demo``, ``?data=/path``), so a
reload or a link opened in a new tab works on the same data set. The data set is cached with
``st.cache_resource`` (large, read-only: never copied), so switching pages never reloads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from fer_core import runs, tasks
from fer_core.core import settings, vocabulary
from fer_core.core.errors import DataError, FerError
from fer_core.data import DataRef, Dataset

DATA_KEY = "app.data"  # the DataRef chosen in the sidebar
DATA_PARAM = "data"  # its text form in the page's address
RUNS_KEY = "app.runs_dir"
BACKEND_KEY = "app.jobs_backend"  # "local" or "ray" (FER_JOBS_BACKEND)
RAY_ADDRESS_KEY = "app.ray_address"  # the Ray job API, e.g. http://head:8265 (RAY_ADDRESS)
RAY_GPUS_KEY = "app.ray_gpus"  # GPUs each Ray job reserves (FER_RAY_GPUS, default 0)


def init_state() -> None:
    """Set the shared keys once per session, from the environment (a bad value stops the app)."""
    defaults: dict[str, Callable[[], Any]] = {
        DATA_KEY: _initial_data,
        RUNS_KEY: lambda: str(settings.runs_dir()),
        BACKEND_KEY: settings.jobs_backend,
        RAY_ADDRESS_KEY: lambda: settings.ray_address() or "",
        RAY_GPUS_KEY: settings.ray_gpus,
    }
    try:
        for key in defaults.keys() - st.session_state.keys():
            st.session_state[key] = defaults[key]()
    except FerError as err:
        st.error(str(err))
        st.stop()


def jobs_backend() -> tasks.JobBackend:
    """Where Launch sends jobs, as chosen in the sidebar; a ``FerError`` says what is missing."""
    init_state()
    return tasks.backend_from_env(st.session_state[BACKEND_KEY],
                                  address=st.session_state[RAY_ADDRESS_KEY] or None,
                                  runs_root=runs_root(), num_gpus=st.session_state[RAY_GPUS_KEY])


def jobs_backend_name() -> str:
    init_state()
    return st.session_state[BACKEND_KEY]


def jobs_backend_label() -> str:
    """Where jobs run, in a few words, for captions."""
    try:
        return jobs_backend().description
    except FerError:  # a Ray cluster without its address yet: the sidebar says so
        return "a Ray cluster (no address set)"


def _initial_data() -> DataRef:
    """A new session's data: the address's (a reload, a link), else FER_DATA_DIR or the demo.
    Data the address names that cannot be read here gives the demo, with a message; a viewer
    keeps the data it was started with, whatever the address says."""
    text = st.query_params.get(DATA_PARAM)
    if not text or settings.read_only():
        return DataRef.default()
    data = DataRef.parse(text)
    try:
        data.check()
    except DataError as err:
        st.warning(f"The address names data that cannot be used: {err} Using the synthetic "
                   "demo data instead.", icon=":material/warning:")
        return DataRef()
    return data


def data_ref() -> DataRef:
    """The data set chosen in the sidebar: the demo is the demo, even with FER_DATA_DIR set."""
    init_state()
    return st.session_state[DATA_KEY]


def data_param() -> dict[str, str]:
    """The choice as a query parameter, for the address and for links a new tab may open; none
    for the default choice, which a new session makes anyway."""
    data = data_ref()
    return {} if data == DataRef.default() else {DATA_PARAM: str(data)}


def keep_data_in_address() -> None:
    """Keep the address naming the choice: Streamlit clears it on page switches. Every change
    of the address is a browser history entry, so it is written only when it differs, and not
    at all for the default choice: Back then takes one press, as on any site."""
    wanted = data_param().get(DATA_PARAM)
    if st.query_params.get(DATA_PARAM) == wanted:
        return
    if wanted is None:
        st.query_params.pop(DATA_PARAM, None)
    else:
        st.query_params[DATA_PARAM] = wanted


def runs_root() -> Path:
    init_state()
    return Path(st.session_state[RUNS_KEY])


@st.cache_resource(show_spinner="Loading images...", max_entries=3)
def _load(data: str) -> Dataset:
    return DataRef.parse(data).load()


def current_dataset() -> Dataset:
    """The chosen data set; a user error is shown and the page stops."""
    try:
        return _load(str(data_ref()))
    except FerError as err:
        st.error(str(err))
        st.stop()


def reload_dataset() -> None:
    _load.clear()


def mtime(path: Path) -> float:
    """A file's modification time, 0 when it is missing: the cache key of small run files."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(max_entries=500, show_spinner=False)
def _read_run(path: str, stamp: tuple[float, ...]) -> runs.RunInfo:
    return runs.read_run(Path(path))


def list_runs() -> list[runs.RunInfo]:
    """Every run in the runs folder, re-read only when one of its small files changed."""
    infos = []
    for folder in runs.run_folders(runs_root()):
        paths = runs.files(folder)
        info = _read_run(str(folder), (mtime(paths.status), mtime(paths.metrics),
                                       mtime(paths.config), mtime(paths.cancel)))
        if not info.status.ended:  # a crash, or a job lost, is known only to its backend
            tasks.refresh(folder)
            info = runs.read_run(folder)
        infos.append(info)
    return infos


@st.cache_data(max_entries=64, show_spinner=False)
def _read_history(path: str, stamp: float) -> pd.DataFrame:
    return runs.read_history(Path(path))


def history(run_dir: Path) -> pd.DataFrame:
    """A run's history.csv, re-read only when the job appended an epoch (its mtime changed)."""
    return _read_history(str(run_dir), mtime(runs.files(run_dir).history))


def keep_valid(key: str, options: Sequence[Any]) -> None:
    """Forget a widget's remembered value that is no longer an option (a run was deleted):
    Streamlit raises when a widget's session value is not among its options."""
    value = st.session_state.get(key)
    if isinstance(value, list):
        st.session_state[key] = [v for v in value if v in options]
    elif key in st.session_state and value not in options:
        del st.session_state[key]


def pick_runs(label: str, infos: list[runs.RunInfo], key: str, *, default: list[str],
              detail: Callable[[runs.RunInfo], str], help: str) -> list[runs.RunInfo]:
    """A multiselect of runs, labelled '<run id> (<detail>, test accuracy 0.612)'; ``default``
    (run ids) is chosen the first time, and runs that vanished are forgotten."""
    by_id = {info.run_id: info for info in infos}
    keep_valid(key, list(by_id))
    st.session_state.setdefault(key, default)

    def run_label(run_id: str) -> str:
        accuracy = ((by_id[run_id].metrics or {}).get("test") or {}).get("accuracy")
        score = ("" if accuracy is None
                 else f", test accuracy {vocabulary.text('accuracy', accuracy)}")
        name = by_id[run_id].status.display_name
        return f"{name + ' · ' if name else ''}{run_id} ({detail(by_id[run_id])}{score})"

    chosen = st.multiselect(label, list(by_id), key=key, format_func=run_label, help=help)
    return [by_id[run_id] for run_id in chosen]


def show_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, *, where: Any = st,
               **kwargs: Any) -> None:
    """A table named and written for people (``vocabulary.for_people``), each column's help
    on its header."""
    shown = vocabulary.for_people(frame, columns)
    where.dataframe(shown, hide_index=True, **kwargs, column_config={
        name: st.column_config.TextColumn(help=text) for name, text in shown.attrs["help"].items()})
