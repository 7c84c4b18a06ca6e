"""The engine stays usable without the app: no module of fer_core imports Streamlit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_fer_core_modules_never_import_streamlit():
    modules = sorted(".".join(p.relative_to(REPO / "fer_core").with_suffix("").parts) for p in (REPO / "fer_core").rglob("*.py")
                     if p.stem not in ("__init__", "__main__"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('fer_core.' + name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
