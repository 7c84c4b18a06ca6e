"""Augmentation as Keras layers run in the ``tf.data`` pipeline, never in the saved model: some
do not load back (RandomShear, keras#21110), and a model serving predictions must not augment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fer_core.core.config import TrainConfig
from fer_core.core.errors import DataError
from fer_core.core.settings import IMAGE_SIZE

if TYPE_CHECKING:
    import keras

# Faces continue past the frame: mirror what is there rather than paint a black border.
FILL_MODE = "reflect"


def build_augmenter(config: TrainConfig, *, seed: int = 0) -> keras.Sequential | None:
    """The transforms ``config`` switches on, as one Sequential, each layer with a seed of its
    own: layers sharing one would move together (every flipped face also rotated left)."""
    steps = _steps(config) if config.augment else []
    if not steps:
        return None
    import keras

    return keras.Sequential(
        [make(seed + offset) for offset, make in enumerate(steps)] + [_clip_layer()],
        name="augment")


def _steps(config: TrainConfig) -> list[Any]:
    """One layer factory (seed -> layer) per transform that is switched on, in order."""
    from keras import layers

    steps: list[Any] = []
    if config.horizontal_flip:
        steps.append(lambda s: layers.RandomFlip("horizontal", seed=s))
    if config.rotation > 0:
        steps.append(lambda s: layers.RandomRotation(
            config.rotation / 360.0, fill_mode=FILL_MODE, seed=s))
    if config.width_shift > 0 or config.height_shift > 0:
        steps.append(lambda s: layers.RandomTranslation(
            config.height_shift, config.width_shift, fill_mode=FILL_MODE, seed=s))
    if config.shear > 0 and hasattr(layers, "RandomShear"):
        steps.append(lambda s: layers.RandomShear(
            x_factor=config.shear, y_factor=config.shear, fill_mode=FILL_MODE, seed=s))
    if config.zoom > 0:
        steps.append(lambda s: layers.RandomZoom(config.zoom, fill_mode=FILL_MODE, seed=s))
    if config.random_crop > 0:
        pad = config.random_crop
        steps.append(lambda s: layers.ZeroPadding2D(pad))
        steps.append(lambda s: layers.RandomCrop(IMAGE_SIZE, IMAGE_SIZE, seed=s))
    if config.brightness > 0:
        steps.append(lambda s: layers.RandomBrightness(
            config.brightness, value_range=(0, 255), seed=s))
    if config.contrast > 0:
        steps.append(lambda s: layers.RandomContrast(config.contrast, value_range=(0, 255), seed=s))
    return steps


def _clip_layer() -> Any:
    """Keep pixels in 0-255 whatever the transforms did: the model's preprocessing assumes it."""
    import keras
    from keras import ops

    class ClipPixels(keras.layers.Layer):
        def call(self, inputs: Any) -> Any:
            return ops.clip(inputs, 0.0, 255.0)

    return ClipPixels(name="clip")


def augment_preview(
    image: np.ndarray, config: TrainConfig, *, n: int = 6, seed: int = 0
) -> np.ndarray:
    """``n`` random draws of the augmentation on one face, so users see what training sees."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"image must be a {IMAGE_SIZE}x{IMAGE_SIZE} grey array; got shape {image.shape}.")
    if n < 1:
        raise DataError(f"n must be at least 1; got {n}.")
    batch = np.repeat(image[None, :, :, None].astype(np.float32), n, axis=0)
    augmenter = build_augmenter(config, seed=seed)
    if augmenter is not None:
        batch = np.asarray(augmenter(batch, training=True))
    return np.clip(np.rint(batch[..., 0]), 0, 255).astype(np.uint8)
