"""How fast the full FER-2013 loads, cold and warm, and how much memory it takes.

    python -m bench.data_load [PATH]     # default: ../shared/fer2013

Targets on a 2-core machine: cold <= 20 s, warm (cached) <= 1 s, peak memory <= 600 MB.
Each measurement runs in a fresh process so the peak memory is that load's alone.

It also measures what the data set costs during training: a fresh process imports TensorFlow
(whose runtime alone is about 0.7 GB, whatever the data), then loads the data set and streams
one epoch of the ``best`` preset's augmented training pipeline; the growth of its peak memory
over the TensorFlow baseline is the data set's share (target: under 1 GB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.machine import describe_machine

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "fer2013"

_CHILD = """
import json, resource, sys, time
from fer_core.data import load_dataset
start = time.perf_counter()
ds = load_dataset(sys.argv[1])
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "n": len(ds),
                  "cached": ds.report.from_cache}))
"""

_PIPELINE_CHILD = """
import json, resource, sys, time
import tensorflow as tf
from fer_core.training.augment import build_augmenter
from fer_core.core.config import preset
from fer_core.training.inputs import make_dataset, prepare_data
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
baseline = rss_mb()
config = preset("best").replace(data=sys.argv[1])
data = prepare_data(config)
loaded = rss_mb()
ds = make_dataset(data.train, num_classes=len(data.classes), batch_size=config.batch_size,
                  training=True, seed=0, augmenter=build_augmenter(config))
start = time.perf_counter()
n = sum(int(x.shape[0]) for x, _ in ds)
seconds = time.perf_counter() - start
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss_mb())
print(json.dumps({"tf_mb": baseline, "data_mb": loaded - baseline,
                  "pipeline_peak_mb": peak - baseline, "images": n,
                  "images_per_s": n / seconds}))
"""


def run_child(code: str, data: Path, cache: Path) -> dict:
    """Run ``code`` in a fresh interpreter and return the JSON line it prints last."""
    env = {"FER_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(data)], capture_output=True, text=True, check=True,
        env=env, cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(data: Path, cache: Path) -> dict:
    return run_child(_CHILD, data, cache)


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not data.exists():
        sys.exit(f"No data at {data}; pass the FER-2013 folder as the first argument.")
    with tempfile.TemporaryDirectory() as cache:
        cold = measure(data, Path(cache))
        warm = measure(data, Path(cache))
        training = run_child(_PIPELINE_CHILD, data, Path(cache))
    print(f"Machine: {describe_machine()}")
    print(f"Data: {data} ({cold['n']:,} images)\n")
    print("| load | seconds | peak memory (MB) | target |")
    print("| --- | ---: | ---: | --- |")
    print(f"| cold | {cold['seconds']:.2f} | {cold['peak_mb']:.0f} | <= 20 s, <= 600 MB |")
    print(f"| warm (cached) | {warm['seconds']:.2f} | {warm['peak_mb']:.0f} | <= 1 s |")
    print("\nDuring training (`best` preset's augmented pipeline, one epoch streamed):\n")
    print("| memory | MB | target |")
    print("| --- | ---: | --- |")
    print(f"| TensorFlow runtime, before any data | {training['tf_mb']:.0f} | |")
    print(f"| data set arrays (train, val, test) | {training['data_mb']:.0f} | |")
    print(f"| data set and pipeline at their peak | {training['pipeline_peak_mb']:.0f} "
          "| < 1,024 |")
    print(f"\nPipeline alone: {training['images_per_s']:,.0f} images/s "
          f"({training['images']:,} images).")


if __name__ == "__main__":
    main()
