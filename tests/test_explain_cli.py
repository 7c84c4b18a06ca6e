"""``python -m fer_core explain``: overlay PNGs per face, face detection for photos, --class,
--json; and the HTML report's calibration and Grad-CAM sections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.cli import main
from fer_core.data.demo import draw_face


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    face = draw_face("happy", np.random.default_rng(11))
    crop = tmp_path / "crop.png"
    Image.fromarray(face).save(crop)
    photo = np.full((300, 400), 90, dtype=np.uint8)  # a larger picture, not a face crop
    photo[60:240, 110:290] = np.asarray(Image.fromarray(face).resize((180, 180)))
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    Image.fromarray(np.full((200, 200), 128, dtype=np.uint8)).save(tmp_path / "blank.png")
    return {"crop": crop, "photo": tmp_path / "photo.jpg", "blank": tmp_path / "blank.png"}


@pytest.mark.slow
def test_explain_writes_an_overlay_per_face_and_names_the_class(
        demo_run: Path, pictures: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    images = [str(pictures[k]) for k in ("crop", "photo", "blank")]
    assert main(["explain", str(demo_run), *images, "--out", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    by_image = {Path(r["image"]).name: r for r in results}
    assert by_image["crop.png"]["method"] == "as-is"
    assert by_image["photo.jpg"]["method"] in ("detected", "whole")  # went through detection
    assert by_image["blank.png"]["overlay"] is None and by_image["blank.png"]["face"] == 0
    for name in ("crop.png", "photo.jpg"):
        written = Path(by_image[name]["overlay"])
        assert written.parent == out and by_image[name]["explained"] in written.name
        with Image.open(written) as png:
            assert png.mode == "RGB" and png.size == (144, 144)
        assert by_image[name]["explained"] == by_image[name]["predicted"]

    assert main(["explain", str(demo_run), str(pictures["crop"]), "--out", str(out),
                 "--class", "Sad"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{pictures['crop']} face 1: sad (") and line.endswith(".png")
    assert main(["explain", str(demo_run), str(pictures["crop"]), "--out", str(out),
                 "--class", "bored"]) == 2
    assert "--class must be one of the run's classes" in capsys.readouterr().err


@pytest.mark.slow
def test_report_shows_calibration_and_a_gradcam_gallery(demo_run: Path) -> None:
    from fer_core.data import load_dataset
    from fer_core.reports import blocks, report

    ds = load_dataset(None)
    images = dict(zip(ds.index["id"].astype(str), ds.images, strict=True))
    page = report.build_report([demo_run], images, fingerprint=ds.fingerprint)
    assert "<h3>Calibration (temperature " in page and "Reliability (test)" in page
    assert page.count('alt="Grad-CAM of ') == blocks.GALLERY_SIZE
