"""The ``ray`` job backend: one Ray job per run, through Ray's job API.

A launch submits the local job's own command line with the code as working folder and GPUs/CPUs
as its reservation: Ray's queue decides where and when each runs, so a sweep runs as many jobs
at once as the cluster has GPUs. The runs folder is a path every node shares, where the job
writes its folder as a local job does; Ray is asked only what a folder cannot say: whether a job
that never wrote its end (killed, never started, its node lost) failed or was stopped.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fer_core import runs
from fer_core.core import settings
from fer_core.core.errors import ConfigError, FerError, RunError
from fer_core.runs import lognoise
from fer_core.tasks.kinds import COORDINATOR, HEAVY
from fer_core.tasks.local import command, lane_of, runs_root_of

# Never shipped with a job: the venv (each node has its own), what lives on the shared mount
# (runs, models, data, tracking stores), history, caches, docs. Top-level folders are anchored
# ("/runs", as in .gitignore): the code has a package of the same name (fer_core/runs).
EXCLUDES = ["/.venv", "/runs", "/.git", "/bench-runs", "/docs", "*.keras", "*.h5", "*.zip", "*.csv",
            "*.npz", "*.npy", "*.db", "mlruns", "mlartifacts", "__pycache__", ".pytest_cache",
            ".ruff_cache", ".hypothesis", ".cache"]
# Ray kills a job this many seconds after its SIGTERM (3 s by default): enough for training to
# finish its step and evaluate the best model, as a cancelled local job does.
STOP_GRACE_SECONDS = 120
RETRY_SECONDS = 10.0  # an unreachable cluster is asked again by listings after this long
RAY_FINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
LOG_HEADER = "\n----- Ray job log ({job_id}, {state}) -----\n"

log = logging.getLogger("fer_core.tasks")
_clients: dict[str, Any] = {}
_unreachable: dict[str, float] = {}  # address -> time.monotonic() of the last failure
_lock = threading.Lock()


def job_api_address(address: str | None) -> str:
    """The Ray dashboard's HTTP address, the only one the job API speaks: without a scheme
    the Ray client would take ``head:8265`` for a GCS address and hang for 30 s."""
    text = (address or "").strip().rstrip("/")
    if not text:
        raise ConfigError("The ray backend needs the cluster's address: set RAY_ADDRESS (e.g. "
                          "http://head:8265, the Ray dashboard) or enter it in the sidebar.")
    if "://" not in text:
        text = f"http://{text}"
    if urlparse(text).scheme not in ("http", "https"):
        raise ConfigError(f"RAY_ADDRESS must be the Ray dashboard's http address such as "
                          f"http://head:8265; got {address!r}.")
    return text


def client(address: str, *, background: bool = False):
    """A connected ``JobSubmissionClient``, one per address for the process. A ``background``
    call does not try a failed address again for :data:`RETRY_SECONDS`, so a page polling a
    dead cluster stays fast."""
    address = job_api_address(address)
    with _lock:
        if address in _clients:
            return _clients[address]
        failed = _unreachable.get(address)
    if background and failed is not None and time.monotonic() - failed < RETRY_SECONDS:
        raise RunError(f"The Ray cluster at {address} could not be reached a moment ago.")
    from ray.job_submission import JobSubmissionClient

    _quiet_ray_logging()  # after the import: Ray's modules set their own levels on import
    try:
        made = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, OSError, ValueError) as err:
        with _lock:
            _unreachable[address] = time.monotonic()
        raise RunError(
            f"Could not reach the Ray job API at {address} ({err}). Is `ray start --head` "
            "running there, and is RAY_ADDRESS the dashboard address (http://head:8265), not "
            "the GCS port 6379?"
        ) from err
    with _lock:
        _unreachable.pop(address, None)
        return _clients.setdefault(address, made)


def runtime_env(runs_root: Path) -> dict[str, Any]:
    return {"working_dir": str(settings.PROJECT_ROOT), "excludes": list(EXCLUDES), "env_vars": {
        "FER_RUNS_DIR": str(Path(runs_root).expanduser().resolve()),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_SECONDS),
        **settings.for_jobs_elsewhere(),
    }}


def entrypoint(run_dir: Path) -> str:
    """Exactly a local job's command line; ``python`` is the one on the node's PATH."""
    return shlex.join(["python", *command(run_dir)])


class RayBackend:
    name = "ray"

    def __init__(self, address: str | None, *, num_gpus: float = 0, num_cpus: float = 1
                 ) -> None:
        self.address = job_api_address(address)
        if num_gpus < 0 or num_cpus < 0:
            raise ConfigError("GPUs and CPUs per Ray job cannot be negative.")
        self.num_gpus, self.num_cpus = num_gpus, num_cpus
        self.description = f"the Ray cluster at {self.address}"

    @classmethod
    def from_ref(cls, ref: runs.BackendRef) -> RayBackend:
        return cls(ref.address, num_gpus=ref.gpus, num_cpus=ref.cpus)

    def submit(self, run_dir: Path) -> None:
        """Hand the queued run to Ray, recording its job id first: the job writes
        ``status.json`` as soon as it starts, and a later write could overwrite that."""
        run_dir = Path(run_dir).expanduser().resolve()
        resumed = runs.read_status(run_dir).resumed  # an attempt's own id: Ray never reuses one
        job_id = f"{run_dir.name}-resume{resumed}" if resumed else run_dir.name
        runs.set_backend(run_dir, runs.BackendRef(self.name, self.address, job_id,
                                                  self.num_gpus, self.num_cpus))
        api = client(self.address)
        lane = lane_of(run_dir)  # an export or a video needs no GPU; a search waits on trials
        try:
            api.submit_job(entrypoint=entrypoint(run_dir), submission_id=job_id,
                           runtime_env=runtime_env(runs_root_of(run_dir)),
                           metadata={"fer_run_id": run_dir.name, "fer_run_dir": str(run_dir)},
                           entrypoint_num_gpus=self.num_gpus if lane == HEAVY else 0,
                           entrypoint_num_cpus=0 if lane == COORDINATOR else self.num_cpus)
        except (ConnectionError, RuntimeError, OSError, ValueError) as err:
            raise RunError(f"Ray did not accept job {job_id}: {_first_line(err)}") from err
        log.info("Submitted %s to Ray at %s.", job_id, self.address)

    def cancel(self, run_dir: Path) -> None:
        """SIGTERM through Ray: the run ends as cancelled after its step. One Ray has not
        started is recorded as cancelled at once: Ray cannot drop a pending job, and the job's
        own start refuses a run already cancelled (``fer_core.cli``)."""
        status = runs.read_status(run_dir)
        if status.ended:
            return
        runs.request_cancel(run_dir)
        try:
            client(status.backend.address or self.address).stop_job(
                status.backend.job_id or run_dir.name)
        except (ConnectionError, RuntimeError, OSError) as err:
            raise RunError(f"Ray could not stop {run_dir.name}: {_first_line(err)}") from err
        if runs.read_status(run_dir).state == "queued":
            runs.finish(run_dir, "cancelled")

    def status(self, run_dir: Path) -> str:
        return runs.effective_state(sync_status(run_dir, background=False))

    def log_tail(self, run_dir: Path, lines: int = 40) -> str:
        """The live log of a queued or running Ray job (Ray's, which includes runtime set-up
        and everything the process printed); the run folder's ``log.txt`` once it ended."""
        status = runs.read_status(run_dir)
        text = "" if status.ended or not status.backend.job_id else _job_logs(
            status.backend.address, status.backend.job_id, background=True)
        if not text:
            return runs.read_log_tail(run_dir, lines=lines)
        return "\n".join(lognoise.without_noise(text).splitlines()[-lines:])


def sync_status(run_dir: Path, *, background: bool = True) -> runs.Status:
    """Bring a Ray run's ``status.json`` up to date with what Ray knows; return the status.
    Ray saying FAILED or STOPPED (or SUCCEEDED, when the folder never heard of it: a runs
    folder that is not shared) ends the run as failed or cancelled, with Ray's message and log."""
    status = runs.read_status(run_dir)
    job_id, address = status.backend.job_id, status.backend.address
    if status.backend.kind != RayBackend.name or status.ended or not job_id:
        return status
    try:
        info = client(address, background=background).get_job_info(job_id)
    except (RunError, ConnectionError, OSError):
        return status  # unreachable: nothing is known, nothing changes
    except RuntimeError as err:
        if "does not exist" not in str(err):
            return status
        return _end(run_dir, "failed", f"The Ray cluster at {address} has no job {job_id} "
                    "(it was restarted, or the job was deleted).", logs=None, job_id=job_id)
    ray_state = getattr(info.status, "value", str(info.status))
    if info.driver_node_id and status.backend.node_id != info.driver_node_id:
        node = urlparse(info.driver_agent_http_address or "").hostname
        status = runs.set_backend(run_dir, replace(status.backend, node_id=info.driver_node_id,
                                                   node=node))
    if ray_state not in RAY_FINAL:
        return status
    status = runs.read_status(run_dir)  # the job may have written its end since we asked
    if status.ended:
        return status
    if ray_state == "STOPPED" or status.cancel_requested:
        state, error = "cancelled", None
    elif ray_state == "SUCCEEDED":
        state, error = "failed", (
            f"Ray reports job {job_id} succeeded, but the run folder never recorded its end: "
            "the runs folder must be a path every node shares (FER_RUNS_DIR).")
    else:
        state, error = "failed", (f"Ray job {job_id} failed: {_first_line(info.message)} "
                                  "See the log.")
    return _end(run_dir, state, error, logs=_job_logs(address, job_id), job_id=job_id,
                ray_state=ray_state)


def _end(run_dir: Path, state: str, error: str | None, *, logs: str | None, job_id: str,
         ray_state: str = "unknown") -> runs.Status:
    if logs:
        with open(runs.files(run_dir).log, "a", encoding="utf-8") as handle:
            handle.write(LOG_HEADER.format(job_id=job_id, state=ray_state) + logs)
    log.info("Ray job %s ended as %s; run %s recorded as %s.", job_id, ray_state, run_dir.name,
             state)
    runs.set_backend(run_dir, replace(runs.read_status(run_dir).backend, final_state=ray_state))
    return runs.finish(run_dir, state, error=error)


def _job_logs(address: str | None, job_id: str, *, background: bool = False) -> str:
    try:
        return client(address or "", background=background).get_job_logs(job_id)
    except (FerError, ConnectionError, RuntimeError, OSError):
        return ""


def _first_line(value: object) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0] if text else "no message"


def _quiet_ray_logging() -> None:
    """Ray's client logs each file it leaves out of a package at INFO: a flood in the terminal."""
    for name in ("ray", "ray._private.runtime_env", "ray.dashboard",
                 "ray.dashboard.modules.dashboard_sdk"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    logging.getLogger("ray._private.runtime_env.working_dir").setLevel(logging.ERROR)

