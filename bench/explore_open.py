"""How long Explore's Image quality and Augmentation tabs take to open the first time.

    python -m bench.explore_open [PATH]     # default: ../shared/fer2013

Each case runs in a fresh process, as a new app session would:
- Image quality: the audit computed (the first visit ever to this data set), then read back
  from the disk cache (every later visit, session and restart);
- Augmentation: the first draw in a process that has not loaded TensorFlow (what the tab cost
  before), then the first draw once Explore's background warm-up has finished (what a user who
  opens the tab after looking at the Classes tab waits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.machine import describe_machine

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "fer2013"

_QUALITY = """
import json, sys, time
from fer_core.data import audit_cache, load_dataset
ds = load_dataset(sys.argv[1])
start = time.perf_counter()
audit_cache.cached_audit(ds)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

_AUGMENT = """
import json, sys, time
import numpy as np
from ui.warmup import warm_tensorflow
if sys.argv[1] == "warm":
    warm_tensorflow().join()
start = time.perf_counter()
from fer_core.core.config import TrainConfig
from fer_core.training.augment import augment_preview
augment_preview(np.zeros((48, 48), np.uint8), TrainConfig(), n=6, seed=1)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _child(code: str, *args: str, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    data = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_DATA)
    print(f"Host: {describe_machine()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FER_CACHE_DIR": cache, "TF_CPP_MIN_LOG_LEVEL": "3"}
        _child(_QUALITY.replace("audit_cache.cached_audit(ds)", "pass"), data, env=env)
        rows = [
            ("Image quality: audit computed (first visit)", _child(_QUALITY, data, env=env)),
            ("Image quality: audit read from the disk cache", _child(_QUALITY, data, env=env)),
            ("Augmentation: first draw, TensorFlow not loaded", _child(_AUGMENT, "cold",
                                                                       env=env)),
            ("Augmentation: first draw after the warm-up", _child(_AUGMENT, "warm", env=env)),
        ]
    print("| case | seconds |\n| --- | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
