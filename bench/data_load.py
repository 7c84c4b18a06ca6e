"""How fast the full FER-2013 loads, cold and warm, and how much memory it takes.

    python -m bench.data_load [PATH]     # default: ../shared/fer2013

Targets on a 2-core machine: cold <= 20 s, warm (cached) <= 1 s, peak memory <= 600 MB.
Each measurement runs in a fresh process so the peak memory is that load's alone.
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


def measure(data: Path, cache: Path) -> dict:
    env = {"FER_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(data)], capture_output=True, text=True, check=True,
        env=env, cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    if not data.exists():
        sys.exit(f"No data at {data}; pass the FER-2013 folder as the first argument.")
    with tempfile.TemporaryDirectory() as cache:
        cold = measure(data, Path(cache))
        warm = measure(data, Path(cache))
    print(f"Machine: {describe_machine()}")
    print(f"Data: {data} ({cold['n']:,} images)\n")
    print("| load | seconds | peak memory (MB) | target |")
    print("| --- | ---: | ---: | --- |")
    print(f"| cold | {cold['seconds']:.2f} | {cold['peak_mb']:.0f} | <= 20 s, <= 600 MB |")
    print(f"| warm (cached) | {warm['seconds']:.2f} | {warm['peak_mb']:.0f} | <= 1 s |")


if __name__ == "__main__":
    main()
