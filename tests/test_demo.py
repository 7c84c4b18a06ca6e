"""The synthetic demo data set: layout, imbalance, determinism, learnability, atomic caching."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_core.core.emotions import EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data import demo
from fer_core.data.demo import (
    DEMO_NAME,
    demo_dataset_dir,
    draw_face,
    generate_demo_dataset,
)

# Small enough that every test below that generates its own copy stays well under a second.
TINY = {"train_size": 28, "test_size": 14}

# Where the mouth lies in a 48x48 demo image (rows, columns), whatever the pose jitter.
MOUTH = (slice(33, 44), slice(14, 34))


def _load_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, emotion in enumerate(EMOTIONS):
        for path in sorted((root / split / emotion).glob("*.png")):
            images.append(np.asarray(Image.open(path), dtype=np.float32))
            labels.append(label)
    return np.stack(images), np.array(labels)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _standardise(images: np.ndarray) -> np.ndarray:
    """Per-image zero mean, unit variance: removes the brightness and contrast jitter."""
    flat = images.reshape(len(images), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    return flat / (flat.std(axis=1, keepdims=True) + 1e-6)


@pytest.fixture(scope="module")
def default_demo() -> Path:
    """The default-size demo set, made once per module through the session's isolated cache."""
    return demo_dataset_dir()


@pytest.fixture(scope="module")
def demo_arrays(default_demo: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: _load_split(default_demo, split) for split in ("train", "test")}


@pytest.fixture
def tiny_generation(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Make demo_dataset_dir generate a tiny set, and record where each generation wrote."""
    calls: list[Path] = []
    real = generate_demo_dataset

    def tiny(out_dir: Path, *, seed: int = 0) -> Path:
        calls.append(Path(out_dir))
        return real(out_dir, seed=seed, **TINY)

    monkeypatch.setattr(demo, "generate_demo_dataset", tiny)
    return calls


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(path))
    return path


# --- layout and counts ---------------------------------------------------------------------------


def test_generate_demo_dataset_default_sizes_kaggle_layout(default_demo: Path) -> None:
    for split, total in (("train", 2800), ("test", 700)):
        assert sorted(p.name for p in (default_demo / split).iterdir()) == list(EMOTIONS)
        counts = [len(list((default_demo / split / e).glob("*.png"))) for e in EMOTIONS]
        assert sum(counts) == total
        for emotion, count in zip(EMOTIONS, counts, strict=True):
            names = sorted(p.name for p in (default_demo / split / emotion).iterdir())
            assert names == [f"{i:05d}.png" for i in range(count)]
    assert sorted(p.name for p in default_demo.iterdir()) == ["README.txt", "test", "train"]


def test_generate_demo_dataset_default_sizes_fer2013_like_imbalance(default_demo: Path) -> None:
    for split, total in (("train", 2800), ("test", 700)):
        counts = {e: len(list((default_demo / split / e).iterdir())) for e in EMOTIONS}
        assert min(counts, key=counts.__getitem__) == "disgust"
        assert max(counts, key=counts.__getitem__) == "happy"
        assert counts["disgust"] / total == pytest.approx(0.015, abs=0.005)
        assert counts["happy"] / total == pytest.approx(0.25, abs=0.02)
    assert len(list((default_demo / "train" / "disgust").iterdir())) >= 40


def test_generate_demo_dataset_readme_says_synthetic(default_demo: Path) -> None:
    text = (default_demo / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text
    assert "not photographs of\nreal people" in text
    assert DEMO_NAME in text


def test_generate_demo_dataset_images_48x48_greyscale(default_demo: Path) -> None:
    paths = sorted(default_demo.rglob("*.png"))
    assert len(paths) == 3500
    for path in paths:
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (48, 48))


def test_generate_demo_dataset_smallest_sizes_every_class_present(tmp_path: Path) -> None:
    out = generate_demo_dataset(tmp_path / "demo", train_size=7, test_size=9)
    for split, total in (("train", 7), ("test", 9)):
        counts = [len(list((out / split / e).iterdir())) for e in EMOTIONS]
        assert sum(counts) == total
        assert min(counts) >= 1


# --- determinism ---------------------------------------------------------------------------------


def test_generate_demo_dataset_same_seed_byte_identical(tmp_path: Path) -> None:
    first = generate_demo_dataset(tmp_path / "a", seed=3, **TINY)
    second = generate_demo_dataset(tmp_path / "b", seed=3, **TINY)
    assert _files(first) == _files(second)


def test_generate_demo_dataset_different_seed_different_images(tmp_path: Path) -> None:
    first = _files(generate_demo_dataset(tmp_path / "a", seed=3, **TINY))
    second = _files(generate_demo_dataset(tmp_path / "b", seed=4, **TINY))
    assert first.keys() == second.keys()
    pngs = [name for name in first if name.endswith(".png")]
    assert all(first[name] != second[name] for name in pngs)


def test_draw_face_same_generator_state_same_image() -> None:
    first = draw_face("happy", np.random.default_rng(7))
    second = draw_face("happy", np.random.default_rng(7))
    assert first.dtype == np.uint8
    assert first.shape == (48, 48)
    np.testing.assert_array_equal(first, second)


# --- content: distinct classes, varied images, learnable but not trivial -------------------------


def test_demo_mean_images_happy_and_sad_differ_in_mouth_region(demo_arrays: dict) -> None:
    images, labels = demo_arrays["train"]
    images = _standardise(images).reshape(-1, 48, 48)
    happy = images[labels == EMOTIONS.index("happy")]
    sad = images[labels == EMOTIONS.index("sad")]
    between = np.abs(happy.mean(0) - sad.mean(0))[MOUTH].mean()
    # The noise floor: two halves of one class differ only by chance (mostly by small
    # differences in mean mouth position, which sharp mouth edges turn into pixel differences).
    within = np.abs(happy[0::2].mean(0) - happy[1::2].mean(0))[MOUTH].mean()
    assert between > 2 * within
    # And the mouth is where happy and sad differ, not the background.
    assert between > 4 * np.abs(happy.mean(0) - sad.mean(0))[:8, :8].mean()


def test_demo_images_vary_within_each_class(demo_arrays: dict) -> None:
    images, labels = demo_arrays["train"]
    for label, emotion in enumerate(EMOTIONS):
        members = images[labels == label].reshape(-1, 48 * 48)
        assert len(np.unique(members, axis=0)) == len(members), f"duplicate {emotion} images"
        assert members.std(axis=0).mean() > 20, f"{emotion} images barely vary"


def test_demo_linear_classifier_beats_chance_but_not_perfect(demo_arrays: dict) -> None:
    """A closed-form ridge classifier on 24x24 pixels: no TensorFlow, under a second.

    Nearest-class-mean on raw pixels is too unstable here (the 42 disgust images give a noisy
    mean that swallows other classes), so the sanity check uses the least-squares classifier,
    which accounts for the shared nuisance variation (lighting, hair, pose).
    """
    (train_x, train_y), (test_x, test_y) = demo_arrays["train"], demo_arrays["test"]

    def features(images: np.ndarray) -> np.ndarray:
        pooled = images.reshape(len(images), 24, 2, 24, 2).mean(axis=(2, 4))
        standard = _standardise(pooled)
        return np.hstack([standard, np.ones((len(standard), 1))])

    a = features(train_x)
    weights = np.linalg.solve(a.T @ a + 100.0 * np.eye(a.shape[1]), a.T @ np.eye(7)[train_y])
    accuracy = float((np.argmax(features(test_x) @ weights, axis=1) == test_y).mean())
    majority = np.bincount(test_y).max() / len(test_y)  # ~0.25: always answering "happy"
    assert accuracy > max(0.5, 2 * majority)
    assert accuracy < 0.99


# --- input validation ----------------------------------------------------------------------------


def test_generate_demo_dataset_non_empty_out_dir_raises_data_error(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="empty or new folder"):
        generate_demo_dataset(tmp_path, **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_generate_demo_dataset_out_dir_is_a_file_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(DataError, match="empty or new folder"):
        generate_demo_dataset(path, **TINY)


def test_generate_demo_dataset_empty_existing_out_dir_is_used(tmp_path: Path) -> None:
    assert generate_demo_dataset(tmp_path, **TINY) == tmp_path
    assert (tmp_path / "README.txt").is_file()


@pytest.mark.parametrize("size", [0, 6, -1, 3.5, True])
def test_generate_demo_dataset_bad_size_raises_data_error(tmp_path: Path, size: object) -> None:
    with pytest.raises(DataError, match="train_size must be an integer of at least 7"):
        generate_demo_dataset(tmp_path / "demo", train_size=size)  # type: ignore[arg-type]
    assert not (tmp_path / "demo").exists()


def test_generate_demo_dataset_negative_seed_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="seed must be a non-negative integer"):
        generate_demo_dataset(tmp_path / "demo", seed=-1)


def test_draw_face_unknown_emotion_raises_data_error() -> None:
    with pytest.raises(DataError, match="emotion must be one of angry, disgust"):
        draw_face("bored", np.random.default_rng(0))


# --- the cached copy: idempotent and atomic ------------------------------------------------------


def test_demo_dataset_dir_first_call_generates_in_cache(cache: Path, tiny_generation) -> None:
    path = demo_dataset_dir(seed=2)
    assert path == cache / "demo-v1-seed2"
    assert (path / "README.txt").is_file()
    assert len(list(path.rglob("*.png"))) == TINY["train_size"] + TINY["test_size"]
    # Generated beside the final folder, then moved: nothing else is left in the cache.
    assert tiny_generation[0].parent == cache
    assert [p.name for p in cache.iterdir()] == ["demo-v1-seed2"]


def test_demo_dataset_dir_second_call_does_not_regenerate(cache: Path, tiny_generation) -> None:
    first = demo_dataset_dir()
    stamp = (first / "README.txt").stat().st_mtime_ns
    assert demo_dataset_dir() == first
    assert len(tiny_generation) == 1
    assert (first / "README.txt").stat().st_mtime_ns == stamp


def test_demo_dataset_dir_leftover_temp_dirs_do_not_break_it(cache: Path, tiny_generation) -> None:
    # A crashed generation an hour ago, and one that may still be running in another process.
    stale = cache / ".demo-v1-seed0.tmp-crashed"
    young = cache / ".demo-v1-seed0.tmp-running"
    for leftover in (stale, young):
        (leftover / "train" / "happy").mkdir(parents=True)
        (leftover / "train" / "happy" / "00000.png").write_bytes(b"half a png")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))

    path = demo_dataset_dir()
    assert path == cache / "demo-v1-seed0"
    assert len(list(path.rglob("*.png"))) == TINY["train_size"] + TINY["test_size"]
    assert not stale.exists()  # cleaned up
    assert young.exists()  # left alone: removing it could break a live generation


def test_demo_dataset_dir_lost_race_keeps_winner_and_discards_temp(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = generate_demo_dataset

    def racing(out_dir: Path, *, seed: int = 0) -> Path:
        # Another process finishes first while this one is still generating.
        real(cache / f"demo-v1-seed{seed}", seed=seed, **TINY)
        (cache / f"demo-v1-seed{seed}" / "winner").write_text("")
        return real(out_dir, seed=seed, **TINY)

    monkeypatch.setattr(demo, "generate_demo_dataset", racing)
    path = demo_dataset_dir()
    assert (path / "winner").is_file()
    assert [p.name for p in cache.iterdir()] == ["demo-v1-seed0"]


def test_demo_dataset_dir_crash_during_generation_leaves_nothing(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing(out_dir: Path, *, seed: int = 0) -> Path:
        (Path(out_dir) / "train").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(demo, "generate_demo_dataset", crashing)
    with pytest.raises(OSError, match="disk full"):
        demo_dataset_dir()
    assert list(cache.iterdir()) == []


def test_demo_dataset_dir_seeds_do_not_share_a_folder(cache: Path, tiny_generation) -> None:
    assert demo_dataset_dir(seed=0) != demo_dataset_dir(seed=1)
    assert len(tiny_generation) == 2
