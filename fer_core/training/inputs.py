"""From a TrainConfig to arrays per split, and to ``tf.data`` pipelines that cast, augment and
mix per batch, so images stay 48x48 uint8 in memory (FER-2013 is 66 MB that way)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_core.core.config import TrainConfig
from fer_core.data import (
    DataRef,
    Dataset,
    drop_classes,
    merge_classes,
    split_validation,
    subsample_per_class,
)
from fer_core.data.ferplus import apply_labels, soft_targets
from fer_core.data.named_classes import check_named_classes


@dataclass(frozen=True)
class Split:
    """One split as arrays; ``targets`` are soft targets (FER+ votes) that training fits
    instead of one-hot labels, while evaluation scores against ``labels``."""

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class PreparedData:
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    dataset: Dataset  # after class operations and the validation split

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.train.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts, strict=True)}


def apply_data_config(ds: Dataset, config: TrainConfig) -> Dataset:
    """The config's labels (FER+), class operations, validation split and subsampling, in
    that order; a class the config names must be one the (relabelled) data has."""
    ds = apply_labels(ds, config.labels)
    check_named_classes(config, ds.classes)
    ds = drop_classes(ds, config.drop_classes)
    ds = merge_classes(ds, config.merge_classes)
    ds = split_validation(ds, fraction=config.val_fraction, seed=config.seed)
    if config.subsample_per_class:
        ds = subsample_per_class(ds, config.subsample_per_class, seed=config.seed)
    return ds


def prepare_data(config: TrainConfig, dataset: Dataset | None = None) -> PreparedData:
    ds = apply_data_config(dataset or DataRef.parse(config.data).load(), config)
    train = _split(ds, "train")
    if config.oversample_to:
        train = oversample(train, config.oversample_to, seed=config.seed)
    return PreparedData(ds.classes, train, _split(ds, "val"), _split(ds, "test"), dataset=ds)


def _split(ds: Dataset, name: str) -> Split:
    part = ds.split(name)
    return Split(part.images, part.labels, part.index["id"].to_numpy(dtype=str),
                 soft_targets(part.index, ds.classes))


def oversample(split: Split, target: int, *, seed: int) -> Split:
    """Repeat images of classes with fewer than ``target`` until they have ``target``; the
    pipeline's augmentation makes the copies differ (the seed report's way to grow disgust)."""
    rng = np.random.default_rng(seed)
    extra = []
    for label in np.unique(split.labels):
        rows = np.flatnonzero(split.labels == label)
        if len(rows) < target:
            extra.append(rng.choice(rows, size=target - len(rows), replace=True))
    if not extra:
        return split
    order = np.concatenate([np.arange(len(split)), *extra])
    targets = None if split.targets is None else split.targets[order]
    return Split(split.images[order], split.labels[order], split.ids[order], targets)


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights ``n / (k * count)`` per class, as scikit-learn's ``balanced`` gives them."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = np.ones(num_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return weights


def make_dataset(split: Split, *, num_classes: int, batch_size: int, training: bool,
                 seed: int = 0, augmenter=None, mixup: float = 0.0,
                 class_weights: np.ndarray | None = None):
    """A batched ``tf.data`` pipeline of (float32 images, one-hot labels[, sample weights])."""
    import tensorflow as tf

    images = split.images[..., None]  # (N, 48, 48, 1), still uint8
    ds = tf.data.Dataset.from_tensor_slices(
        labelled(images, split.labels, num_classes, class_weights, targets=split.targets))
    if training:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training and len(split) >= batch_size)
    ds = ds.map(lambda x, *rest: (tf.cast(x, tf.float32), *rest),
                num_parallel_calls=tf.data.AUTOTUNE)
    if training and augmenter is not None:
        ds = ds.map(lambda x, *rest: (augmenter(x, training=True), *rest),
                    num_parallel_calls=tf.data.AUTOTUNE)
    if training and mixup > 0:
        ds = ds.map(_mixup_fn(mixup, seed), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def labelled(x: np.ndarray, labels: np.ndarray, num_classes: int,
             class_weights: np.ndarray | None = None, *,
             targets: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """``(x, targets[, sample weights])``: what a pipeline batches. Targets are one-hot
    labels unless soft ones (probabilities) are given; categorical cross-entropy takes
    either."""
    y = np.eye(num_classes, dtype=np.float32)[labels] if targets is None else targets
    if class_weights is None:
        return x, y
    return x, y, class_weights[labels].astype(np.float32)


def _mixup_fn(alpha: float, seed: int):
    """Mixup (Zhang et al. 2018): blend each batch with a shuffled copy of itself."""
    import tensorflow as tf

    def mix(x, y, *weights):
        n = tf.shape(x)[0]
        gamma_a = tf.random.gamma([n], alpha, seed=seed)
        gamma_b = tf.random.gamma([n], alpha, seed=seed + 1)
        lam = gamma_a / (gamma_a + gamma_b)
        order = tf.random.shuffle(tf.range(n), seed=seed)
        # Augmentation layers under a mixed policy hand over bfloat16 or float16 images.
        lam_x = tf.cast(tf.reshape(lam, [-1, 1, 1, 1]), x.dtype)
        lam_y = tf.cast(tf.reshape(lam, [-1, 1]), y.dtype)
        x = lam_x * x + (1 - lam_x) * tf.gather(x, order)
        y = lam_y * y + (1 - lam_y) * tf.gather(y, order)
        return (x, y, *weights)

    return mix
