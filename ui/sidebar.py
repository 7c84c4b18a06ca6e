"""The sidebar every page shares: data source, runs folder, where jobs run, the device."""

from __future__ import annotations

import streamlit as st

from fer_core.core.device import describe_device_quick
from fer_core.core.errors import DataError
from fer_core.data import DataRef
from fer_core.data.check import check_upload
from fer_core.data.uploads import choose_data, save_upload
from ui import state, viewer

SOURCES = ("Demo data (synthetic)", "A folder or file on this machine", "Upload a .zip")
FOLDER_KEY = "sidebar.path"  # the path widget; Streamlit forgets it while it is not drawn
FOLDER_MEMORY_KEY = "app.data_folder"  # the path typed, kept while another source is chosen


def render_sidebar() -> None:
    state.init_state()
    with st.sidebar:
        if viewer.is_viewer():
            _render_viewer()
        else:
            _render_controls()
        st.caption(f"Device: **{describe_device_quick()}**")
    state.keep_data_in_address()


def _render_controls() -> None:
    st.subheader("Data")
    _render_data_source()
    if st.button("Reload data", key="sidebar.reload", help="Re-read the data folder"):
        state.reload_dataset()

    st.subheader("Runs")
    runs_dir = st.text_input("Runs folder", value=str(state.runs_root()), key="sidebar.runs_dir")
    st.session_state[state.RUNS_KEY] = runs_dir
    _render_jobs_backend()


def _render_data_source() -> None:
    """The user's choice wins: the demo is the demo even with FER_DATA_DIR set, and a folder
    path shown here is the one Explore's header names."""
    current = state.data_ref()
    st.session_state.setdefault(FOLDER_MEMORY_KEY, "" if current.is_demo else str(current))
    st.session_state.setdefault(FOLDER_KEY, st.session_state[FOLDER_MEMORY_KEY])
    choice = st.radio("Data source", SOURCES, index=0 if current.is_demo else 1,
                      key="sidebar.source", label_visibility="collapsed")
    if choice == SOURCES[0]:
        _set_data(DataRef())
    elif choice == SOURCES[1]:
        path = st.text_input(
            "Path", key=FOLDER_KEY,
            placeholder="/data/fer2013 (Kaggle folders, fer2013.csv or a .zip)",
            help="A Kaggle FER-2013 download (train/ and test/ folders of class folders), "
            "the challenge's fer2013.csv, or a .zip of either.",
        ).strip()
        st.session_state[FOLDER_MEMORY_KEY] = path
        _set_data(DataRef.parse(path) if path else DataRef())
        if not path:
            st.caption("Enter a path; until then the demo data is used.")
    else:
        upload = st.file_uploader("Kaggle FER-2013 .zip", type=["zip"], key="sidebar.zip")
        if upload is not None:
            try:
                check_upload(upload.name, upload.getvalue())
            except DataError as err:
                st.error(str(err))
                _set_data(DataRef())
            else:
                _set_data(DataRef(save_upload(upload.name, upload.getvalue())))


def _render_jobs_backend() -> None:
    st.subheader("Jobs")
    labels = {"local": "This machine", "ray": "Ray cluster"}
    current = st.session_state[state.BACKEND_KEY]
    backend = st.radio("Run jobs on", list(labels), format_func=labels.get, horizontal=True,
                       index=list(labels).index(current), key="sidebar.jobs_backend",
                       help="This machine: one job at a time. Ray cluster: each job is a Ray "
                       "job and Ray runs as many at once as it has GPUs; the runs folder "
                       "must be a path every node shares.")
    st.session_state[state.BACKEND_KEY] = backend
    if backend != "ray":
        return
    address = st.text_input("Ray address", value=st.session_state[state.RAY_ADDRESS_KEY],
                            key="sidebar.ray_address", placeholder="http://head:8265",
                            help="The Ray dashboard's address (RAY_ADDRESS), where the job "
                            "API listens.")
    st.session_state[state.RAY_ADDRESS_KEY] = address.strip()
    gpus = st.number_input("GPUs per job", min_value=0, max_value=8, step=1,
                           value=int(st.session_state[state.RAY_GPUS_KEY]), key="sidebar.ray_gpus",
                           help="1 on a GPU cluster, 0 on CPUs. A job waits until a node has "
                           "this many GPUs free.")
    st.session_state[state.RAY_GPUS_KEY] = int(gpus)
    if not address.strip():
        st.warning("Enter the Ray address to launch jobs there.")


def _set_data(data: DataRef) -> None:
    st.session_state[state.DATA_KEY] = choose_data(data, current=state.data_ref())


def _render_viewer() -> None:
    """A viewer's sidebar: what it shows, fixed by whoever started it, and nothing to change."""
    viewer.render_note()
    st.caption(f"Data: **{state.data_ref().label}**")
    st.caption(f"Runs folder: `{state.runs_root()}`")
    if st.button("Reload", key="sidebar.reload", help="Re-read the data and the runs"):
        state.reload_dataset()
