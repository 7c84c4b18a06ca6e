"""TensorFlow's start-up noise ("failed call to cuInit" without a GPU), harmless but read as a
failure, kept out of the log a user reads; a finished job moves it into the debug log."""

from __future__ import annotations

import re
from pathlib import Path

from fer_core.core import atomic

# glog-style lines from TensorFlow's C++ side: "I0000 00:00:17960.95   23490 port.cc:153] ..."
_GLOG = re.compile(r"^[IWE]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] (?P<message>.*)$")
# Messages of those lines (and a few plain ones) that say nothing about the run itself.
_NOISE = re.compile(
    "|".join([
        r"failed call to cuInit",
        r"Could not find cuda drivers",
        r"oneDNN custom operations are on",
        r"Unable to register cu(DNN|FFT|BLAS) factory",
        r"computation placer already registered",
        r"This TensorFlow binary is optimized to use available CPU instructions",
        r"To enable the following instructions",
        r"TF-TRT Warning: Could not find TensorRT",
        r"cuda_executor\.cc.*NUMA node",
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
        r"^E0000 00:00:\S+\s+\d+ cuda_(dnn|fft|blas)\.cc",
    ])
)


def is_startup_noise(line: str) -> bool:
    """True for a known TensorFlow start-up message; a real error stays in the log."""
    match = _GLOG.match(line)
    text = match.group("message") if match else line
    return bool(_NOISE.search(text) or _NOISE.search(line))


def without_noise(text: str) -> str:
    """The text with its start-up noise lines left out."""
    return "\n".join(line for line in text.splitlines() if not is_startup_noise(line))


def move_noise(log: Path, debug_log: Path) -> int:
    """Move a finished job's noise lines from ``log`` to the end of ``debug_log``; how many."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    except OSError:
        return 0
    noise = [line for line in lines if is_startup_noise(line.rstrip("\n"))]
    if not noise:
        return 0
    old = debug_log.read_text(encoding="utf-8") if debug_log.exists() else ""
    atomic.write_text(debug_log, old + "".join(noise))
    moved = set(noise)
    atomic.write_text(log, "".join(line for line in lines if line not in moved))
    return len(noise)
