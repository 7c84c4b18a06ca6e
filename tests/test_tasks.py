"""One task system: a kind, a spec and a folder with one contract (status, progress, cancel,
log), run by the local queue's two lanes. A dummy kind (``tests/dummy_task.py``) is registered
here and runs with no change to the backends; the real kinds run in ``slow`` tests, here
and on a real Ray head (``test_cluster.py``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fer_core import runs, tasks
from fer_core.core.errors import RunError
from fer_core.data import DataRef
from fer_core.runs import task_folders
from fer_core.tasks import estimate, export, suspects, video
from fer_core.tasks.kinds import KINDS, register
from fer_core.tasks.local import heavy_job_running
from tests import dummy_task
from tests.conftest import make_kaggle_tree
from tests.job_support import long_tiny, poll
from tests.video_support import face_clip

TIMEOUT = 240  # seconds; a light task is mostly its process's start-up


@pytest.fixture(autouse=True)
def dummy_kinds():
    """The test's kinds are known to this process only while a test runs."""
    register(dummy_task.LIGHT)
    register(dummy_task.HEAVY)
    yield
    KINDS.pop(dummy_task.LIGHT.name)
    KINDS.pop(dummy_task.HEAVY.name)


def running_with_progress(status) -> bool:
    return runs.effective_state(status) == "running" and bool(
        status.progress and status.progress.stage)


def test_registered_kind_runs_in_its_own_process_with_progress_and_a_result(tmp_path: Path):
    task = tasks.submit("dummy", {"steps": 3}, subject="x", runs_root=tmp_path)
    assert task.parent == task_folders.root(tmp_path)  # beside the runs, out of their listing
    assert runs.run_folders(tmp_path) == []
    assert tasks.wait(task, timeout=TIMEOUT) == "succeeded"
    status = runs.read_status(task)
    assert status.progress.fraction == 1.0 and status.progress.stage == "step 3 of 3"
    result = task_folders.read_result(task)
    assert result["steps"] == 3 and result["pid"] != os.getpid()
    assert "Task " in runs.read_log_tail(task)
    assert task_folders.latest("dummy", "x", runs_root=tmp_path) == task


def test_cancel_stops_a_running_task_at_its_next_step(tmp_path: Path):
    task = tasks.submit("dummy", {"steps": 600, "seconds": 0.1}, runs_root=tmp_path)
    poll(task, running_with_progress, timeout=TIMEOUT)
    tasks.cancel(task)
    assert tasks.wait(task, timeout=60) == "cancelled"
    assert task_folders.read_result(task) is None


def test_a_light_task_runs_beside_a_heavy_one_and_a_heavy_one_waits(tmp_path: Path):
    """Heavy kinds (what trains) take turns; light kinds have their own lane beside them."""
    first = tasks.submit("dummy-heavy", {"steps": 600, "seconds": 0.1}, runs_root=tmp_path)
    poll(first, running_with_progress, timeout=TIMEOUT)
    second = tasks.submit("dummy-heavy", {"steps": 1}, runs_root=tmp_path)
    light = tasks.submit("dummy", {"steps": 2}, runs_root=tmp_path)
    assert tasks.wait(light, timeout=TIMEOUT) == "succeeded"
    assert runs.read_status(second).state == "queued"  # behind the heavy one still running
    assert heavy_job_running(tmp_path)  # what an estimate taken now says of itself
    tasks.cancel(first)
    assert tasks.wait(second, timeout=TIMEOUT) == "succeeded"
    assert not heavy_job_running(tmp_path)
    assert sorted(job.kind for job in tasks.list_jobs(tmp_path)) == [
        "dummy", "dummy-heavy", "dummy-heavy"]


def test_failed_task_keeps_its_error_and_a_retry_runs_it_again(tmp_path: Path):
    task = tasks.submit("dummy", {"steps": 1, "fail_once": str(tmp_path / "tried")},
                        runs_root=tmp_path)
    assert tasks.wait(task, timeout=TIMEOUT) == "failed"
    assert runs.read_status(task).error == "RuntimeError: the first attempt fails"
    assert "the first attempt fails" in tasks.log_tail(task)
    tasks.retry(task)
    assert tasks.wait(task, timeout=TIMEOUT) == "succeeded"
    assert task_folders.read_result(task)["steps"] == 1
    with pytest.raises(RunError, match="cannot be retried"):
        tasks.retry(task)  # only a failed or cancelled task


def test_clean_removes_ended_tasks_only(tmp_path: Path):
    done = tasks.submit("dummy", {"steps": 1}, runs_root=tmp_path)
    tasks.wait(done, timeout=TIMEOUT)
    queued = task_folders.create_task(task_folders.new_task_dir("dummy", runs_root=tmp_path),
                                      task_folders.TaskRecord("dummy"), backend="none")
    assert task_folders.clean(runs_root=tmp_path, older_than_days=0) == [done]
    assert queued.exists() and not done.exists()


# --- the real kinds, through the local queue ------------------------------------------------------

def submit_every_kind(root: Path, run: Path, clip: Path, data: Path, backend=None
                      ) -> dict[str, Path]:
    """One task of each kind that is not training (training has its own tests), queued at once."""
    ref = DataRef.parse(str(data))
    ds = ref.load()
    return {
        "export": tasks.submit(export.KIND, export.spec(run, "tflite"), subject=run.name,
                               runs_root=root, backend=backend),
        "video": tasks.submit(video.KIND, video.spec([run], clip, every=2),
                              subject=video.subject([run]), inputs={clip.name: clip},
                              runs_root=root, backend=backend),
        "estimate": tasks.submit(estimate.KIND, estimate.spec(
            suspects.pass_config(epochs=1).replace(data=str(data))), runs_root=root,
            backend=backend),
        "suspects": tasks.submit(suspects.KIND, suspects.spec(ref, ds, folds=2, epochs=1),
                                 subject=ds.fingerprint, runs_root=root, backend=backend),
    }


def check_every_kind(submitted: dict[str, Path]) -> None:
    for kind, task in submitted.items():
        assert tasks.wait(task, timeout=900) == "succeeded", (kind, runs.read_log_tail(task))
        assert runs.read_status(task).progress.stage, kind  # it said what it was doing
    result = {kind: task_folders.read_result(task) for kind, task in submitted.items()}
    assert result["export"]["entries"][0]["format"] == "tflite"
    assert result["video"]["frames_scored"] == 6
    assert result["estimate"]["seconds"] > 0
    assert result["suspects"]["n_images"] == 40


def task_inputs(tmp_path: Path, demo_run: Path) -> dict:
    """What ``submit_every_kind`` needs: a runs folder with a finished run, a clip, data."""
    root = tmp_path / "runs"
    run = Path(shutil.copytree(demo_run, root / demo_run.name))
    return {"root": root, "run": run, "clip": face_clip(tmp_path / "faces.mp4"),
            "data": make_kaggle_tree(tmp_path / "tiny", {"happy": 20, "sad": 20})}


def cancel_while_it_runs(submitted: dict[str, Path], kind: str) -> str:
    """Cancel the other tasks, then ``kind``'s once it runs and reports; its final state."""
    for other, task in submitted.items():
        if other != kind:
            tasks.cancel(task)
    poll(submitted[kind], running_with_progress, timeout=TIMEOUT)
    tasks.cancel(submitted[kind])
    return tasks.wait(submitted[kind], timeout=TIMEOUT)


@pytest.fixture
def inputs(tmp_path: Path, demo_run: Path) -> dict:
    return task_inputs(tmp_path, demo_run)


@pytest.mark.slow
def test_every_kind_runs_through_the_local_queue(inputs: dict):
    check_every_kind(submit_every_kind(**inputs))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["export", "video", "estimate", "suspects"])
def test_every_kind_can_be_cancelled_while_it_runs(inputs: dict, kind: str):
    assert cancel_while_it_runs(submit_every_kind(**inputs), kind) == "cancelled"


@pytest.mark.slow
def test_suspects_pass_waits_behind_a_running_training_job(tmp_path: Path):
    root = tmp_path / "runs"
    training = tasks.launch(long_tiny(), runs_root=root)
    poll(training, lambda s: runs.effective_state(s) == "running", timeout=TIMEOUT)
    data = make_kaggle_tree(tmp_path / "tiny", {"happy": 20, "sad": 20})
    ref = DataRef.parse(str(data))
    ds = ref.load()
    task = tasks.submit(suspects.KIND, suspects.spec(ref, ds, folds=2, epochs=1),
                        subject=ds.fingerprint, runs_root=root)
    poll(training, lambda s: bool(s.progress and s.progress.epoch), timeout=TIMEOUT)
    assert runs.read_status(task).state == "queued"  # not sharing the cores with training
    tasks.cancel(training)
    assert tasks.wait(task, timeout=600) == "succeeded"
