"""A Grad-CAM map laid over its face as PNG-ready RGB, for the pages, the report and files.

The colours run from transparent-dark blue (no evidence) through yellow to red (most
evidence): the common "jet-like" reading of a heat map, with a few anchors instead of a
plotting library.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# (position, R, G, B): blue -> cyan -> yellow -> red
_ANCHORS = np.array([
    (0.00, 0, 0, 140),
    (0.35, 0, 170, 255),
    (0.65, 255, 230, 0),
    (1.00, 220, 20, 0),
], dtype=np.float32)


def heat_colours(cam: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] as (H, W, 3) float32 RGB in 0..255."""
    values = np.clip(np.asarray(cam, dtype=np.float32), 0.0, 1.0)
    return np.stack([np.interp(values, _ANCHORS[:, 0], _ANCHORS[:, c]) for c in (1, 2, 3)],
                    axis=-1)


def overlay(face: np.ndarray, cam: np.ndarray, *, size: int = 144,
            alpha: float = 0.5) -> np.ndarray:
    """The grey face in colour under its map, (size, size, 3) uint8. The map's weight follows
    its value, so where the model found no evidence the face shows through unchanged;
    ``alpha`` is the weight at the map's peak."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    face_img = Image.fromarray(np.asarray(face, dtype=np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR)
    cam_img = Image.fromarray(np.clip(np.asarray(cam, dtype=np.float32), 0, 1)).resize(
        (size, size), Image.Resampling.BILINEAR)
    grey = np.asarray(face_img, dtype=np.float32)[..., None].repeat(3, axis=-1)
    heat = np.asarray(cam_img, dtype=np.float32)
    weight = alpha * np.sqrt(np.clip(heat, 0.0, 1.0))[..., None]  # weak evidence still tints
    mixed = (1.0 - weight) * grey + weight * heat_colours(heat)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

