"""What a Ray job costs against a local one, and what a sweep gains from running in parallel.

    python -m bench.cluster                     # 2 single jobs per backend, then a 4-job sweep
    python -m bench.cluster --repeats 3 --epochs 2 --subsample 200

Starts a one-node Ray head on 127.0.0.1 (free ports, as many CPUs as the machine has, ended by
its process ids at the end), and runs the same small job (``fast-cpu``, demo data) through the
``local`` backend and the ``ray`` backend:

- overhead: seconds from ``tasks.launch`` to the first epoch starting (the run folder's first
  progress) and to the job's end, one job at a time;
- sweep throughput: four jobs (batch sizes 16, 32, 64, 128) launched together; the local queue
  runs them one after another, Ray as many at once as it has CPUs (1 CPU per job here; on a
  GPU cluster, 1 GPU per job).

Prints markdown tables with the machine. The jobs are small, so start-up (TensorFlow's import)
dominates: the numbers are the fixed costs, not training speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.machine import describe_machine

VENV_BIN = Path(sys.executable).parent
SWEEP_BATCH_SIZES = [16, 32, 64, 128]
TIMEOUT = 900.0


@contextmanager
def local_ray_head(num_cpus: int) -> Iterator[str]:
    """``ray start --head --block`` on 127.0.0.1 with free ports; yields the job API address.

    The job's ``python`` is the first on the head's PATH, so the venv's ``bin`` goes first, as
    after ``activate``. Ended by the process ids it started (its process tree: Ray's daemons,
    workers and job drivers), never by name: other Ray clusters on the machine are left alone.
    Shared by ``tests/test_cluster.py``.
    """
    ports = free_ports(9)
    temp = Path(tempfile.mkdtemp(prefix="fer-ray-", dir="/tmp"))  # short: socket path limit
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0")
    names = ["port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port",
             "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port",
             "node-manager-port", "object-manager-port"]
    command = [str(VENV_BIN / "ray"), "start", "--head", "--block",
               "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
               "--include-dashboard=true", "--disable-usage-stats", f"--num-cpus={num_cpus}",
               "--num-gpus=0", "--object-store-memory=150000000", f"--temp-dir={temp}",
               *(f"--{name}={port}" for name, port in zip(names, ports, strict=True))]
    log = open(temp / "ray-start.log", "wb")  # noqa: SIM115 - closed below
    head = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{ports[1]}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(address):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("The Ray head did not start: "
                                   + (temp / "ray-start.log").read_text()[-2000:])
            time.sleep(0.5)
        yield address
    finally:
        _end_tree(head.pid)
        head.wait(timeout=30)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _end_tree(root: int, *, grace: float = 8.0) -> None:
    """SIGTERM ``root`` and every process below it, SIGKILL what is left after ``grace``."""
    pids = _descendants(root) + [root]
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    """Every process below ``root``, read from /proc (parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie only waits for its parent to read its exit code)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def time_job(config, backend, root: Path) -> tuple[float, float]:
    """(seconds to the first epoch starting, seconds to the end) of one launched job."""
    from fer_core import runs, tasks

    start = time.monotonic()
    run_dir = tasks.launch(config, runs_root=root, preset="fast-cpu", backend=backend)
    first, polls = None, 0
    while time.monotonic() - start < TIMEOUT:
        status = runs.read_status(run_dir)
        if first is None and status.get("progress"):
            first = time.monotonic() - start
        if runs.effective_state(status) in runs.FINAL_STATES:
            break
        polls += 1
        if polls % 20 == 0 and tasks.refresh(run_dir) in runs.FINAL_STATES:  # ask Ray at 1 Hz
            break
        time.sleep(0.05)
    end = time.monotonic() - start
    state = runs.read_status(run_dir).get("state")
    if state != "succeeded":
        raise RuntimeError(f"{run_dir.name} ended {state}; see {run_dir / 'log.txt'}")
    return first if first is not None else end, end


def time_sweep(config, backend, root: Path) -> float:
    """Seconds from launching the 4-job sweep to its last job's end."""
    from fer_core import tasks

    start = time.monotonic()
    run_dirs = tasks.launch_sweep(config, {"batch_size": SWEEP_BATCH_SIZES}, preset="fast-cpu",
                                 runs_root=root, backend=backend)
    states = [tasks.wait(d, timeout=TIMEOUT, poll_seconds=0.1) for d in run_dirs]
    seconds = time.monotonic() - start
    if set(states) != {"succeeded"}:
        raise RuntimeError(f"sweep ended {states}; see {root}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="single jobs per backend")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--subsample", type=int, default=60, help="training images per class")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 2,
                        help="CPUs the Ray head offers (jobs take 1 each)")
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    args = parser.parse_args(argv)

    from fer_core import tasks
    from fer_core.core.config import preset
    from fer_core.data import load_dataset
    from fer_core.tasks.ray import RayBackend

    load_dataset(None)  # the demo set exists before jobs start (none of them times its making)
    config = preset("fast-cpu").replace(epochs=args.epochs,
                                        subsample_per_class=args.subsample)
    root = Path(tempfile.mkdtemp(prefix="fer-bench-cluster-"))
    singles: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
    sweeps: dict[str, float] = {}
    try:
        with local_ray_head(args.ray_cpus) as address:
            backends = {"local": lambda folder: tasks.LocalBackend(folder),
                        "ray": lambda folder: RayBackend(address)}
            for n in range(args.repeats):  # alternate, so load changes hit both alike
                for name, make in backends.items():
                    folder = root / f"{name}-single-{n}"
                    singles[name].append(time_job(config, make(folder), folder))
                    print(f"  {name} job {n + 1}: first epoch after {singles[name][-1][0]:.1f} s,"
                          f" done after {singles[name][-1][1]:.1f} s", file=sys.stderr)
            for name, make in backends.items():
                folder = root / f"{name}-sweep"
                sweeps[name] = time_sweep(config, make(folder), folder)
                print(f"  {name} sweep: {sweeps[name]:.1f} s", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"Machine: {describe_machine()}; Ray head: {args.ray_cpus} CPUs, 1 per job.")
    print(f"Job: fast-cpu, {args.epochs} epoch(s), {args.subsample} demo images per class; "
          f"mean of {args.repeats} job(s) per backend.\n")
    print("| backend | launch → first epoch (s) | launch → done (s) |")
    print("| --- | ---: | ---: |")
    means = {name: (statistics.mean(t[0] for t in times), statistics.mean(t[1] for t in times))
             for name, times in singles.items()}
    for name, (first, done) in means.items():
        print(f"| {name} | {first:.1f} | {done:.1f} |")
    print(f"| Ray overhead | {means['ray'][0] - means['local'][0]:+.1f} | "
          f"{means['ray'][1] - means['local'][1]:+.1f} |\n")
    print(f"| {len(SWEEP_BATCH_SIZES)}-job sweep | wall (s) | jobs per minute | at once |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in sweeps.items():
        at_once = 1 if name == "local" else min(args.ray_cpus, len(SWEEP_BATCH_SIZES))
        rate = len(SWEEP_BATCH_SIZES) / seconds * 60
        print(f"| {name} | {seconds:.1f} | {rate:.2f} | {at_once} |")
    return 0


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
