"""Tests of fer_core.data.audit: image statistics, blanks, duplicates and train/test leakage."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_core.core.errors import DataError
from fer_core.data import audit as audit_module
from fer_core.data import load_dataset
from fer_core.data.audit import (
    AuditReport,
    audit,
    perceptual_hashes,
)

FER2013 = Path(__file__).resolve().parents[2] / "shared" / "fer2013"


def _face_like(seed: int, size: int = 48) -> np.ndarray:
    """A smooth random image: coarse structure like a face, so its pHash is stable."""
    coarse = np.random.default_rng(seed).uniform(30, 220, (6, 6)).astype(np.float32)
    smooth = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(smooth), 0, 255).astype(np.uint8)


def _noisy(image: np.ndarray, seed: int, amplitude: int = 3, shift: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, image.shape)
    return np.clip(image.astype(int) + noise + shift, 0, 255).astype(np.uint8)


def _index(splits: list[str], labels: list[str] | None = None) -> pd.DataFrame:
    labels = labels or ["happy"] * len(splits)
    ids = [
        f"{split}/{label}/{i:04d}.jpg"
        for i, (split, label) in enumerate(zip(splits, labels, strict=True))
    ]
    return pd.DataFrame({"id": ids, "split": splits, "label": labels})


# ---------------------------------------------------------------------------------------------
# brightness, contrast and blank images (through audit, which computes them in chunks)


def _stats(images: np.ndarray, **kwargs) -> tuple[pd.DataFrame, list[int]]:
    report = audit(images, _index(["train"] * len(images)), **kwargs)
    ids = report.stats["id"].tolist()
    return report.stats, [ids.index(i) for i in report.blank_ids]


def test_audit_stats_known_arrays_give_mean_and_std():
    uniform = np.full((48, 48), 100, np.uint8)
    halves = np.zeros((48, 48), np.uint8)
    halves[:, 24:] = 200

    stats, _ = _stats(np.stack([uniform, halves]))

    np.testing.assert_allclose(stats["brightness"], [100.0, 100.0])
    np.testing.assert_allclose(stats["contrast"], [0.0, 100.0])


def test_audit_stats_many_chunks_match_numpy(monkeypatch):
    monkeypatch.setattr(audit_module, "_CHUNK_PIXELS", 3 * 48 * 48)  # 3 images per chunk
    images = np.random.default_rng(0).integers(0, 256, (10, 48, 48), dtype=np.uint8)

    stats, _ = _stats(images)

    np.testing.assert_allclose(stats["brightness"], images.mean(axis=(1, 2)))
    np.testing.assert_allclose(stats["contrast"], images.std(axis=(1, 2)))


def test_audit_blank_uniform_flagged_textured_not():
    black = np.zeros((48, 48), np.uint8)
    grey_with_speck = np.full((48, 48), 128, np.uint8)
    grey_with_speck[10, 10] = 255
    images = np.stack([_face_like(1), black, grey_with_speck, _face_like(2)])

    assert _stats(images)[1] == [1, 2]


def test_audit_blank_lower_threshold_keeps_speck():
    grey_with_speck = np.full((48, 48), 128, np.uint8)
    grey_with_speck[10, 10] = 255  # contrast 2.6

    assert _stats(grey_with_speck[None], max_contrast=1.0)[1] == []


def test_audit_flat_image_raises_data_error():
    with pytest.raises(DataError, match=r"shape \(N, height, width\)"):
        audit(np.zeros((48, 48), np.uint8), _index(["train"]))


# ---------------------------------------------------------------------------------------------
# perceptual_hashes


def test_perceptual_hashes_random_faces_match_imagehash_within_two_bits():
    images = np.stack([_face_like(seed) for seed in range(40)])

    ours = perceptual_hashes(images)
    theirs = np.array(
        [int(str(imagehash.phash(Image.fromarray(image))), 16) for image in images],
        dtype=np.uint64,
    )

    distance = np.bitwise_count(ours ^ theirs)
    # Pillow rounds its resampled image to uint8 before the DCT; we do not. That can swap a
    # coefficient next to the median with its neighbour, 2 bits, and nothing more.
    assert distance.max() <= 2
    assert (distance == 0).mean() >= 0.5


def test_perceptual_hashes_other_image_size_works():
    hashes = perceptual_hashes(np.stack([_face_like(1, size=64), _face_like(2, size=64)]))

    assert hashes.dtype == np.uint64
    assert np.bitwise_count(hashes[0] ^ hashes[1]) > 8


def test_perceptual_hashes_empty_input_returns_empty_uint64():
    hashes = perceptual_hashes(np.zeros((0, 48, 48), np.uint8))

    assert hashes.dtype == np.uint64
    assert hashes.shape == (0,)


def test_close_pairs_many_chunks_match_naive_search(monkeypatch):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 6, dtype=np.uint64)
    # Copies of a few hashes with 0-3 flipped bits, so there is something to find.
    flips = [
        np.uint64(sum(1 << int(b) for b in rng.choice(64, k, replace=False)))
        for k in rng.integers(0, 4, 30)
    ]
    hashes = np.array([base[i % 6] ^ f for i, f in enumerate(flips)], dtype=np.uint64)
    monkeypatch.setattr(audit_module, "_CHUNK_PAIRS", 4 * len(hashes))  # 4 rows per chunk

    i, j, d = audit_module._close_pairs(hashes, 4)

    expected = {
        (a, b, int(np.bitwise_count(hashes[a] ^ hashes[b])))
        for a, b in itertools.combinations(range(len(hashes)), 2)
        if np.bitwise_count(hashes[a] ^ hashes[b]) <= 4
    }
    assert set(zip(i.tolist(), j.tolist(), d.tolist(), strict=True)) == expected
    assert len(i) == len(expected)


# ---------------------------------------------------------------------------------------------
# audit


def test_audit_exact_copy_grouped_not_near():
    face = _face_like(1)
    images = np.stack([face, _face_like(2), face.copy(), _face_like(3)])

    report = audit(images, _index(["train"] * 4))

    ids = report.stats["id"].tolist()
    assert report.exact_duplicate_groups == [[ids[0], ids[2]]]
    assert report.near_duplicate_pairs == []
    assert report.leakage_pairs == []


def test_audit_noisy_and_brighter_copies_near_unrelated_not():
    face = _face_like(1)
    images = np.stack([face, _noisy(face, 0), _noisy(face, 1, shift=12), _face_like(2)])

    report = audit(images, _index(["train"] * 4))

    ids = report.stats["id"].tolist()
    pairs = {(a, b) for a, b, _ in report.near_duplicate_pairs}
    assert pairs == {(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])}
    assert all(0 <= d <= 4 for *_, d in report.near_duplicate_pairs)
    assert report.exact_duplicate_groups == []


def test_audit_train_and_val_copies_of_test_images_are_leakage():
    a, b = _face_like(1), _face_like(2)
    images = np.stack([a, b, _face_like(3), a.copy(), _noisy(b, 0), _face_like(4)])
    splits = ["train", "val", "train", "test", "test", "test"]

    report = audit(images, _index(splits))

    ids = report.stats["id"].tolist()
    assert report.leakage_pairs == [(ids[0], ids[3]), (ids[1], ids[4])]


def test_audit_copies_within_train_are_not_leakage():
    a = _face_like(1)
    images = np.stack([a, a.copy(), _noisy(a, 0), _face_like(2)])

    report = audit(images, _index(["train", "train", "train", "test"]))

    assert len(report.exact_duplicate_groups) == 1
    assert len(report.near_duplicate_pairs) == 2
    assert report.leakage_pairs == []


def test_audit_blank_images_only_reported_as_blank_and_exact():
    black = np.zeros((48, 48), np.uint8)
    images = np.stack([black, black, np.full((48, 48), 90, np.uint8), _face_like(1)])

    report = audit(images, _index(["train", "test", "train", "test"]))

    ids = report.stats["id"].tolist()
    assert report.blank_ids == ids[:3]
    assert report.exact_duplicate_groups == [[ids[0], ids[1]]]
    assert report.near_duplicate_pairs == []  # two flat images hash alike; that says nothing
    assert report.leakage_pairs == []


def test_audit_stats_carry_index_columns():
    images = np.stack([np.full((48, 48), 10, np.uint8), _face_like(1)])

    report = audit(images, _index(["train", "test"], ["sad", "fear"]))

    assert list(report.stats.columns) == ["id", "split", "label", "brightness", "contrast"]
    assert report.stats["label"].tolist() == ["sad", "fear"]
    assert report.stats["brightness"].iloc[0] == pytest.approx(10.0)


def test_audit_report_to_dict_is_json_serialisable_and_limited():
    a, b = _face_like(1), _face_like(2)
    images = np.stack([a, a, a, b, _noisy(b, 0), np.zeros((48, 48), np.uint8)])
    index = _index(
        ["train", "train", "test", "train", "test", "train"],
        ["happy", "sad", "happy", "fear", "fear", "angry"],
    )

    data = json.loads(json.dumps(audit(images, index).to_dict(max_examples=2)))

    assert data["n_images"] == 6
    assert data["splits"] == {"test": 2, "train": 4}
    assert data["blank"]["count"] == 1
    assert data["exact_duplicates"]["groups"] == 1
    assert data["exact_duplicates"]["redundant_copies"] == 2
    assert data["exact_duplicates"]["examples"] == [["train/happy/0000.jpg", "train/sad/0001.jpg"]]
    assert data["exact_duplicates"]["groups_with_conflicting_labels"] == 1
    assert data["exact_duplicates"]["conflict_examples"][0]["labels"] == ["happy", "sad"]
    assert data["near_duplicates"]["pairs"] == 1
    assert data["leakage"] == {
        "pairs": 3,
        "test_images": 2,
        "examples": [
            ["train/happy/0000.jpg", "test/happy/0002.jpg"],
            ["train/sad/0001.jpg", "test/happy/0002.jpg"],
        ],
    }


def test_audit_summary_names_each_finding():
    a = _face_like(1)
    images = np.stack([a, a, _noisy(_face_like(2), 0), _face_like(2), np.zeros((48, 48))])

    lines = audit(images, _index(["train", "test", "train", "train", "train"])).summary()

    text = "\n".join(lines)
    assert "5 images audited (test 1, train 4)" in text
    assert "1 near-blank" in text
    assert "1 groups of identical images" in text
    assert "1 near-duplicate pairs" in text
    assert "1 of 1 test images (100.0%)" in text


def test_audit_empty_input_reports_nothing():
    report = audit(np.zeros((0, 48, 48), np.uint8), _index([]))

    assert isinstance(report, AuditReport)
    assert len(report.stats) == 0
    assert report.blank_ids == []
    assert report.exact_duplicate_groups == []
    assert report.near_duplicate_pairs == []
    assert report.leakage_pairs == []
    assert json.dumps(report.to_dict())
    assert report.summary() == ["No images to audit."]


def test_audit_index_of_other_length_raises_data_error():
    with pytest.raises(DataError, match="one row per image"):
        audit(np.zeros((3, 48, 48), np.uint8), _index(["train", "test"]))


def test_audit_index_without_split_raises_data_error():
    index = _index(["train"]).drop(columns="split")

    with pytest.raises(DataError, match="split missing"):
        audit(np.zeros((1, 48, 48), np.uint8), index)


def test_audit_repeated_ids_raise_data_error():
    index = _index(["train", "train"])
    index["id"] = "same.jpg"

    with pytest.raises(DataError, match="unique"):
        audit(np.zeros((2, 48, 48), np.uint8), index)


def test_audit_distance_out_of_range_raises_value_error():
    with pytest.raises(ValueError, match="between 0 and 64"):
        audit(np.zeros((1, 48, 48), np.uint8), _index(["train"]), max_distance=65)


# ---------------------------------------------------------------------------------------------
# The real FER-2013


@pytest.mark.slow
@pytest.mark.skipif(not FER2013.is_dir(), reason=f"FER-2013 not found at {FER2013}")
def test_audit_real_fer2013_finds_blanks_duplicates_and_leakage():
    ds = load_dataset(FER2013)  # the project's own loader, as the app and CLI use it
    images, index = ds.images, ds.index

    report = audit(images, index)

    # Measured on the Kaggle folders (32,298 images): 14 blank, 1,273 exact groups (47 with
    # conflicting labels), 1,571 near-duplicate pairs, 644 leakage pairs over 418 test images,
    # in ~2 s. Ranges leave room for another copy of the data set or another Pillow decoder.
    assert len(images) == 32_298
    assert 10 <= len(report.blank_ids) <= 20
    assert 1_100 <= len(report.exact_duplicate_groups) <= 1_450
    assert 1_200 <= len(report.near_duplicate_pairs) <= 2_000
    assert 350 <= len(report.leaked_test_ids) <= 500
    assert len(report.leakage_pairs) >= len(report.leaked_test_ids)
    assert len(report.conflicting_groups) > 0
