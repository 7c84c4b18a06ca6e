"""How close training comes to what the processor can do, and where a training step's time goes.

    python -m bench.limits                          # fer-cnn and fer-vgg, float32 and bfloat16
    python -m bench.limits --backbones fer-vgg --profile-steps 30

Prints markdown tables with the machine and its vector and matrix units (AVX-512, bfloat16,
AMX): the measured rate of a plain 2048x2048 matrix product in float32 and bfloat16 (the limit a
convolution network can approach), each backbone's FLOPs per image, counted from its
convolution and dense layers (the rest is a few percent), its training rate in images/s and
GFLOP/s (a training step costs three forward passes: forward, and the backward pass's two
products), and that rate as a share of the matrix product in the same precision. The load
average stands beside each figure: a busy neighbour halves a 2-core machine.

The step profile is TensorFlow's own profiler over a few training steps, its op events summed by
kind: convolutions forward and backward, batch normalisation, activations, pooling, dense
layers, the optimizer, casts between precisions, the input pipeline. Ops of the two inter-op
threads overlap, so shares are of the summed op time, not of the wall time.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import describe_machine
from bench.throughput import backbone_rates

UNITS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
PRECISIONS = {"float32": "float32", "mixed_bfloat16": "bfloat16"}  # policy -> matmul dtype
# Op kinds, first match wins, by a piece of the op's name in the profile.
KINDS = (("input", ("IteratorGetNext", "tf_data")),
         ("convolution backward", ("Conv2DBackprop",)),
         ("convolution forward", ("Conv2D",)),
         ("batch normalisation", ("_bn",)),
         ("optimizer", ("SGD", "Adam", "ResourceApply", "AssignVariable", "AssignAdd",
                        "AssignSub")),
         ("activation", ("relu", "Relu", "Softmax", "softmax")),
         ("pooling", ("pool", "Pool")),
         ("dense", ("MatMul",)),
         ("cast", (":Cast",)))


def units() -> str:
    """The processor's vector and matrix units that matter for training, from /proc/cpuinfo."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return ", ".join(unit for unit in UNITS if unit in flags) or "none of " + ", ".join(UNITS)


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def matmul_rate(dtype: str, size: int = 2048, seconds: float = 3.0) -> float:
    """GFLOP/s of a square matrix product in ``dtype``, the best of a few timed batches."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.linalg.matmul(x, x))
    product(a).numpy()  # warm-up: tracing and the kernel's first run
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            out = product(a)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / 4)
    return 2 * size**3 / best / 1e9


def forward_flops(model: Any) -> float:
    """FLOPs of one image's forward pass through the convolution and dense layers."""
    import keras

    total = 0.0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):  # a depthwise convolution is one
            out = layer.output.shape
            kh, kw, cin, cout = layer.kernel.shape
            total += 2 * out[1] * out[2] * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            total += 2 * positions * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def training_flops(name: str) -> float:
    import keras

    from fer_core.training.models import build_model

    keras.mixed_precision.set_global_policy("float32")
    flops = 3 * forward_flops(build_model(name, num_classes=7, weights="none").model)
    keras.backend.clear_session()
    return flops


def kind_of(op: str) -> str:
    return next((kind for kind, parts in KINDS if any(p in op for p in parts)), "other")


def step_profile(name: str, policy: str, batch: int, steps: int) -> dict[str, float]:
    """Seconds of op time by kind over ``steps`` training steps of a backbone."""
    import keras

    from fer_core.training.models import build_model

    keras.mixed_precision.set_global_policy(policy)
    seconds = profile_fit(build_model(name, num_classes=7, weights="none").model, batch, steps)
    keras.backend.clear_session()
    return seconds


def profile_fit(model: Any, batch: int, steps: int) -> dict[str, float]:
    """Seconds of op time by kind over ``steps`` training steps of ``model`` (a classifier of
    images), from TensorFlow's profiler."""
    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9),
                  loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    classes = model.output_shape[-1]
    x = rng.integers(0, 256, size=(batch * steps, *model.input_shape[1:])).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, size=batch * steps)]
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)  # warm-up
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    seconds: collections.Counter[str] = collections.Counter()
    for plane in (p for p in space.planes if p.name == "/host:CPU"):
        for line in plane.lines:
            if not line.name.startswith(("tf_Compute", "tf_data")):
                continue
            for event in line.events:
                op = plane.event_metadata[event.metadata_id].name
                if not op.startswith("ExecutorState"):  # the executor's span around each op
                    seconds[kind_of(op) if line.name.startswith("tf_Compute") else "input"] += \
                        event.duration_ps / 1e12
    return dict(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="*", default=["fer-cnn", "fer-vgg"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=4096, help="images per timed pass")
    parser.add_argument("--profile-steps", type=int, default=20)
    args = parser.parse_args(argv)

    print(f"Machine: {describe_machine()}\nUnits: {units()}\n")
    print("| matrix product 2048x2048 | GFLOP/s | load |\n| --- | ---: | ---: |")
    limit = {}
    for dtype in PRECISIONS.values():
        limit[dtype] = matmul_rate(dtype)
        print(f"| {dtype} | {limit[dtype]:,.0f} | {load()} |", flush=True)

    print("\n| backbone | precision | batch | train images/s | GFLOP/image | GFLOP/s | "
          "share of the matrix product | load |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.backbones:
        flops = training_flops(name)
        for policy, dtype in PRECISIONS.items():
            rate, _ = backbone_rates(name, args.batch, args.images, policy)
            achieved = rate * flops / 1e9
            print(f"| {name} | {policy} | {args.batch} | {rate:,.0f} | {flops / 1e9:.3f} | "
                  f"{achieved:,.0f} | {achieved / limit[dtype]:.0%} | {load()} |", flush=True)

    for name in args.backbones:
        for policy in PRECISIONS:
            seconds = step_profile(name, policy, args.batch, args.profile_steps)
            total = sum(seconds.values())
            print(f"\nStep profile: {name}, {policy}, batch {args.batch}, "
                  f"{args.profile_steps} steps, {total:.1f} s of op time (load {load()})\n")
            print("| part | seconds | share |\n| --- | ---: | ---: |")
            for kind, value in sorted(seconds.items(), key=lambda item: -item[1]):
                print(f"| {kind} | {value:.2f} | {value / total:.0%} |")


if __name__ == "__main__":
    main()
