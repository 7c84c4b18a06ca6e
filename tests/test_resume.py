"""A training process killed with SIGKILL fails visibly, keeps its log and checkpoint, and
resumes from its last finished epoch to the full number of epochs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fer_core import runs, tasks
from fer_core.core.config import preset
from fer_core.core.errors import RunError
from fer_core.training.resume import is_resumable

REPO = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.3)


@pytest.mark.slow
def test_kill_9_mid_training_fails_then_resume_reaches_all_epochs(tmp_path):
    config = preset("fast-cpu").replace(epochs=3, finetune_epochs=2, subsample_per_class=150,
                                        early_stopping_patience=0)
    run_dir = tmp_path / "20260101-000000-killed"
    runs.create_run(config.to_dict(), run_dir=run_dir)
    runs.write_status(run_dir, queued=time.time())
    worker = subprocess.Popen([sys.executable, "-m", "fer_core", "jobs", "worker",
                               "--runs-dir", str(tmp_path)], cwd=REPO)

    # Kill the training process once two epochs are done, in the middle of the third.
    _wait_for(lambda: len(runs.read_history(run_dir)) >= 2)
    pid = runs.read_status(run_dir)["pid"]
    os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=60)

    status = runs.read_status(run_dir)
    assert runs.effective_state(status) == "failed"
    assert "killed by signal 9" in status["error"]
    assert "phase 1 epoch 2/5" in (run_dir / "log.txt").read_text()
    assert (run_dir / "model.keras").is_file() and is_resumable(run_dir)
    done_before = len(runs.read_history(run_dir))

    tasks.resume(run_dir)
    assert tasks.wait(run_dir, timeout=300) == "succeeded"

    history = runs.read_history(run_dir)
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]
    assert list(history["phase"]) == [1, 1, 1, 2, 2]
    assert done_before in (2, 3)
    log = (run_dir / "log.txt").read_text()
    assert "Resuming phase 1 after epoch" in log or "Resuming after phase 1" in log
    assert runs.read_status(run_dir)["resumed"] == 1
    assert not (run_dir / "backup").exists()


def test_resume_of_a_succeeded_run_is_refused(tmp_path):
    run_dir = tmp_path / "20260101-000000-done"
    runs.create_run({"backbone": "fer-cnn"}, run_dir=run_dir)
    runs.write_status(run_dir, state="succeeded")
    with pytest.raises(RunError, match="cannot be resumed"):
        tasks.resume(run_dir)


@pytest.mark.slow
def test_crash_mid_fine_tuning_resumes_phase_two_from_its_backup(tmp_path, monkeypatch):
    """Phase 1 is skipped (its marker), phase 2 starts from its last backed-up epoch, and the
    run ends with every epoch once."""
    from fer_core.tasks.train import train
    from fer_core.training import callbacks

    config = preset("fast-cpu").replace(epochs=2, finetune_epochs=3, subsample_per_class=40,
                                        early_stopping_patience=0)
    run_dir = tmp_path / "20260101-000000-finetune"
    saver = callbacks.BestModelSaver.on_epoch_end

    def crash_at_epoch_4(self, epoch, logs=None):
        if self.clock.done == 4:
            raise RuntimeError("machine lost")
        saver(self, epoch, logs)

    monkeypatch.setattr(callbacks.BestModelSaver, "on_epoch_end", crash_at_epoch_4)
    with pytest.raises(RuntimeError, match="machine lost"):
        train(config, run_dir)
    assert is_resumable(run_dir) and list(runs.read_history(run_dir)["epoch"]) == [1, 2, 3, 4]
    monkeypatch.undo()

    train(config, run_dir)
    history = runs.read_history(run_dir)
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]
    assert list(history["phase"]) == [1, 1, 2, 2, 2]
    log = (run_dir / "log.txt").read_text()
    assert "Resuming after phase 1" in log and "Resuming phase 2 after epoch 2" in log
    assert runs.read_status(run_dir).state == "succeeded"
