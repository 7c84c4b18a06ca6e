"""``python -m fer_core predict`` finds faces as the Predict page does
(``fer_core.inference.photos``): one line per face with its box, "no face found" for a photo
without one, ``--whole``, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.cli import main
from fer_core.data import faces
from fer_core.inference.evaluation import predict_images
from fer_core.inference.photos import DEMO_CAVEAT, WHOLE_CAVEAT

pytestmark = pytest.mark.slow
needs_detector = pytest.mark.skipif(not faces.detector_available(),
                                    reason="this OpenCV ships no Haar cascade")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 640x480 photo with two demo faces enlarged side by side, and a photo of no face."""
    from fer_core.data.demo import demo_dataset_dir

    folder = tmp_path_factory.mktemp("photos")
    happy = sorted((demo_dataset_dir() / "test" / "happy").glob("*.png"))
    photo = Image.new("L", (640, 480), 110)
    for path, left in ((happy[0], 20), (happy[2], 400)):
        photo.paste(Image.open(path).convert("L").resize((192, 192), Image.Resampling.BICUBIC),
                    (left, 120))
    photo.convert("RGB").save(folder / "two.jpg", quality=95)
    gradient = np.tile(np.linspace(0, 255, 400).astype(np.uint8)[None, :], (300, 1))
    Image.fromarray(gradient).save(folder / "cup.png")
    return {"two": folder / "two.jpg", "cup": folder / "cup.png"}


@needs_detector
def test_predict_prints_one_line_per_face_with_its_box_as_the_app(demo_run, photos, capsys):
    assert main(["predict", str(demo_run), str(photos["two"]), str(photos["cup"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = faces.detect(faces.load_photo(photos["two"].read_bytes()))
    classes, proba = predict_images([demo_run], np.stack(found.crops))
    assert len(found.boxes) == 2 and len(lines) == 3
    for number, (box, p) in enumerate(zip(found.boxes, proba, strict=True), start=1):
        assert lines[number - 1].startswith(
            f"{photos['two']}: face {number} at x={box.x} y={box.y} w={box.w} h={box.h}: "
            f"{classes[int(p.argmax())]}  ")
    assert lines[2] == f"no face found: {photos['cup']}"
    assert all(line.endswith(f"  ({DEMO_CAVEAT})") for line in lines[:2])  # a demo-trained run


@needs_detector
def test_predict_json_lists_faces_and_whole_uses_the_centre_square(demo_run, photos, capsys):
    assert main(["predict", str(demo_run), str(photos["two"]), str(photos["cup"]), "--json"]) == 0
    two, cup = json.loads(capsys.readouterr().out)
    assert two["file"] == str(photos["two"]) and len(two["faces"]) == 2
    assert set(two["faces"][0]) == {"box", "label", "probabilities"}
    assert two["faces"][0]["label"] == max(two["faces"][0]["probabilities"],
                                           key=two["faces"][0]["probabilities"].get)
    assert cup == {"file": str(photos["cup"]), "faces": [], "caveats": [DEMO_CAVEAT]}
    assert main(["predict", str(demo_run), str(photos["cup"]), "--whole", "--json"]) == 0
    (whole,) = json.loads(capsys.readouterr().out)
    assert whole["faces"][0]["box"] == [50, 0, 300, 300]
    assert whole["caveats"] == [WHOLE_CAVEAT, DEMO_CAVEAT]  # no face: the whole photo, said


def test_predict_file_that_is_not_an_image_is_a_one_line_error(demo_run, tmp_path, capsys):
    notes = tmp_path / "notes.png"
    notes.write_text("not a photo")
    assert main(["predict", str(demo_run), str(notes)]) == 2
    assert "is not an image" in capsys.readouterr().err
