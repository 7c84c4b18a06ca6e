"""Tests of fer_core.training.augment: which layers a config switches on, what they do to a face."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.core.config import TrainConfig
from fer_core.core.errors import DataError
from fer_core.training.augment import augment_preview, build_augmenter

ALL_OFF = {
    "rotation": 0.0, "width_shift": 0.0, "height_shift": 0.0, "shear": 0.0, "zoom": 0.0,
    "horizontal_flip": False, "brightness": 0.0, "contrast": 0.0, "random_crop": 0,
}


def _face(seed: int = 0) -> np.ndarray:
    """An asymmetric textured image, so a mirror and any shift are visible."""
    rng = np.random.default_rng(seed)
    image = rng.integers(30, 220, (48, 48)).astype(np.uint8)
    image[:, :12] = 0  # a dark left band: the mirror differs from the image
    return image


def _config(**changes: object) -> TrainConfig:
    return TrainConfig(weights="none").replace(**changes)


def test_augment_preview_default_config_returns_n_uint8_images() -> None:
    draws = augment_preview(_face(), _config(), n=4)
    assert draws.shape == (4, 48, 48)
    assert draws.dtype == np.uint8


def test_augment_preview_default_config_draws_differ() -> None:
    draws = augment_preview(_face(), _config(), n=6)
    for i in range(len(draws)):
        for j in range(i):
            assert not np.array_equal(draws[i], draws[j])
        assert not np.array_equal(draws[i], _face())


def test_augment_preview_same_seed_same_draws() -> None:
    config = _config(brightness=0.2, contrast=0.2, random_crop=4)
    first = augment_preview(_face(), config, seed=7)
    np.testing.assert_array_equal(first, augment_preview(_face(), config, seed=7))
    assert not np.array_equal(first, augment_preview(_face(), config, seed=8))


@pytest.mark.parametrize("changes", [{"augment": False}, ALL_OFF])
def test_build_augmenter_nothing_on_returns_none(changes: dict) -> None:
    assert build_augmenter(_config(**changes)) is None


def test_augment_preview_augment_off_returns_copies() -> None:
    draws = augment_preview(_face(), _config(augment=False), n=3)
    assert all(np.array_equal(draw, _face()) for draw in draws)


def test_augment_preview_flip_only_gives_image_or_mirror() -> None:
    face = _face()
    draws = augment_preview(face, _config(**{**ALL_OFF, "horizontal_flip": True}), n=16)
    same = [np.array_equal(draw, face) for draw in draws]
    mirrored = [np.array_equal(draw, face[:, ::-1]) for draw in draws]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)  # both turn up in 16 draws, bar a 1 in 32,768 chance


def test_build_augmenter_layers_follow_config() -> None:
    augmenter = build_augmenter(_config(**{**ALL_OFF, "rotation": 10.0, "random_crop": 4}))
    kinds = [type(layer).__name__ for layer in augmenter.layers]
    assert kinds == ["RandomRotation", "ZeroPadding2D", "RandomCrop", "ClipPixels"]


def test_build_augmenter_in_tf_data_keeps_shape_and_pixel_range() -> None:
    import tensorflow as tf

    augmenter = build_augmenter(_config(brightness=0.5, contrast=0.5, random_crop=4))
    images = np.repeat(_face()[None, :, :, None].astype(np.float32), 8, axis=0)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4).map(
        lambda x: augmenter(x, training=True)
    )
    for batch in dataset:
        assert batch.shape == (4, 48, 48, 1)
        assert float(tf.reduce_min(batch)) >= 0.0 and float(tf.reduce_max(batch)) <= 255.0


def test_augment_preview_wrong_shape_raises_data_error() -> None:
    with pytest.raises(DataError, match="48x48"):
        augment_preview(np.zeros((48, 48, 3), np.uint8), _config())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_mixup_after_augmentation_blends_images_and_labels_under_any_policy(policy: str) -> None:
    from fer_core.core import device
    from fer_core.training.inputs import Split, make_dataset

    faces = np.stack([_face(seed) for seed in range(16)])
    split = Split(faces, np.arange(16) % 7, np.array([str(i) for i in range(16)]))
    with device.configured(policy=policy, seed=0):
        dataset = make_dataset(split, num_classes=7, batch_size=8, training=True, seed=0,
                               augmenter=build_augmenter(_config(rotation=10.0)), mixup=0.4)
        batches = list(dataset)
    labels = np.concatenate([np.asarray(y, dtype=np.float32) for _, y in batches])
    assert len(batches) == 2 and batches[0][0].shape == (8, 48, 48, 1)
    assert np.allclose(labels.sum(axis=1), 1, atol=1e-2)
    assert ((labels > 0.01) & (labels < 0.99)).any(), "no label was blended"
