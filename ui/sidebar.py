"""The sidebar every page shares: data source, runs folder and the device badge."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from fer_core import atomic, settings
from fer_core.device import describe_device_quick
from ui import state

SOURCES = ("Demo data (synthetic)", "A folder or file on this machine", "Upload a .zip")


def render_sidebar() -> None:
    state.init_state()
    with st.sidebar:
        st.subheader("Data")
        current = state.data_path()
        index = 0 if current is None else 1
        choice = st.radio("Data source", SOURCES, index=index, key="sidebar.source",
                          label_visibility="collapsed")
        if choice == SOURCES[0]:
            _set_data(None)
        elif choice == SOURCES[1]:
            path = st.text_input(
                "Path", value=current or "", key="sidebar.path",
                placeholder="/data/fer2013 (Kaggle folders, fer2013.csv or a .zip)",
                help="A Kaggle FER-2013 download (train/ and test/ folders of class folders), "
                "the challenge's fer2013.csv, or a .zip of either.",
            )
            if path.strip():
                _set_data(path.strip())
        else:
            upload = st.file_uploader("Kaggle FER-2013 .zip", type=["zip"], key="sidebar.zip")
            if upload is not None:
                _set_data(str(_save_upload(upload.name, upload.getvalue())))
        if st.button("Reload data", key="sidebar.reload", help="Re-read the data folder"):
            state.reload_dataset()

        st.subheader("Runs")
        runs_dir = st.text_input("Runs folder", value=str(state.runs_root()),
                                 key="sidebar.runs_dir")
        st.session_state[state.RUNS_KEY] = runs_dir
        st.caption(f"Device: **{describe_device_quick()}**")


def _set_data(path: str | None) -> None:
    st.session_state[state.DATA_KEY] = path


def _save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded zip in the cache; its name can never point outside that folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "upload.zip"
    target = settings.cache_dir() / "uploads" / safe
    if not target.exists() or target.stat().st_size != len(data):
        atomic.write_bytes(target, data)
    return target
