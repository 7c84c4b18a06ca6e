"""A one-line description of the machine, printed above every benchmark table."""

from __future__ import annotations

import os
import platform


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpu = _gpu_name()
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 1024**3:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores{memory}, {gpu or 'no GPU'}, Python {python}"


def _gpu_name() -> str | None:
    """The GPU TensorFlow would use, without importing TensorFlow (slow) when there is none."""
    if not os.path.exists("/proc/driver/nvidia/gpus"):
        return None
    try:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "NVIDIA GPU"
