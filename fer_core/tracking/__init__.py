"""MLflow tracking, only when asked for: ``MLFLOW_TRACKING_URI`` set (runs then log live as they
train), or an explicit ``python -m fer_core runs export-mlflow``. Without either, mlflow is
never imported.

A run becomes one MLflow run, tagged ``fer.run_id``, in an experiment named after its data set.
At the end :func:`export_run` replays the run folder into that MLflow run and fills in what
live logging missed, so a run logged live and one exported later hold the same, and the run
folder stays the source of truth.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from fer_core import runs
from fer_core.core import settings
from fer_core.core.errors import RunError
from fer_core.training.loggers import METRICS, RunLogger

RUN_ID_TAG = "fer.run_id"
DEFAULT_EXPERIMENT = "FER Studio"
# history.csv column -> MLflow metric
HISTORY_METRICS = {**{name: name for name in (*METRICS, "learning_rate")},
                   "seconds": "epoch_seconds"}
TRACKED_STATES = ("succeeded", "cancelled")
ENDED = ("FINISHED", "KILLED")

log = logging.getLogger("fer_core.tracking")


def enabled() -> bool:
    """Whether runs log to MLflow as they train: only with ``MLFLOW_TRACKING_URI`` set."""
    return settings.mlflow_tracking_uri() is not None


def export_run(run_dir: Path, *, tracking_uri: str | None = None, state: str | None = None
               ) -> tuple[str, bool]:
    """Log one finished run; return (MLflow run id, whether it was logged now). ``state``
    stands in for the folder's state while training writes its end (the job logs before it says
    "succeeded"). A run already logged in full (same ``fer.run_id``, ended) is left as it is;
    one logged in part (live while training, or an export that failed half-way) is completed."""
    run_dir = Path(run_dir)
    uri = tracking_uri or settings.mlflow_tracking_uri()
    if uri is None:
        raise RunError("No MLflow server given: set MLFLOW_TRACKING_URI (e.g. "
                       "sqlite:////path/mlflow.db or http://mlflow:5000) or pass --tracking-uri.")
    record = runs.read_config(run_dir)
    status = runs.read_status(run_dir)
    state = state or runs.effective_state(status)
    metrics = runs.read_metrics(run_dir)
    if state not in TRACKED_STATES or metrics is None:
        raise RunError(f"Run {run_dir.name} is {state}: only a finished run (succeeded or "
                       "cancelled, with metrics.json) can be logged to MLflow.")
    client, run = _open_run(uri, run_dir, record, status, state)
    if run.info.status in ENDED:
        return run.info.run_id, False
    tags = _tags(run_dir, record, status, state)  # an earlier, partial one holds older tags
    mlflow_id = run.info.run_id
    try:
        _log_values(client, run, record, metrics, runs.read_history(run_dir), tags)
        _log_files(client, mlflow_id, run_dir, metrics)
    except BaseException:
        client.set_terminated(mlflow_id, status="FAILED")
        raise
    client.set_terminated(mlflow_id, status="FINISHED" if state == "succeeded" else "KILLED",
                          end_time=_millis(status.finished))  # now, if it has no end yet
    return mlflow_id, True


def log_finished(run_dir: Path, state: str, *, tracking_uri: str | None = None
                 ) -> dict[str, Any]:
    """:func:`export_run` for a job that just ended, as status fields: the MLflow run id, or
    the error. A tracking server that is down costs a warning, never the trained model."""
    if (tracking_uri or settings.mlflow_tracking_uri()) is None:
        return {}
    try:
        mlflow_id, _ = export_run(run_dir, tracking_uri=tracking_uri, state=state)
    except Exception as err:  # any MLflow failure must leave the run intact
        log.warning("MLflow logging failed: %s: %s", type(err).__name__, err)
        return {"mlflow_error": f"{type(err).__name__}: {err}"}
    log.info("Logged to MLflow as run %s.", mlflow_id)
    return {"mlflow_run_id": mlflow_id}


class MLflowLogger(RunLogger):
    """Log a run to MLflow while it trains. Every call to MLflow runs on one worker thread, in
    order, so training never waits for the tracking server. The first failure turns live
    logging off with one warning; :meth:`on_end`'s replay then logs what it missed. A run
    resumed after a crash continues its MLflow run rather than starting another."""

    def __init__(self, run_dir: Path, *, tracking_uri: str | None = None) -> None:
        self.run_dir, self.uri = Path(run_dir), tracking_uri or settings.mlflow_tracking_uri()
        self.mlflow_id: str | None = None
        self.failed = False
        self._client: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-mlflow")
        self._submit(self._start)

    def on_epoch(self, row: dict[str, Any]) -> None:
        self._submit(self._log_epoch, dict(row))

    def flush(self) -> None:
        """Wait until everything submitted so far is logged (or given up)."""
        self._worker.submit(lambda: None).result()

    def on_end(self, state: str) -> dict[str, Any]:
        self._worker.shutdown(wait=True)
        if state in TRACKED_STATES:
            return log_finished(self.run_dir, state, tracking_uri=self.uri)
        if self.mlflow_id and not self.failed:
            try:
                self._client.set_terminated(self.mlflow_id, status="FAILED")
            except Exception as err:
                log.warning("MLflow: could not mark the run failed: %s", err)
        return {}

    def _submit(self, task: Any, *args: Any) -> None:
        self._worker.submit(self._guarded, task, *args)

    def _guarded(self, task: Any, *args: Any) -> None:
        try:
            if not self.failed:
                task(*args)
        except Exception as err:
            self.failed = True
            log.warning("MLflow live logging stopped: %s: %s. The run is logged in full when "
                        "it ends.", type(err).__name__, err)

    def _start(self) -> None:
        record, status = runs.read_config(self.run_dir), runs.read_status(self.run_dir)
        client, run = _open_run(str(self.uri), self.run_dir, record, status, "running")
        self._client = client
        if run.info.status != "RUNNING":  # an earlier attempt of this run, now resumed
            client.update_run(run.info.run_id, status="RUNNING")
        self.mlflow_id = run.info.run_id
        _log_values(client, run, record, {}, pd.DataFrame(), {})

    def _log_epoch(self, row: dict[str, Any]) -> None:
        self._client.log_batch(self.mlflow_id, metrics=_epoch_metrics([row], _millis(None)))


def params_of(record: runs.RunRecord) -> dict[str, str]:
    """The config as MLflow parameters: every TrainConfig field, lists and mappings as JSON
    (cut to MLflow's 6,000 characters), plus the preset it started from."""
    params = {key: (json.dumps(value) if isinstance(value, list | dict) else str(value))[:6000]
              for key, value in record.config.items()}
    params["preset"] = str(record.preset or "")
    return params


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The end-of-run numbers of the best model: test (``test_accuracy``...) and validation
    (``final_val_accuracy``...: ``val_accuracy`` is already the per-epoch curve) accuracy,
    loss and macro-F1, and per-class test F1."""
    values = {f"{prefix}_{name}": (metrics.get(split) or {}).get(name)
              for split, prefix in (("val", "final_val"), ("test", "test"))
              for name in ("accuracy", "loss", "macro_f1")}
    per_class = (metrics.get("test") or {}).get("per_class") or {}
    values.update({f"test_f1_{name}": scores.get("f1-score") for name, scores in per_class.items()})
    values.update(train_seconds=metrics.get("seconds"), epochs=metrics.get("epochs"),
                  best_epoch=metrics.get("best_epoch"))
    return {key: float(value) for key, value in values.items() if _finite(value)}


# --- helpers -------------------------------------------------------------------------------------

def _experiment(client, uri: str, name: str) -> str:
    """The experiment's id, created on first use. With a SQLite store the artifacts go beside
    the database: MLflow's default (``./mlruns`` of the current folder) would put them in a
    Ray job's temporary copy of the code."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        database = Path(unquote(uri[len("sqlite:///"):])).expanduser().resolve()
        location = (database.parent / "mlartifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created by another job in the meantime
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _open_run(uri: str, run_dir: Path, record: runs.RunRecord, status: runs.Status,
              state: str) -> tuple[Any, Any]:
    """A client, and the MLflow run already logged for a run folder (an ended one first) or
    else a new one, tagged as ``state``."""
    # MLflow's usage telemetry phones home from a background thread; off unless the user
    # has said otherwise (clusters are often offline).
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = _experiment(client, uri, str(record.data.get("name") or DEFAULT_EXPERIMENT))
    found = client.search_runs([experiment_id],
                               filter_string=f"tags.`{RUN_ID_TAG}` = '{run_dir.name}'")
    run = min(found, key=lambda run: run.info.status not in ENDED, default=None)
    if run is None:
        run = client.create_run(experiment_id, run_name=run_dir.name,
                                start_time=_millis(status.started),
                                tags=_tags(run_dir, record, status, state))
    return client, run


def _tags(run_dir: Path, record: runs.RunRecord, status: runs.Status, state: str
          ) -> dict[str, str]:
    data = record.data
    tags = {
        RUN_ID_TAG: run_dir.name, "fer.state": state, "fer.backend": status.backend.kind,
        "fer.host": status.host, "fer.ray_job_id": status.backend.job_id,
        "fer.ray_node": status.backend.node, "fer.sweep": status.sweep,
        "fer.data_fingerprint": data.get("fingerprint"),
        "fer.data_synthetic": data.get("synthetic"), "mlflow.source.name": "fer_core",
    }
    return {key: str(value) for key, value in tags.items() if value is not None}


def _log_values(client, run, record: runs.RunRecord, metrics: dict[str, Any],
                history: pd.DataFrame, tags: dict[str, str]) -> None:
    """Log the parameters, epochs and final metrics ``run`` does not hold yet, and ``tags``."""
    from mlflow.entities import Metric, Param, RunTag

    mlflow_id, data = run.info.run_id, run.data
    params = [Param(key, value) for key, value in params_of(record).items()
              if key not in data.params]
    logged = {key: {m.step for m in client.get_metric_history(mlflow_id, key)}
              for key in set(HISTORY_METRICS.values()) & set(data.metrics)}
    now = _millis(None)
    values = [m for m in _epoch_metrics(history.to_dict(orient="records"), now)
              if m.step not in logged.get(m.key, ())]
    values += [Metric(key, value, now, 0) for key, value in final_metrics(metrics).items()
               if key not in data.metrics]
    if tags:
        client.log_batch(mlflow_id, tags=[RunTag(key, value) for key, value in tags.items()])
    for start in range(0, len(params), 100):  # MLflow's batch limits
        client.log_batch(mlflow_id, params=params[start:start + 100])
    for start in range(0, len(values), 1000):
        client.log_batch(mlflow_id, metrics=values[start:start + 1000])


def _epoch_metrics(rows: list[dict[str, Any]], now: int) -> list:
    """History rows as MLflow metrics, step = the run-wide epoch."""
    from mlflow.entities import Metric

    return [Metric(key, float(row[column]), now, int(row["epoch"]))
            for row in rows if _finite(row.get("epoch"))
            for column, key in HISTORY_METRICS.items() if _finite(row.get(column))]


def _log_files(client, mlflow_id: str, run_dir: Path, metrics: dict[str, Any]) -> None:
    for name in runs.RunFiles.RECORDS:
        if (run_dir / name).is_file():
            client.log_artifact(mlflow_id, str(run_dir / name))
    model = runs.files(run_dir).model
    if model.is_file():
        client.log_artifact(mlflow_id, str(model), artifact_path="model")
    with tempfile.TemporaryDirectory(prefix="fer-mlflow-") as tmp:
        for path in _derived_files(run_dir, metrics, Path(tmp)):
            client.log_artifact(mlflow_id, str(path))


def _derived_files(run_dir: Path, metrics: dict[str, Any], folder: Path) -> list[Path]:
    """The test confusion matrix and classification report as CSV, and the HTML report."""
    from fer_core.reports.report import build_report

    made = []
    classes = metrics.get("classes") or []
    test = metrics.get("test") or {}
    if test.get("confusion_matrix") and classes:
        made.append(folder / "confusion_matrix.csv")
        pd.DataFrame(test["confusion_matrix"], index=classes, columns=classes).rename_axis(
            "true \\ predicted").to_csv(made[-1])
    if test.get("per_class"):
        made.append(folder / "classification_report.csv")
        pd.DataFrame(test["per_class"]).T.rename_axis("class").to_csv(made[-1])
    if not runs.files(run_dir).model_card.is_file():  # a run trained before model cards
        from fer_core.reports.card import card_text

        made.append(folder / runs.files(run_dir).model_card.name)
        made[-1].write_text(card_text(run_dir), encoding="utf-8")
    made.append(folder / "report.html")
    made[-1].write_text(build_report([run_dir], title=f"FER Studio run {run_dir.name}"),
                        encoding="utf-8")
    return made


def _finite(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _millis(text: Any) -> int:
    seconds = runs.parse_time(text)
    return int((seconds if seconds is not None else time.time()) * 1000)
