"""The Results page's Export tab (``ui/export_tab.py``, ``views/export.py``), with AppTest."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fer_core import tasks
from fer_core.data import DataRef
from fer_core.export import zip_export
from fer_core.runs import task_folders
from views import export as view

PAGE = Path(__file__).resolve().parents[1] / "app_pages" / "results.py"


def test_verdict_names_the_formats_that_missed():
    entries = [{"format": "onnx", "target_met": True, "images": 700, "misses": []},
               {"format": "tflite-int8", "target_met": False, "images": 700,
                "misses": ["top-1 agreement 98.00% < 99%"]}]
    ok, sentence = view.verdict(entries)
    assert not ok and "tflite-int8" in sentence and "onnx" not in sentence
    assert view.verdict(entries[:1])[0]


@pytest.mark.slow
def test_export_tab_exports_onnx_and_shows_the_targets(mixed_run, tmp_path):
    root = tmp_path / "runs"
    run = Path(shutil.copytree(mixed_run, root / mixed_run.name))
    at = AppTest.from_file(str(PAGE), default_timeout=300)
    at.session_state["app.runs_dir"] = str(root)
    at.session_state["app.data"] = DataRef()
    at.run()
    assert not at.exception
    assert any("Not exported yet" in info.value for info in at.info)

    at.selectbox(key="results.export_format").set_value("onnx")
    at.button(key="results.export_run").click().run()
    assert not at.exception
    task = task_folders.latest("export", run.name, runs_root=root)
    assert task is not None  # converted as a job, in its own process
    assert tasks.wait(task, timeout=300) == "succeeded"
    at.run()

    assert not at.exception
    (frame,) = [df.value for df in at.dataframe if "Target" in df.value.columns]
    assert frame["Format"].tolist() == ["onnx"]
    assert frame["Target"].tolist() == ["met"]
    assert any("Every export agrees" in s.value for s in at.success)
    names = zipfile.ZipFile(io.BytesIO(zip_export(run / "export"))).namelist()
    assert {"export/model.onnx", "export/export.json", "export/labels.txt",
            "export/preprocessing.json", "export/predict_onnx.py",
            "export/MODEL_CARD.md"} <= set(names)
