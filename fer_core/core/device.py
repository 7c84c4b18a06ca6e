"""Which device TensorFlow trains on, and the settings that make it fast there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


@cache
def gpu_names() -> tuple[str, ...]:
    """Names of the GPUs TensorFlow sees (imports TensorFlow: call lazily)."""
    import tensorflow as tf

    return tuple(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in tf.config.list_physical_devices("GPU"))


def describe_device() -> str:
    """A badge for the sidebar and the run folder: the GPU's name, or "CPU, N cores"."""
    gpus = gpu_names()
    if gpus:
        return f"GPU: {gpus[0]}" + (f" (+{len(gpus) - 1})" if len(gpus) > 1 else "")
    return f"CPU, {os.cpu_count()} cores"


@cache
def describe_device_quick() -> str:
    """The badge without importing TensorFlow (seconds): the NVIDIA driver's GPU name if any."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=5, check=True)
            names = out.stdout.strip().splitlines()
            if names:
                return f"GPU: {names[0]}"
        except (OSError, subprocess.SubprocessError):
            pass
    return f"CPU, {os.cpu_count()} cores"


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bfloat16, which halves a convolution step's time (fer-vgg
    on two Zen 4 cores: 250 -> 500 images/s); emulated, it is slower than float32."""
    try:
        with open(cpuinfo) as lines:
            flags = next((line for line in lines if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def precision_policy(setting: str) -> str:
    """The Keras dtype policy for ``mixed_precision`` (auto | on | off) on this machine:
    float16 on a GPU, bfloat16 on a CPU (float16 has no fast CPU kernels)."""
    if setting == "off":
        return "float32"
    if gpu_names():
        return "mixed_float16"
    if setting == "on" or cpu_has_bfloat16():
        return "mixed_bfloat16"
    return "float32"


@contextmanager
def configured(*, policy: str, seed: int, deterministic: bool = False) -> Iterator[None]:
    """Seed every generator and set the dtype policy for one run, then restore the previous
    policy: Keras keeps it in a global, which a later model would silently inherit. Op
    determinism, once on, stays on in the process (a job has one of its own); without it
    tf.data's parallel augmentation and threaded reductions differ from run to run."""
    import keras
    import tensorflow as tf

    previous = keras.mixed_precision.global_policy()
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
