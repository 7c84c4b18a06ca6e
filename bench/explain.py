"""How long a Grad-CAM map takes per face, per backbone, on this machine.

    python -m bench.explain                          # fer-vgg and fer-cnn, 1 face and batches
    python -m bench.explain --backbones fer-vgg --faces 256 --repeats 3

Untrained weights: the cost of Grad-CAM does not depend on what the model learnt. Each row is
the best of ``--repeats`` passes after one warm-up pass (which builds the gradient graph), as
milliseconds per face, including the overlay's colouring (the PNG encoding is not counted).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.machine import describe_machine


def _faces(n: int) -> np.ndarray:
    from fer_core.core.emotions import EMOTIONS
    from fer_core.data.demo import draw_face

    return np.stack([draw_face(EMOTIONS[i % 7], np.random.default_rng([3, i])) for i in range(n)])


def time_per_face(backbone: str, faces: np.ndarray, *, batch: int, repeats: int) -> float:
    """Best milliseconds per face over ``repeats`` passes, maps and overlays included."""
    from fer_core.inference.explain import GradCam, overlay
    from fer_core.training.models import build_model

    cam = GradCam(build_model(backbone, num_classes=7).model)
    cam(faces[:batch], batch_size=batch)  # warm-up: traces the model and its gradient
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(faces), batch):
            part = faces[i:i + batch]
            maps = cam(part, batch_size=batch).maps
            for face, heat in zip(part, maps, strict=True):
                overlay(face, heat)
        best = min(best, (time.perf_counter() - start) / len(faces) * 1000)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["fer-vgg", "fer-cnn"])
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    faces = _faces(args.faces)
    print(f"Machine: {describe_machine()}")
    print(f"Grad-CAM, {args.faces} faces, best of {args.repeats} passes; ms per face "
          "(map + overlay)\n")
    print("| backbone | " + " | ".join(f"batch {b}" for b in args.batches) + " |")
    print("| --- | " + " | ".join("---:" for _ in args.batches) + " |")
    for backbone in args.backbones:
        cells = [f"{time_per_face(backbone, faces, batch=b, repeats=args.repeats):.1f}"
                 for b in args.batches]
        print(f"| {backbone} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
