"""Explanations and calibration in the app: Results' Calibration tab and Grad-CAM gallery,
and Predict's Grad-CAM beside each face and its calibration switch."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.page_support import open_page


@pytest.fixture
def runs_root(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    return root


def _app(page: str, runs_root: Path, **state) -> AppTest:
    return open_page(page, runs_root, timeout=90, **state)


def _chart_names(at: AppTest) -> list[str]:
    specs = [json.loads(node.proto.spec) for node in at.get("vega_lite_chart")]
    return [spec.get("usermeta", {}).get("fer_chart") for spec in specs]


@pytest.mark.slow
def test_results_calibration_tab_and_gradcam_gallery(runs_root: Path) -> None:
    at = _app("results.py", runs_root, **{"results.g_count": 8}).run()
    assert not at.exception
    assert _chart_names(at).count("reliability") == 2  # validation and test
    scores = next(f.value for f in at.dataframe if "ECE" in f.value.columns)
    assert set(scores["Version"]) == {"uncalibrated", "calibrated"}
    assert any("Temperature" in c.value for c in at.caption)
    plain = [img.value[0] for img in at.get("image")]

    at.toggle(key="results.g_cam").set_value(True).run()
    assert not at.exception
    explained = [img.value[0] for img in at.get("image")]
    assert len(explained) == len(plain) == 8 and explained != plain  # the overlays replace


def _encode(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_predict_gradcam_beside_each_face_and_calibration_switch(runs_root: Path) -> None:
    from fer_core import runs
    from fer_core.core import atomic
    from fer_core.data.demo import draw_face

    # A clear temperature: the fitted one of a weak one-epoch model can move a 23% confidence
    # by less than the half point the page rounds away. Fitting is tested on its own.
    [run_dir] = runs_root.iterdir()
    record = runs.read_json(runs.files(run_dir).calibration) or {}
    atomic.write_json(runs.files(run_dir).calibration, {**record, "temperature": 0.5})

    face = _encode(draw_face("surprise", np.random.default_rng(4)))
    at = _app("predict.py", runs_root, **{"predict.gradcam": True}).run()
    at.file_uploader(key="predict.upload").set_value(("face.png", face, "image/png"))
    at.run()
    assert not at.exception
    captions = [c for img in at.get("image") for c in img.captions]
    assert "face 1: Grad-CAM" in captions

    def top() -> tuple[str, int]:
        [text] = [m.value for m in at.markdown if m.value.startswith("Face 1:")]
        found = re.search(r"\*\*(\w+)\*\* \((\d+)%\)", text)
        return found.group(1), int(found.group(2))

    calibrated = top()
    at.toggle(key="predict.calibrated").set_value(False)
    at.file_uploader(key="predict.upload").set_value(("face.png", face, "image/png"))
    at.run()
    raw = top()
    assert raw[0] == calibrated[0]  # the same class either way
    assert raw[1] != calibrated[1]  # the temperature moved the confidence
