"""The trainer's loggers and backups: TensorBoard without its package, MLflow live and its
replay after a tracking failure, and resuming a phase without Keras' private attributes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs, tracking
from fer_core.core.config import preset
from fer_core.training import resume
from fer_core.training.loggers import Loggers

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "20260101-000000-live"


# --- TensorBoard ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_without_the_tensorboard_package_succeeds_and_says_so_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requirements.txt has no tensorboard: a run must not fail at its first epoch."""
    from fer_core.tasks.train import train

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now fails
    run_dir = tmp_path / "no-tensorboard"
    train(preset("fast-cpu").replace(epochs=1, finetune_epochs=1, subsample_per_class=30,
                                     tta=False), run_dir)
    assert runs.read_status(run_dir).state == "succeeded"
    assert len(runs.read_history(run_dir)) == 2
    log_text = runs.files(run_dir).log.read_text()
    assert log_text.count("TensorBoard skipped") == 1
    assert not runs.files(run_dir).tensorboard.exists()


# --- MLflow, live --------------------------------------------------------------------------------

def epoch_row(epoch: int) -> dict:
    return {"phase": 1, "epoch": epoch, "loss": 2.0 - epoch / 10, "accuracy": 0.2 + epoch / 20,
            "val_loss": 2.1 - epoch / 10, "val_accuracy": 0.15 + epoch / 20,
            "learning_rate": 1e-3, "seconds": 1.5}


def running_run(root: Path) -> Path:
    """A run folder as training leaves it before its first epoch (config with its data)."""
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=root / RUN_ID,
                              extra={"data": {"name": "Live test"}})
    runs.start(run_dir, pid=1)
    return run_dir


def test_mlflow_logs_live_then_the_replay_fills_in_after_a_tracking_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    pytest.importorskip("mlflow", reason="mlflow (requirements-cluster.txt) is not installed")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    run_dir = running_run(tmp_path)
    logger = tracking.MLflowLogger(run_dir, tracking_uri=uri)
    runs.append_history(run_dir, epoch_row(1))
    logger.on_epoch(epoch_row(1))
    logger.flush()
    client = MlflowClient(tracking_uri=uri)
    live = client.get_run(logger.mlflow_id)
    assert live.info.status == "RUNNING" and live.data.tags["fer.run_id"] == RUN_ID
    assert live.data.metrics["val_accuracy"] == pytest.approx(0.2)  # while it trains
    assert live.data.params["backbone"] == "fer-cnn"

    calls = []

    def server_down(self, *args, **kwargs):
        calls.append(args)
        raise ConnectionError("tracking server down")

    monkeypatch.setattr(MlflowClient, "log_batch", server_down)
    with caplog.at_level(logging.WARNING, logger="fer_core.tracking"):
        for epoch in (2, 3):
            runs.append_history(run_dir, epoch_row(epoch))
            logger.on_epoch(epoch_row(epoch))
        logger.flush()
    assert len(calls) == 1, "live logging stops at its first failure"
    assert [r.message for r in caplog.records].count(
        "MLflow live logging stopped: ConnectionError: tracking server down. The run is "
        "logged in full when it ends.") == 1
    monkeypatch.undo()

    runs.write_metrics(run_dir, {"classes": ["happy", "sad"], "epochs": 3, "test": {
        "n": 2, "accuracy": 0.5, "loss": 0.7, "macro_f1": 0.33, "per_class": {}}})
    assert logger.on_end("succeeded") == {"mlflow_run_id": logger.mlflow_id}
    [run] = client.search_runs([live.info.experiment_id],
                               filter_string=f"tags.`fer.run_id` = '{RUN_ID}'")
    assert run.info.run_id == logger.mlflow_id and run.info.status == "FINISHED"
    assert run.data.tags["fer.state"] == "succeeded"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    logged = sorted((m.step, m.value) for m in history)  # each epoch once: none twice
    assert [step for step, _ in logged] == [1, 2, 3]
    assert [value for _, value in logged] == pytest.approx([0.2, 0.25, 0.3])
    assert run.data.metrics["test_accuracy"] == 0.5
    runs.finish(run_dir, "succeeded")
    assert tracking.export_run(run_dir, tracking_uri=uri) == (run.info.run_id, False)


def test_mlflow_logger_with_no_server_costs_a_warning_and_an_error_field(
        tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="mlflow (requirements-cluster.txt) is not installed")
    run_dir = running_run(tmp_path)
    logger = tracking.MLflowLogger(run_dir, tracking_uri="no-such-store://nowhere")
    logger.on_epoch(epoch_row(1))
    runs.write_metrics(run_dir, {"test": {"accuracy": 0.5}})
    fields = logger.on_end("succeeded")
    assert logger.failed and set(fields) == {"mlflow_error"}


def test_a_logger_failing_at_the_end_never_fails_the_run() -> None:
    class Broken:
        def on_end(self, state: str) -> dict:
            raise OSError("disk gone")

    class Fine:
        def on_end(self, state: str) -> dict:
            return {"mlflow_run_id": "abc"}

    assert Loggers(Broken(), None, Fine()).on_end("succeeded") == {"mlflow_run_id": "abc"}


# --- backups and resume --------------------------------------------------------------------------

def small_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(keras.optimizers.Adam(1e-2), loss="mse")
    return model


@pytest.mark.slow  # fits a (tiny) model: the fast tier trains none
def test_a_phase_resumes_from_its_backup_with_optimizer_state_and_initial_epoch(
        tmp_path: Path) -> None:
    """The backup holds the last finished epoch; ``fit`` is told where to start, and no
    private Keras attribute is left on the model to cut a later fit short."""
    import keras

    from fer_core.training.callbacks import PhaseBackup

    run_dir = runs.create_run({}, run_dir=tmp_path / "resumed")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 3))

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            if epoch == 3:
                raise RuntimeError("killed")

    first = small_model()
    with pytest.raises(RuntimeError, match="killed"):
        first.fit(x, y, epochs=5, verbose=0, callbacks=[PhaseBackup(run_dir, 1), Crash()])
    assert resume.restored_epochs(run_dir, 1) == 3
    assert [p.name for p in resume.backups(run_dir, 1)] == ["epoch0003.weights.h5"]
    assert resume.is_resumable(run_dir)

    second = small_model()
    assert resume.restore(second, run_dir, 1) == 3
    assert int(second.optimizer.iterations) == int(first.optimizer.iterations)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b)
    done = second.fit(x, y, initial_epoch=3, epochs=5, verbose=0,
                      callbacks=[PhaseBackup(run_dir, 1)])
    assert len(done.history["loss"]) == 2
    assert not resume.backup_dir(run_dir, 1).exists()  # a phase that ends drops its backup
    assert len(second.fit(x, y, epochs=2, verbose=0).history["loss"]) == 2
