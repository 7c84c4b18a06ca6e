"""Training and inference speed of every backbone, the feature cache, and the input pipeline.

    python -m bench.throughput                 # all backbones, batch 32 and 64
    python -m bench.throughput --backbones fer-cnn fer-vgg --images 2048

Prints markdown tables with the machine. Each backbone runs at its own default input size
from raw 48x48 grey pixels, exactly as training feeds it (resize and grey-to-RGB inside the
model), with the dtype policy training would pick here (``mixed_precision=auto``). Numbers are
images per second, the best of two timed passes after a one-batch warm-up. A second table sets
float32 against mixed precision for the backbones that train from scratch.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from bench.machine import describe_machine

SCRATCH = ("fer-cnn", "fer-vgg")


def _best_rate(fn: Callable[[], object], n_images: int, repeats: int = 2) -> float:
    best = min(_timed(fn) for _ in range(repeats))
    return n_images / best


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _random_batch(n_images: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n_images, 48, 48, 1)).astype(np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, size=n_images)]
    return x, y


def backbone_rates(name: str, batch: int, n_images: int, policy: str) -> tuple[float, float]:
    """(training images/s, inference images/s) for one backbone, batch size and dtype policy."""
    import keras

    from fer_core.training.models import build_model

    keras.mixed_precision.set_global_policy(policy)
    model = build_model(name, num_classes=7, weights="none").model
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                  loss="categorical_crossentropy")
    x, y = _random_batch(n_images)
    # Warm-up on one batch: graph tracing and memory allocation are not what we measure.
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
    model.predict(x[:batch], batch_size=batch, verbose=0)
    train = _best_rate(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0), n_images)
    infer = _best_rate(lambda: model.predict(x, batch_size=batch, verbose=0), n_images)
    keras.backend.clear_session()
    return train, infer


def feature_cache_speedup(name: str, n_images: int, policy: str,
                          batch: int = 32) -> tuple[float, float]:
    """Seconds per head epoch: recomputing the frozen backbone vs training on cached features."""
    import keras

    from fer_core.training.models import build_model

    keras.mixed_precision.set_global_policy(policy)
    fer = build_model(name, num_classes=7, weights="none")
    for layer in fer.features.layers:  # frozen, as with pre-trained weights
        layer.trainable = False
    x, y = _random_batch(n_images)
    fer.model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
    fer.model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    full = _timed(lambda: fer.model.fit(x, y, batch_size=batch, epochs=1, verbose=0))
    features = fer.features.predict(x, batch_size=batch, verbose=0)
    fer.head.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
    fer.head.fit(features, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    cached = _timed(lambda: fer.head.fit(features, y, batch_size=batch, epochs=1, verbose=0))
    keras.backend.clear_session()
    return full, cached


def pipeline_rate(n_images: int, batch: int = 64) -> float:
    """The tf.data input pipeline alone (shuffle, batch, the best preset's augmentation)."""
    from fer_core.core.config import preset
    from fer_core.training.augment import build_augmenter
    from fer_core.training.inputs import Split, make_dataset

    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, size=(n_images, 48, 48), dtype=np.uint8),
                  rng.integers(0, 7, size=n_images).astype(np.int32),
                  np.array([str(i) for i in range(n_images)]))
    ds = make_dataset(split, num_classes=7, batch_size=batch, training=True,
                      augmenter=build_augmenter(preset("best"), seed=0))

    def consume() -> None:
        for _ in ds:
            pass

    consume()  # warm-up
    return _best_rate(consume, n_images)


def main(argv: list[str] | None = None) -> None:
    from fer_core.core import device
    from fer_core.core.backbones import BACKBONES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--batches", nargs="*", type=int, default=[32, 64])
    parser.add_argument("--images", type=int, default=256,
                        help="images per pre-trained backbone measurement (slow on a CPU); "
                        "the 48x48 backbones use 16 times as many")
    args = parser.parse_args(argv)
    policy = device.precision_policy("auto")

    print(f"Machine: {describe_machine()}\nDtype policy (auto): {policy}\n")
    print("| backbone | input | batch | train images/s | inference images/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in args.backbones:
        size = BACKBONES[name].native_size
        n_images = args.images * (1 if BACKBONES[name].pretrained else 16)
        for batch in args.batches:
            train, infer = backbone_rates(name, batch, n_images, policy)
            print(f"| {name} | {size} | {batch} | {train:,.0f} | {infer:,.0f} |", flush=True)

    mixed = "mixed_float16" if device.gpu_names() else "mixed_bfloat16"
    print(f"\n| backbone (batch 64) | float32 train images/s | {mixed} train images/s | "
          "speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for name in [n for n in args.backbones if n in SCRATCH]:
        plain, _ = backbone_rates(name, 64, args.images * 16, "float32")
        fast, _ = backbone_rates(name, 64, args.images * 16, mixed)
        print(f"| {name} | {plain:,.0f} | {fast:,.0f} | {fast / plain:.2f}x |", flush=True)

    print("\n| frozen backbone | head epoch, recomputing (s) | head epoch, cached (s) | "
          "speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for name in [n for n in args.backbones if BACKBONES[n].pretrained][:2]:
        full, cached = feature_cache_speedup(name, args.images, policy)
        print(f"| {name} | {full:.2f} | {cached:.3f} | {full / cached:,.0f}x |", flush=True)

    print(f"\nInput pipeline with the best preset's augmentation (batch 64): "
          f"{pipeline_rate(max(args.images * 16, 8192)):,.0f} images/s")


if __name__ == "__main__":
    main()
