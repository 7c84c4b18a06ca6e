"""Explore's Map tab: the data set as a trained model sees it, before anyone opens Results.

A map needs a model's features, so it borrows a finished run of this data set (the newest with
a map, else the newest): the same tab as Results' Map, with the data audit's duplicates and
train/test copies marked when the audit has run (Image quality)."""

from __future__ import annotations

import streamlit as st

from fer_core import runs
from fer_core.data import Dataset, audit_cache
from fer_core.runs import features as store
from ui import feature_map, state
from views import feature_map as map_view
from views.gallery import trained_on

KEY = "explore.map"


def runs_of(ds: Dataset) -> list[runs.RunInfo]:
    """Finished runs of this data set with a model, those with a map of it first."""
    found = [info for info in state.list_runs()
             if not info.problem and info.state == "succeeded"
             and trained_on(info.data, ds.fingerprint) and runs.files(info.path).model.is_file()]
    mapped = [info for info in found
              if (store.read_meta(info.path) or {}).get("data_fingerprint") == ds.fingerprint]
    return mapped + [info for info in found if info not in mapped]


def render(ds: Dataset) -> None:
    found = runs_of(ds)
    if not found:
        st.info("The map places every face where a trained model sees it, so it needs a "
                "finished run of this data set: train one first (Train page; the fast-cpu "
                "preset takes minutes), then come back here.", icon=":material/scatter_plot:")
        return
    ids = [info.run_id for info in found]
    state.keep_valid(f"{KEY}.run", ids)
    chosen = st.selectbox("As seen by run", ids, key=f"{KEY}.run",
                          help="Runs of this data set, those with a map first.")
    marks = None
    if audit_cache.is_cached(ds):
        report = audit_cache.load(ds)
        if report is not None:
            marks = map_view.audit_marks(report.exact_duplicate_groups,
                                         report.near_duplicate_pairs, report.leakage_pairs)
    else:
        st.caption("Open Image quality once to have duplicates and train/test copies marked.")
    feature_map.render(found[ids.index(chosen)], ds, key=KEY, marks=marks)
