"""What a read-only viewer (``FER_READ_ONLY``) sees instead of the controls that change things:
the engine refuses those anyway (``fer_core.core.access``); this spares the viewer the errors."""

from __future__ import annotations

import streamlit as st

from fer_core.core import settings

NOTE = ("**Read-only view.** Runs and results can be browsed and shared; launching, "
        "cancelling, importing and changing data are switched off here.")


def is_viewer() -> bool:
    """Whether this app was started as a viewer; only the environment can say so."""
    return settings.read_only()


def render_note(where=st) -> None:
    """The small "read-only view" note, in the sidebar or on a page."""
    where.info(NOTE, icon=":material/visibility:")
