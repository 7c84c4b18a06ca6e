"""Hostile and odd input the rest of the suite does not already cover: huge images, wrong-layout
zips, fuzzed CSVs, models that carry code, and no unpickling or eval of user files anywhere."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fer_core.core.errors import DataError, ModelError
from fer_core.data import load_dataset
from fer_core.data.loading import parse_pixels
from tests.conftest import make_kaggle_tree, write_image

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture],
                max_examples=60)


def test_load_dataset_6000x6000_photo_is_resized_not_refused(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 1, "sad": 1})
    big = Image.new("L", (6000, 6000), 90)
    big.paste(200, (2000, 2000, 4000, 4000))
    big.save(root / "train" / "happy" / "huge.jpg", quality=70)
    ds = load_dataset(root)
    row = ds.index["id"].tolist().index("train/happy/huge.jpg")
    assert ds.report.resized == 1
    assert ds.images[row][24, 24] > 150 and ds.images[row][2, 2] < 120  # the picture survived


def test_load_dataset_zip_of_wrong_layout_explains_the_expected_one(tmp_path, fresh_cache):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("holiday/beach.txt", "not a data set")
        zf.writestr("work/notes.txt", "still not")
    with pytest.raises(DataError, match="No data set found.*Expected a folder laid out like"):
        load_dataset(archive)


def test_load_dataset_mixed_case_synonyms_across_splits_map_to_one_class(tmp_path, fresh_cache):
    write_image(tmp_path / "d" / "TRAIN" / "Happiness" / "a.png", 1)
    write_image(tmp_path / "d" / "train" / "happy" / "b.png", 2)
    write_image(tmp_path / "d" / "Test" / "HAPPY" / "c.png", 3)
    write_image(tmp_path / "d" / "Test" / "Sadness" / "e.png", 4)
    ds = load_dataset(tmp_path / "d")
    assert ds.classes == ("happy", "sad")
    assert ds.counts().loc["happy"].to_dict() == {"train": 2, "test": 1}


@FUZZ
@given(st.text(alphabet="0123456789 -.,ax\t", max_size=60))
def test_parse_pixels_fuzzed_cell_gives_an_image_or_a_value_error(text):
    try:
        image = parse_pixels(text)
    except ValueError as err:
        assert "pixels must" in str(err)
    else:
        assert image.shape == (48, 48) and image.dtype == np.uint8


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["0", "3", "6", "9", "x", ""]),
                          st.sampled_from(["ok", "short", "text", "big", ""]),
                          st.sampled_from(["Training", "PublicTest", "PrivateTest", "Other"])),
                min_size=1, max_size=6))
def test_load_dataset_fuzzed_csv_loads_good_rows_and_reports_the_rest(tmp_path_factory, rows):
    pixels = {"ok": " ".join(["128"] * 2304), "short": "1 2 3", "text": "a b c",
              "big": " ".join(["999"] * 2304), "": ""}
    folder = tmp_path_factory.mktemp("csv")
    lines = ["emotion,pixels,Usage"] + [f"{e},{pixels[p]},{u}" for e, p, u in rows]
    (folder / "fer2013.csv").write_text("\n".join(lines) + "\n")
    good = sum(e in ("0", "3", "6") and p == "ok" for e, p, _ in rows)
    if good == 0:
        with pytest.raises(DataError):
            load_dataset(folder / "fer2013.csv", use_cache=False)
        return
    ds = load_dataset(folder / "fer2013.csv", use_cache=False)
    assert len(ds) == good and len(ds.report.skipped) == len(rows) - good


@pytest.mark.slow
def test_imported_run_whose_model_carries_a_lambda_layer_is_refused(tmp_path, demo_run):
    import keras

    from fer_core.inference.evaluation import load_run_model
    from fer_core.runs.archive import export_run_zip, import_run_zip

    inputs = keras.Input((48, 48, 1))
    outputs = keras.layers.Lambda(lambda x: x * 0 + 1)(keras.layers.Flatten()(inputs))
    hostile = shutil.copytree(demo_run, tmp_path / "hostile")
    keras.Model(inputs, outputs).save(hostile / "model.keras")
    imported = import_run_zip(export_run_zip(hostile), tmp_path / "runs")
    with pytest.raises(ModelError):
        load_run_model(imported)


def test_engine_never_unpickles_or_evaluates_user_files():
    pattern = re.compile(
        r"\bpickle\b|allow_pickle\s*=\s*True|\beval\(|\bexec\(|safe_mode\s*=\s*False"
    )
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for folder in ("fer_core", "app_pages", "ui")
        for path in (REPO / folder).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
