"""Engine and views apart: fer_core runs without the app, and views/ computes without Streamlit.

``fer_core`` (the engine: data, training, runs, jobs) must import no Streamlit, no Altair and
nothing of the app's ``ui`` or ``views``, so it trains from the command line, a job worker or a
notebook. ``views`` (what the pages show, as data and chart specs) must import no Streamlit, so
it is tested and reused without a browser. Imports are checked in a fresh interpreter, where
what a module pulls in transitively shows up in ``sys.modules``, and fer_core's sources are
also scanned, so an import inside a function is caught before it ever runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP_ONLY = ("streamlit", "altair", "ui", "views")
IMPORT = re.compile(rf"^\s*(?:import|from)\s+({'|'.join(APP_ONLY)})\b", re.MULTILINE)


def modules(package: str) -> list[str]:
    """Every module of a package, sub-packages included (``__main__`` would run the CLI)."""
    root = REPO / package
    return sorted(
        ".".join((package, *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__")
        for path in root.rglob("*.py") if path.stem != "__main__"
    )


def loaded_after_importing(names: list[str]) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``names`` in a fresh process."""
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().splitlines()[-1].split())


def test_fer_core_modules_load_no_app_package() -> None:
    names = modules("fer_core")
    assert "fer_core.training.models" in names and "fer_core.runs" in names  # rglob found all
    assert not loaded_after_importing(names) & set(APP_ONLY)


def test_fer_core_sources_import_no_app_package() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(0).strip()}"
        for path in sorted((REPO / "fer_core").rglob("*.py"))
        for match in IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders


def test_views_modules_load_no_streamlit() -> None:
    names = modules("views")
    assert "views.forms" in names and "views.explore" in names
    assert "streamlit" not in loaded_after_importing(names)
