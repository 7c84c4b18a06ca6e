"""Features: how the model sees a face, as the vector its final Dense layer reads.

That vector is what the classes are drawn from (the logits are a linear function of it), so
faces close in it are faces the model takes for alike: the map of the data and the nearest
training examples are both made of it. It is read in the same forward pass as the
probabilities, with dropout off, on the image as it is (no test-time views: a neighbour search
compares one face with one face).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.core.errors import ModelError
from fer_core.data import DataRef, Dataset
from fer_core.inference.evaluation import load_run_model, run_dataset, split_in_classes
from fer_core.inference.graph import input_of
from fer_core.training.inputs import Split

SPLITS = ("train", "val", "test")
BATCH = 256
WIDEST_KEPT = 512  # features wider than this are kept as their top principal components
COMPONENTS = 256


class FeatureError(ModelError):
    """The model has no final Dense layer whose input could serve as its features."""


@dataclass(frozen=True)
class Projection:
    """The principal components wide features are kept as (fitted on the training faces), so a
    new face's features go through the same projection before they are compared."""

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (K, D)
    variance_kept: float  # the share of the training features' variance the K components keep

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) @ self.components.T).astype(np.float32)


def fit_projection(train: np.ndarray, *, seed: int = 0) -> Projection | None:
    """``None`` when the features are narrow enough to keep whole (FER Studio's fer-vgg: 512).
    Otherwise (fer-cnn's flattened 3,456, a backbone's 1,280-2,048) the top components: a
    Euclidean distance between projected faces is the original one less the discarded
    variance, and the cache is a fraction of the size (FER-2013 with fer-cnn: 248 MB whole)."""
    from sklearn.decomposition import PCA

    width = train.shape[1]
    if width <= WIDEST_KEPT or len(train) <= COMPONENTS:
        return None
    pca = PCA(n_components=COMPONENTS, random_state=seed).fit(train)
    return Projection(pca.mean_.astype(np.float32), pca.components_.astype(np.float32),
                      float(pca.explained_variance_ratio_.sum()))


@dataclass(frozen=True)
class SplitFeatures:
    split: Split
    features: np.ndarray  # (N, D) float32
    proba: np.ndarray  # (N, C) float32, uncalibrated


def final_dense(model: Any) -> Any:
    """The model's last Dense layer (FER Studio's "logits"; any classifier's last weights)."""
    for layer in reversed(model.layers):
        if type(layer).__name__ == "Dense":
            return layer
    kinds = ", ".join(sorted({type(layer).__name__ for layer in model.layers}))
    raise FeatureError(f"Model {model.name!r} has no final Dense layer to take features from "
                       f"(its layers: {kinds}). Maps and nearest examples need a classifier "
                       "that ends in one, as every FER Studio backbone does.")


def feature_model(model: Any) -> Any:
    """A model of the same weights giving (features, probabilities) for a batch of faces."""
    import keras

    features = input_of(model, final_dense(model))
    return keras.Model(model.inputs[0], [features, model.outputs[0]], name="features_and_proba")


def compute(model: Any, images: np.ndarray, *, done: Callable[[int], None] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Features and probabilities of (N, 48, 48) uint8 faces, batch by batch; ``done(n)``
    after each batch (progress, and the place a stop is noticed)."""
    both = feature_model(model)
    width = int(both.outputs[0].shape[-1])
    classes = int(both.outputs[1].shape[-1])
    features = np.zeros((len(images), width), dtype=np.float32)
    proba = np.zeros((len(images), classes), dtype=np.float32)
    for start in range(0, len(images), BATCH):
        batch = images[start:start + BATCH][..., None].astype(np.float32)
        f, p = both(batch, training=False)
        features[start:start + len(batch)] = np.asarray(f, dtype=np.float32)
        proba[start:start + len(batch)] = np.asarray(p, dtype=np.float32)
        if done is not None:
            done(start + len(batch))
    return features, proba


def run_features(run_dir: Path, *, data: DataRef | None = None,
                 progress: Callable[[float, str], None] | None = None
                 ) -> tuple[dict[str, SplitFeatures], tuple[str, ...], Dataset]:
    """Every face of the run's data set (or ``data``), split by split, through the run's model:
    the features, the classes and the data set they came from."""
    ds, classes = run_dataset(Path(run_dir), data=data)
    model = load_run_model(Path(run_dir))
    final_dense(model)  # refuse before any work
    parts = {name: split_in_classes(ds, name, classes) for name in SPLITS}
    total = max(sum(len(part) for part in parts.values()), 1)
    finished = 0
    out = {}
    for name, part in parts.items():
        def done(n: int, before: int = finished, split: str = name) -> None:
            if progress is not None:
                progress((before + n) / total, f"Features of the {split} faces")
        features, proba = compute(model, part.images, done=done)
        out[name] = SplitFeatures(part, features, proba)
        finished += len(part)
    return out, classes, ds
