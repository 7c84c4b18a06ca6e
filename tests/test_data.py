"""The data layer: every source kind, every bad input, the cache, and the data operations."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_core.core.errors import DataError
from fer_core.data import (
    drop_classes,
    imbalance_callout,
    load_dataset,
    merge_classes,
    split_validation,
    subsample_per_class,
    summarize,
)
from fer_core.data.loading import parse_pixels
from tests.conftest import face_like, make_kaggle_tree, write_image

FER_TRAIN = {
    "angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215,
    "neutral": 4965, "sad": 4830, "surprise": 3171,
}
FER_TEST = {
    "angry": 467, "disgust": 56, "fear": 496, "happy": 895,
    "neutral": 607, "sad": 653, "surprise": 415,
}


# --- sources -------------------------------------------------------------------------------------

def test_load_dataset_kaggle_folders_indexes_every_split_and_class(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"angry": 3, "happy": 4, "sad": 2})
    ds = load_dataset(root)
    assert ds.images.shape == (18, 48, 48) and ds.images.dtype == np.uint8
    assert ds.classes == ("angry", "happy", "sad")
    assert ds.counts().loc["happy", "train"] == 4
    assert set(ds.index["split"]) == {"train", "test"}
    assert ds.index["id"].is_unique
    assert ds.labels.tolist()[:3] == [0, 0, 0]


def test_load_dataset_validation_folder_and_synonyms_are_recognised(tmp_path, fresh_cache):
    root = tmp_path / "fer"
    write_image(root / "Training" / "Happiness" / "a.png", 1)
    write_image(root / "Training" / "SADNESS" / "b.png", 2)
    write_image(root / "validation" / "surprised" / "c.png", 3)
    write_image(root / "test" / "Fearful" / "d.png", 4)
    ds = load_dataset(root)
    assert dict(zip(ds.index["id"], ds.index["label"], strict=True)) == {
        "Training/Happiness/a.png": "happy",
        "Training/SADNESS/b.png": "sad",
        "validation/surprised/c.png": "surprise",
        "test/Fearful/d.png": "fear",
    }
    assert set(ds.index["split"]) == {"train", "val", "test"}


def test_load_dataset_root_of_class_folders_is_all_train(tmp_path, fresh_cache):
    root = tmp_path / "faces"
    write_image(root / "angry" / "a.png", 1)
    write_image(root / "happy" / "b.png", 2)
    ds = load_dataset(root)
    assert list(ds.index["split"]) == ["train", "train"]


def test_load_dataset_wrapper_folders_are_descended(tmp_path, fresh_cache):
    make_kaggle_tree(tmp_path / "archive" / "fer2013", {"angry": 1, "happy": 1})
    assert len(load_dataset(tmp_path / "archive")) == 4


def _csv_text(rows: list[tuple[str, str, str]]) -> str:
    lines = ["emotion,pixels,Usage"] + [f"{e},{p},{u}" for e, p, u in rows]
    return "\n".join(lines) + "\n"


def _pixels(seed: int) -> str:
    return " ".join(str(v) for v in face_like(seed).ravel())


def test_load_dataset_csv_maps_codes_by_name_and_usage_to_splits(tmp_path, fresh_cache):
    csv = tmp_path / "fer2013.csv"
    csv.write_text(
        _csv_text(
            [
                ("0", _pixels(1), "Training"),  # Angry
                ("4", _pixels(2), "Training"),  # Sad (4 in the CSV, 5 in our order)
                ("6", _pixels(3), "PublicTest"),  # Neutral
                ("3", _pixels(4), "PrivateTest"),  # Happy
            ]
        )
    )
    ds = load_dataset(csv)
    assert list(ds.index["label"]) == ["angry", "sad", "neutral", "happy"]
    assert list(ds.index["split"]) == ["train", "train", "test", "test"]
    assert list(ds.index["usage"]) == ["Training", "Training", "PublicTest", "PrivateTest"]
    np.testing.assert_array_equal(ds.images[0], face_like(1))


def test_load_dataset_csv_bad_rows_are_skipped_and_reported(tmp_path, fresh_cache):
    csv = tmp_path / "fer2013.csv"
    short = " ".join(["1"] * 2300)
    csv.write_text(
        _csv_text(
            [
                ("3", _pixels(1), "Training"),
                ("3", short, "Training"),
                ("2", "a b c", "Training"),
                ("9", _pixels(2), "Training"),
                ("5", " ".join(["300"] * 2304), "Training"),
            ]
        )
    )
    ds = load_dataset(csv)
    assert len(ds) == 1
    reasons = dict(ds.report.skipped)
    assert "got 2300" in reasons["fer2013.csv:3"]
    assert "2304 numbers" in reasons["fer2013.csv:4"]
    assert "code 0-6" in reasons["fer2013.csv:5"]
    assert "between 0 and 255" in reasons["fer2013.csv:6"]


def test_load_dataset_csv_missing_columns_is_a_clear_error(tmp_path, fresh_cache):
    csv = tmp_path / "fer2013.csv"
    csv.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="missing emotion, pixels"):
        load_dataset(csv)


def test_parse_pixels_right_length_gives_48x48():
    assert parse_pixels(" ".join(["7"] * 2304)).shape == (48, 48)


def test_load_dataset_zip_of_folders_is_extracted_into_cache(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"angry": 2, "happy": 2})
    archive = tmp_path / "fer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in root.rglob("*.png"):
            zf.write(file, Path("fer2013") / file.relative_to(root))
    ds = load_dataset(archive)
    assert len(ds) == 8
    assert Path(ds.location).is_relative_to(fresh_cache)


@pytest.mark.parametrize("entry", ["../evil.png", "/abs/evil.png", "train/../../evil.png"])
def test_load_dataset_zip_with_escaping_entry_is_refused(tmp_path, fresh_cache, entry):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train/happy/ok.png", _png_bytes(1))
        zf.writestr(entry, _png_bytes(2))
    with pytest.raises(DataError, match="unsafe entry"):
        load_dataset(archive)
    assert not (tmp_path / "evil.png").exists()
    assert not list(fresh_cache.rglob("evil.png"))


def test_load_dataset_zip_bomb_is_refused(tmp_path, fresh_cache):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/happy/big.png", b"\0" * (50 * 1024**2))
    with pytest.raises(DataError, match="zip bomb"):
        load_dataset(archive)


def test_load_dataset_not_a_zip_is_a_clear_error(tmp_path, fresh_cache):
    archive = tmp_path / "fake.zip"
    archive.write_text("hello")
    with pytest.raises(DataError, match="not a valid zip"):
        load_dataset(archive)


def _png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(face_like(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- bad files -----------------------------------------------------------------------------------

def test_load_dataset_bad_files_are_skipped_and_reported(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 3, "sad": 3})
    happy = root / "train" / "happy"
    (happy / "empty.jpg").write_bytes(b"")
    (happy / "text.jpg").write_text("not an image at all")
    good_jpeg = io.BytesIO()
    Image.fromarray(face_like(9)).save(good_jpeg, format="JPEG")
    (happy / "truncated.jpg").write_bytes(good_jpeg.getvalue()[:200])
    corrupt = bytearray(_png_bytes(5))
    corrupt[60:120] = b"\xff" * 60
    (happy / "corrupt.png").write_bytes(bytes(corrupt))
    (happy / "notes.txt").write_text("ignored, not an image extension")

    ds = load_dataset(root)

    skipped = dict(ds.report.skipped)
    assert set(skipped) == {
        "train/happy/empty.jpg", "train/happy/text.jpg",
        "train/happy/truncated.jpg", "train/happy/corrupt.png",
    }
    assert "not an image" in skipped["train/happy/text.jpg"]
    assert ds.report.ignored_files == ["train/happy/notes.txt"]
    assert len(ds) == 12 and ds.report.n_loaded == 12 and ds.report.n_listed == 16


def test_load_dataset_colour_and_odd_sizes_are_normalised_and_counted(tmp_path, fresh_cache):
    root = tmp_path / "fer"
    write_image(root / "train" / "happy" / "rgb.png", 1, mode="RGB")
    write_image(root / "train" / "happy" / "big.jpg", 2, size=300, mode="RGB")
    write_image(root / "train" / "sad" / "small.png", 3, size=20)
    rgba = Image.fromarray(face_like(4)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "train" / "sad" / "rgba.png")
    Image.fromarray(face_like(5).astype(np.uint16) * 257).save(root / "train" / "sad" / "16.png")
    ds = load_dataset(root)
    assert len(ds) == 5 and ds.images.shape[1:] == (48, 48)
    assert ds.report.converted_to_grey == 4  # rgb, big, rgba, 16-bit
    assert ds.report.resized == 2
    sixteen = ds.images[ds.index["id"].tolist().index("train/sad/16.png")]
    np.testing.assert_allclose(sixteen, face_like(5), atol=1)  # scaled, not clipped to white


def test_load_dataset_decompression_bomb_is_skipped(tmp_path, fresh_cache, monkeypatch):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 2, "sad": 2})
    write_image(root / "train" / "happy" / "huge.png", 1, size=400)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300 * 300)  # a smaller limit, same code path
    ds = load_dataset(root)
    assert "decompression bomb" in dict(ds.report.skipped)["train/happy/huge.png"]


def test_load_dataset_other_class_folder_becomes_a_class(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 1})
    write_image(root / "train" / "Contempt" / "x.png")
    assert load_dataset(root).classes == ("contempt", "happy")


def test_load_dataset_misspelt_class_folder_suggests_the_name(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 1})
    write_image(root / "train" / "suprise" / "x.png")
    with pytest.raises(DataError, match="'suprise' looks like a misspelling of 'surprise'"):
        load_dataset(root)


def test_load_dataset_empty_class_folder_is_reported(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 1, "sad": 1})
    (root / "train" / "fear").mkdir()
    ds = load_dataset(root)
    assert ds.report.empty_class_folders == ["train/fear"]
    assert "fear" not in ds.classes


@pytest.mark.parametrize("make", ["empty_dir", "missing", "only_text"])
def test_load_dataset_no_data_is_a_clear_error(tmp_path, fresh_cache, make):
    target = tmp_path / "data"
    if make != "missing":
        target.mkdir()
    if make == "only_text":
        (target / "train" / "happy").mkdir(parents=True)
        (target / "train" / "happy" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="Expected a folder laid out like the Kaggle"):
        load_dataset(target)


def test_load_dataset_symlink_outside_data_folder_is_not_followed(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 2, "sad": 2})
    secret = write_image(tmp_path / "elsewhere" / "secret.png", 7)
    os.symlink(secret, root / "train" / "happy" / "link.png")
    ds = load_dataset(root)
    assert "train/happy/link.png" not in set(ds.index["id"])
    assert ds.report.outside_links == ["train/happy/link.png"]


# --- cache ---------------------------------------------------------------------------------------

def test_load_dataset_second_load_comes_from_cache(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 2, "sad": 2})
    first = load_dataset(root)
    second = load_dataset(root)
    assert not first.report.from_cache and second.report.from_cache
    np.testing.assert_array_equal(first.images, second.images)
    pd.testing.assert_frame_equal(first.index, second.index)


def test_load_dataset_changed_file_invalidates_cache(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 2, "sad": 2})
    first = load_dataset(root)
    write_image(root / "train" / "happy" / "000.png", 99)
    os.utime(root / "train" / "happy" / "000.png", ns=(1, 1))
    second = load_dataset(root)
    assert not second.report.from_cache
    assert first.fingerprint != second.fingerprint
    row = second.index["id"].tolist().index("train/happy/000.png")
    np.testing.assert_array_equal(second.images[row], face_like(99))


def test_load_dataset_damaged_cache_is_rebuilt(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 2, "sad": 2})
    load_dataset(root)
    (cache_file,) = (fresh_cache / "arrays").glob("*.npz")
    cache_file.write_bytes(b"garbage")
    ds = load_dataset(root)
    assert not ds.report.from_cache and len(ds) == 8


# --- data operations -----------------------------------------------------------------------------

@pytest.fixture
def unbalanced(tmp_path, fresh_cache):
    root = make_kaggle_tree(
        tmp_path / "fer", {"angry": 20, "disgust": 5, "happy": 40}, splits=("train",)
    )
    return load_dataset(root)


def test_split_validation_is_stratified_seeded_and_keeps_train_rest(unbalanced):
    split = split_validation(unbalanced, fraction=0.2, seed=3)
    val = split.split("val").index["label"].value_counts().to_dict()
    assert val == {"happy": 8, "angry": 4, "disgust": 1}
    assert len(split.split("train")) == 52
    again = split_validation(unbalanced, fraction=0.2, seed=3)
    assert list(again.index["split"]) == list(split.index["split"])
    other = split_validation(unbalanced, fraction=0.2, seed=4)
    assert list(other.index["split"]) != list(split.index["split"])
    assert unbalanced.index["split"].eq("train").all()  # the input is untouched


def test_split_validation_existing_val_split_is_kept(tmp_path, fresh_cache):
    root = make_kaggle_tree(tmp_path / "fer", {"happy": 3, "sad": 3}, splits=("train", "val"))
    ds = load_dataset(root)
    assert split_validation(ds).index["split"].value_counts().to_dict() == {"train": 6, "val": 6}


def test_subsample_per_class_caps_only_train(unbalanced):
    capped = subsample_per_class(unbalanced, 10, seed=0)
    assert capped.counts()["train"].to_dict() == {"angry": 10, "disgust": 5, "happy": 10}


def test_drop_classes_removes_rows_and_class(unbalanced):
    dropped = drop_classes(unbalanced, ["Disgust"])
    assert dropped.classes == ("angry", "happy") and len(dropped) == 60
    assert set(dropped.labels) == {0, 1}


def test_merge_classes_relabels_into_target(unbalanced):
    merged = merge_classes(unbalanced, {"disgust": "angry"})
    assert merged.classes == ("angry", "happy")
    assert merged.counts()["train"].to_dict() == {"angry": 25, "happy": 40}


def test_drop_classes_unknown_name_is_a_clear_error(unbalanced):
    with pytest.raises(DataError, match="class must be one of angry, disgust, happy; got 'joyful'"):
        drop_classes(unbalanced, ["joyful"])


def test_summarize_reports_counts_shares_and_imbalance(unbalanced):
    summary = summarize(unbalanced)
    assert summary["counts"] == {"train": {"angry": 20, "disgust": 5, "happy": 40}}
    assert summary["imbalance_ratio"] == 8.0
    assert imbalance_callout(summary).startswith("disgust is 7.7% of train, happy 61.5%")
    json.dumps(summary)


# --- the built-in demo and the real data set -----------------------------------------------------

def test_load_dataset_nothing_configured_uses_labelled_demo():
    ds = load_dataset()
    assert ds.synthetic and "synthetic" in ds.name.lower()
    assert ds.classes == ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    counts = ds.counts()["train"]
    assert counts.idxmin() == "disgust" and counts.idxmax() == "happy"


@pytest.mark.slow
def test_load_dataset_real_fer2013_has_exact_counts(real_fer2013):
    ds = load_dataset(real_fer2013)
    counts = summarize(ds)["counts"]
    assert counts == {"train": FER_TRAIN, "test": FER_TEST}
    assert ds.report.skipped == [] and ds.report.resized == 0
    assert ds.images.shape == (32298, 48, 48)
    assert load_dataset(real_fer2013).report.from_cache
