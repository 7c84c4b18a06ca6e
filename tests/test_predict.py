"""Face detection and cropping, and the Predict page."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fer_core.core.emotions import EMOTIONS
from fer_core.data import faces, load_dataset
from fer_core.inference.photos import DEMO_CAVEAT, WHOLE_CAVEAT
from tests.page_support import open_page


@pytest.fixture(scope="module")
def demo_face() -> np.ndarray:
    return load_dataset(None).images[0]


def _encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt)
    return buffer.getvalue()


# --- faces ---------------------------------------------------------------------------------------

def test_detect_crops_fer_sized_image_is_used_as_is(demo_face):
    crops = faces.detect(demo_face).crops

    assert len(crops) == 1
    np.testing.assert_array_equal(crops[0], demo_face)


def test_detect_crops_small_colour_image_becomes_48x48_grey():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, size=(60, 50, 3), dtype=np.uint8)

    crops = faces.detect(Image.fromarray(colour)).crops

    assert len(crops) == 1
    assert crops[0].shape == (48, 48) and crops[0].dtype == np.uint8


def test_detect_crops_blank_photo_returns_nothing():
    assert faces.detect(np.zeros((400, 400), dtype=np.uint8)).crops == []
    assert faces.detect(Image.new("RGB", (400, 400), "white")).method == "blank"


def test_detect_without_a_detector_uses_the_centre_square(monkeypatch):
    monkeypatch.setattr(faces, "_cascade", lambda: None)
    photo = np.tile((np.arange(300) % 256).astype(np.uint8)[None, :], (200, 1))

    result = faces.detect(photo)

    assert result.method == "whole"
    assert result.boxes == [faces.FaceBox(50, 0, 200, 200)]
    assert result.crops[0].shape == (48, 48)
    with pytest.raises(faces.FaceError, match="Haar cascade"):
        faces.find_faces(photo)


@pytest.mark.skipif(not faces.detector_available(),
                    reason="this OpenCV ships no Haar cascade (opencv-python-headless 5.x)")
def test_detect_photo_without_face_finds_none_or_falls_back_on_request():
    gradient = np.tile(np.linspace(0, 255, 400).astype(np.uint8)[None, :], (300, 1))

    assert faces.detect(gradient).crops == []
    assert faces.detect(gradient, whole_if_none=True).method == "whole"


@pytest.mark.skipif(not faces.detector_available(),
                    reason="this OpenCV ships no Haar cascade (opencv-python-headless 5.x)")
def test_find_faces_real_fer_face_padded_into_a_photo_is_found(real_fer2013):
    """Haar fires on most real FER-2013 faces once they are a photo-sized part of a photo."""
    paths = sorted((real_fer2013 / "test" / "angry").glob("*"))[:20]
    left, top, side = 220, 120, 192
    found = 0
    for path in paths:
        face = Image.open(path).convert("L").resize((side, side), Image.Resampling.BICUBIC)
        photo = Image.new("L", (640, 480), 110)
        photo.paste(face, (left, top))
        boxes = faces.find_faces(photo)
        if boxes:
            box = boxes[0]
            centre = (box.x + box.w / 2, box.y + box.h / 2)
            assert left <= centre[0] <= left + side and top <= centre[1] <= top + side
            crops = faces.detect(photo).crops
            assert crops[0].shape == (48, 48) and crops[0].dtype == np.uint8
            found += 1
    assert found >= len(paths) // 3


def test_crop_face_box_at_the_edge_is_clipped_to_the_photo():
    grey = np.full((100, 120), 90, dtype=np.uint8)

    crop = faces.crop_face(grey, faces.FaceBox(100, 80, 20, 20), margin=0.5)

    assert crop.shape == (48, 48)


def test_load_photo_bytes_that_are_not_an_image_raise_a_clear_error():
    with pytest.raises(faces.FaceError, match="notes.png is not an image"):
        faces.load_photo(b"these are notes", name="notes.png")
    with pytest.raises(faces.FaceError, match="empty"):
        faces.load_photo(b"")


def test_load_photo_applies_the_exif_rotation():
    image = Image.new("L", (80, 40), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)

    assert faces.load_photo(buffer.getvalue()).shape == (80, 40)


def test_to_grey_rgba_transparent_areas_become_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # fully transparent black

    assert faces.to_grey(Image.fromarray(rgba, mode="RGBA")).min() == 255


def test_draw_boxes_returns_an_rgb_photo():
    drawn = faces.draw_boxes(np.zeros((100, 100), np.uint8), [faces.FaceBox(10, 10, 50, 50)])

    assert drawn.shape == (100, 100, 3)
    assert drawn[10, 30].tolist() != [0, 0, 0]


# --- the page ------------------------------------------------------------------------------------

@pytest.fixture
def runs_root(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    return root


def _app(runs_root: Path, **state) -> AppTest:
    return open_page("predict", runs_root, **state)


def _probability_charts(at: AppTest) -> list[dict]:
    specs = [json.loads(node.proto.spec) for node in at.get("vega_lite_chart")]
    return [s for s in specs if s.get("usermeta", {}).get("fer_chart") == "probabilities"]


def _top_emotions(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("Face ")]


def test_predict_page_upload_shows_probabilities_and_top_emotion(runs_root, demo_face):
    at = _app(runs_root).run()
    assert not at.exception

    at.file_uploader(key="predict.upload").set_value(("face.png", _encode(demo_face),
                                                      "image/png"))
    at.run()

    assert not at.exception
    assert len(_probability_charts(at)) == 1
    [text] = _top_emotions(at)
    assert any(f"**{name}**" in text for name in EMOTIONS)
    assert [c for c in at.caption if DEMO_CAVEAT in c.value]  # beside the demo run's label


def test_predict_page_upload_that_is_not_an_image_shows_an_error(runs_root, demo_face):
    at = _app(runs_root).run()

    at.file_uploader(key="predict.upload").set_value([
        ("broken.png", b"definitely not a png", "image/png"),
        ("face.png", _encode(demo_face), "image/png"),
    ])
    at.run()

    assert not at.exception
    assert "broken.png is not an image" in at.error[0].value
    assert len(_probability_charts(at)) == 1  # the good photo is still classified


def test_predict_page_blank_photo_says_there_is_no_face(runs_root):
    at = _app(runs_root).run()

    at.file_uploader(key="predict.upload").set_value(
        ("blank.png", _encode(np.zeros((400, 400), np.uint8)), "image/png"))
    at.run()

    assert not at.exception
    assert any("no face" in w.value for w in at.warning)
    assert not _probability_charts(at)


def test_predict_page_whole_photo_without_a_face_says_so_beside_the_label(runs_root):
    at = _app(runs_root).run()
    at.toggle(key="predict.whole").set_value(True)
    cup = np.tile(np.linspace(40, 220, 300, dtype=np.uint8), (300, 1))  # no face in it
    at.file_uploader(key="predict.upload").set_value(("cup.png", _encode(cup), "image/png"))
    at.run()

    assert not at.exception
    assert [w for w in at.warning if w.value == f"cup.png: {WHOLE_CAVEAT}."]
    assert len(_probability_charts(at)) == 1  # classified all the same, as asked


def test_predict_page_camera_photo_takes_the_upload_path(runs_root, demo_face):
    at = _app(runs_root).run()
    at.toggle(key="predict.use_camera").set_value(True).run()

    at.camera_input(key="predict.camera").set_value(("shot.jpg", _encode(demo_face, "JPEG"),
                                                     "image/jpeg"))
    at.run()

    assert not at.exception
    assert len(_probability_charts(at)) == 1


def test_predict_page_ensemble_of_two_runs_averages(runs_root, demo_run, demo_face):
    second = shutil.copytree(runs_root / demo_run.name, runs_root / "20260102-000000-copy")
    at = _app(runs_root, **{"predict.runs": [demo_run.name, second.name]}).run()

    at.file_uploader(key="predict.upload").set_value(("face.png", _encode(demo_face),
                                                      "image/png"))
    at.run()

    assert not at.exception
    assert len(_probability_charts(at)) == 1


def test_predict_page_ensemble_with_different_classes_is_refused(runs_root, demo_run,
                                                                 demo_face):
    second = Path(shutil.copytree(runs_root / demo_run.name,
                                  runs_root / "20260102-000000-six"))
    record = json.loads((second / "config.json").read_text())
    record["data"]["classes"] = record["data"]["classes"][:-1]
    (second / "config.json").write_text(json.dumps(record))
    at = _app(runs_root, **{"predict.runs": [demo_run.name, second.name]}).run()

    at.file_uploader(key="predict.upload").set_value(("face.png", _encode(demo_face),
                                                      "image/png"))
    at.run()

    assert not at.exception
    assert "must share their classes" in at.error[0].value


def test_predict_page_without_finished_runs_says_so(tmp_path):
    at = _app(tmp_path / "empty").run()

    assert not at.exception
    assert "No finished run" in at.info[0].value
