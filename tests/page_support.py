"""One way to open a page of the app in ``streamlit.testing.v1.AppTest``: on a runs folder
of the test's own, on a data set (``None``: the demo), with session state and a query string
set before the first run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from fer_core.data import DataRef

ROOT = Path(__file__).resolve().parents[1]


def open_page(page: str, runs_root: Path, *, data_path: str | None = None,
              timeout: float = 60, query: dict[str, str | list[str]] | None = None,
              **state: Any) -> AppTest:
    """``page`` (``results`` or ``results.py``, under ``app_pages/``), not yet run."""
    at = AppTest.from_file(str(ROOT / "app_pages" / f"{Path(page).stem}.py"),
                           default_timeout=timeout)
    at.session_state["app.runs_dir"] = str(runs_root)
    at.session_state["app.data"] = DataRef.parse(data_path) if data_path else DataRef()
    for key, value in state.items():
        at.session_state[key] = value
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at
