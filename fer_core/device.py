"""Which device TensorFlow trains on, and the settings that make it fast there."""

from __future__ import annotations

import os
from functools import cache


@cache
def gpu_names() -> tuple[str, ...]:
    """Names of the GPUs TensorFlow sees (imports TensorFlow: call lazily)."""
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return tuple(names)


def describe_device() -> str:
    """A badge for the sidebar and the run folder: the GPU's name, or "CPU, N cores"."""
    gpus = gpu_names()
    if gpus:
        return f"GPU: {gpus[0]}" + (f" (+{len(gpus) - 1})" if len(gpus) > 1 else "")
    return f"CPU, {os.cpu_count()} cores"


@cache
def describe_device_quick() -> str:
    """The badge without importing TensorFlow (seconds): the NVIDIA driver's GPU name if any.

    TensorFlow's own view (``describe_device``) is recorded in every run's config.json.
    """
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


def use_mixed_precision(setting: str) -> bool:
    """``auto`` turns mixed precision on for a GPU only: on a CPU it is slower, not faster."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    return bool(gpu_names())


def configure(*, mixed_precision: bool, seed: int) -> None:
    """Seed every generator and set the global dtype policy before a model is built."""
    import keras

    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
