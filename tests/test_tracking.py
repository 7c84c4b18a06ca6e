"""Tracking: TensorBoard event files in every run folder, MLflow when MLFLOW_TRACKING_URI is set.

MLflow runs on real local SQLite stores (MLflow 3 refuses a plain folder store). One small
run (``fast-cpu``, 2 epochs, 60 demo images per class) is trained once per module with the
tracking URI set; the ``slow`` tests read what it logged and compare it with its run folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from fer_core import runs, tracking
from fer_core.core import atomic
from fer_core.core.config import preset
from fer_core.core.errors import RunError

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "20260101-000000-fast-cpu"


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def mlflow_run(uri: str, run_id: str):
    """The MLflow run logged for a run folder, found by its ``fer.run_id`` tag."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    [found] = client.search_runs(experiments, filter_string=f"tags.`fer.run_id` = '{run_id}'")
    return client, found


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A run trained in this process with MLFLOW_TRACKING_URI pointing at a fresh store."""
    pytest.importorskip("mlflow", reason="mlflow (requirements-cluster.txt) is not installed")
    from fer_core.tasks.train import train

    base = tmp_path_factory.mktemp("tracking")
    uri = sqlite_uri(base / "mlflow.db")
    run_dir = base / "runs" / RUN_ID
    config = preset("fast-cpu").replace(epochs=2, subsample_per_class=60)
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": "fast-cpu"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        train(config, run_dir)
    client, run = mlflow_run(uri, RUN_ID)
    yield {"base": base, "uri": uri, "run_dir": run_dir, "client": client, "run": run}


# --- MLflow, logged by training ------------------------------------------------------------------

@pytest.mark.slow
def test_tracked_run_logs_its_config_as_parameters(tracked: dict) -> None:
    params = tracked["run"].data.params
    config = runs.read_config(tracked["run_dir"])["config"]
    assert set(params) == set(config) | {"preset"}
    assert params["batch_size"] == str(config["batch_size"])
    assert float(params["learning_rate"]) == config["learning_rate"]
    assert params["backbone"] == config["backbone"] and params["preset"] == "fast-cpu"
    assert json.loads(params["drop_classes"]) == config["drop_classes"]


@pytest.mark.slow
def test_tracked_run_logs_every_epoch_as_it_is_in_history(tracked: dict) -> None:
    history = runs.read_history(tracked["run_dir"])
    for name in ("loss", "val_accuracy"):
        logged = tracked["client"].get_metric_history(tracked["run"].info.run_id, name)
        assert [(m.step, m.value) for m in sorted(logged, key=lambda m: m.step)] == [
            (int(row.epoch), float(getattr(row, name))) for row in history.itertuples()]
    assert len(history) == 2


@pytest.mark.slow
def test_tracked_run_final_metrics_match_metrics_json(tracked: dict) -> None:
    logged = tracked["run"].data.metrics
    metrics = runs.read_metrics(tracked["run_dir"])
    for split, prefix in (("val", "final_val"), ("test", "test")):
        for name in ("accuracy", "loss", "macro_f1"):
            assert logged[f"{prefix}_{name}"] == pytest.approx(metrics[split][name])
    for name, scores in metrics["test"]["per_class"].items():
        assert logged[f"test_f1_{name}"] == pytest.approx(scores["f1-score"])


@pytest.mark.slow
def test_tracked_run_artifacts_hold_model_confusion_matrix_and_report(tracked: dict) -> None:
    client, run_id = tracked["client"], tracked["run"].info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.json", "metrics.json", "history.csv", "predictions.csv", "log.txt",
            "confusion_matrix.csv", "classification_report.csv", "report.html", "MODEL_CARD.md",
            "model"} <= names
    assert [a.path for a in client.list_artifacts(run_id, "model")] == ["model/model.keras"]
    folder = Path(client.download_artifacts(run_id, "", str(tracked["base"] / "download")))
    metrics = runs.read_metrics(tracked["run_dir"])
    matrix = pd.read_csv(folder / "confusion_matrix.csv", index_col=0)
    assert matrix.values.tolist() == metrics["test"]["confusion_matrix"]
    assert list(matrix.columns) == metrics["classes"]
    report = pd.read_csv(folder / "classification_report.csv", index_col=0)
    assert report.loc["happy", "f1-score"] == pytest.approx(
        metrics["test"]["per_class"]["happy"]["f1-score"])
    assert (folder / "model" / "model.keras").read_bytes() == (
        tracked["run_dir"] / "model.keras").read_bytes()


@pytest.mark.slow
def test_tracked_run_is_in_an_experiment_named_after_the_data_set(tracked: dict) -> None:
    run = tracked["run"]
    experiment = tracked["client"].get_experiment(run.info.experiment_id)
    assert experiment.name == runs.read_config(tracked["run_dir"])["data"]["name"]
    assert experiment.artifact_location.startswith((tracked["base"] / "mlartifacts").as_uri())
    assert run.info.status == "FINISHED" and run.info.run_name == RUN_ID
    status = runs.read_status(tracked["run_dir"])
    assert status["state"] == "succeeded" and status["mlflow_run_id"] == run.info.run_id


@pytest.mark.slow
def test_export_of_a_run_already_logged_logs_nothing_new(tracked: dict) -> None:
    again = tracking.export_run(tracked["run_dir"], tracking_uri=tracked["uri"])
    assert again == (tracked["run"].info.run_id, False)


@pytest.mark.slow
def test_cli_export_mlflow_sends_an_existing_run_to_another_store(tracked: dict) -> None:
    other = sqlite_uri(tracked["base"] / "other.db")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "fer_core", "runs", "export-mlflow", str(tracked["run_dir"]),
         "--tracking-uri", other], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr
    _, run = mlflow_run(other, RUN_ID)
    assert f"{RUN_ID}: MLflow run {run.info.run_id}" in done.stdout
    assert run.data.metrics["test_accuracy"] == pytest.approx(
        runs.read_metrics(tracked["run_dir"])["test"]["accuracy"])


# --- TensorBoard ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_run_writes_tensorboard_scalars_for_each_epoch(tracked: dict) -> None:
    """What ``tensorboard --logdir runs/`` reads: one run per phase and split, per folder."""
    import tensorflow as tf

    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    board = EventMultiplexer().AddRunsFromDirectory(str(tracked["run_dir"].parent))
    board.Reload()
    train_run = f"{RUN_ID}/tensorboard/phase1/train"
    assert {train_run, f"{RUN_ID}/tensorboard/phase1/validation"} <= set(board.Runs())
    events = board.Tensors(train_run, "epoch_loss")
    history = runs.read_history(tracked["run_dir"])
    assert [e.step for e in events] == [0, 1]
    assert [float(tf.make_ndarray(e.tensor_proto)) for e in events] == pytest.approx(
        history["loss"].tolist(), rel=1e-5)


# --- without a tracking server -------------------------------------------------------------------

def finished_run(root: Path) -> Path:
    """A small succeeded run folder written by hand (no training)."""
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=root / RUN_ID)
    atomic.write_json(run_dir / "metrics.json", {"classes": ["happy", "sad"], "test": {
        "n": 2, "accuracy": 0.5, "loss": 0.7, "macro_f1": 0.33,
        "per_class": {"happy": {"f1-score": 0.67}, "sad": {"f1-score": 0.0}},
        "confusion_matrix": [[1, 0], [1, 0]]}})
    runs.write_status(run_dir, state="succeeded")
    return run_dir


def test_training_without_tracking_uri_logs_nothing_and_never_imports_mlflow(
        tmp_path: Path) -> None:
    run_dir = finished_run(tmp_path)
    code = ("import sys; from pathlib import Path; import fer_core.training.trainer; "
            "from fer_core.tracking import log_finished as _track; "
            f"print(_track(Path({str(run_dir)!r}), 'succeeded'), 'mlflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{} False"


def test_tracking_failure_is_recorded_and_never_fails_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fer_core.tracking import log_finished as _track

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "no-such-store://nowhere")
    recorded = _track(finished_run(tmp_path), "succeeded")
    assert set(recorded) == {"mlflow_error"} and recorded["mlflow_error"]


def test_export_of_an_unfinished_run_is_refused(tmp_path: Path) -> None:
    run_dir = runs.create_run(preset("fast-cpu").to_dict(), run_dir=tmp_path / RUN_ID)
    runs.write_status(run_dir, state="running")
    with pytest.raises(RunError, match="only a finished run"):
        tracking.export_run(run_dir, tracking_uri=sqlite_uri(tmp_path / "mlflow.db"))


def test_export_without_tracking_uri_says_how_to_set_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RunError, match="MLFLOW_TRACKING_URI"):
        tracking.export_run(finished_run(tmp_path))
