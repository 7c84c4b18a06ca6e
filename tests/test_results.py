"""The Results page, the run charts and run zips (export and import)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.core.emotions import COLORS, EMOTIONS
from fer_core.core.errors import RunError
from fer_core.runs.archive import export_run_zip, import_run_zip
from tests.page_support import open_page
from views import run_charts


@pytest.fixture
def runs_root(tmp_path: Path, demo_run: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(demo_run, root / demo_run.name)
    return root


def _copy_run(runs_root: Path, source: str, new_id: str) -> Path:
    return Path(shutil.copytree(runs_root / source, runs_root / new_id))


def _app(runs_root: Path, **state) -> AppTest:
    return open_page("results", runs_root, **state)


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's Altair specs, by the name run_charts tags them with."""
    specs = [json.loads(node.proto.spec) for node in at.get("vega_lite_chart")]
    return {spec.get("usermeta", {}).get("fer_chart"): spec for spec in specs}


def _gallery_captions(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith((":green[", ":red["))]


# --- the page ------------------------------------------------------------------------------------

def test_results_page_demo_run_shows_curves_matrix_table_and_gallery(runs_root, demo_run):
    at = _app(runs_root).run()

    assert not at.exception
    charts = _charts(at)
    for name in ("learning_curves", "confusion_matrix", "per_class", "comparison_accuracy",
                 "comparison_loss"):
        assert name in charts
    assert at.multiselect(key="results.runs").value == [demo_run.name]
    tables = [frame.value for frame in at.dataframe]
    assert any("Run" in t.columns and list(t["Run"]) == [demo_run.name] for t in tables)
    assert len(at.get("image")) == 32  # the default "Show" count
    assert _gallery_captions(at)


def test_results_gallery_errors_only_shows_only_wrong_predictions(runs_root):
    at = _app(runs_root).run()
    assert any(c.startswith(":green[") for c in _gallery_captions(at))

    at.checkbox(key="results.g_errors").check().run()

    captions = _gallery_captions(at)
    assert captions
    assert all(c.startswith(":red[") and "true:" in c for c in captions)
    assert len(at.get("image")) == len(captions)


def test_results_gallery_true_class_filter_keeps_that_class(runs_root):
    at = _app(runs_root).run()
    at.multiselect(key="results.g_true").set_value(["happy"])
    at.checkbox(key="results.g_errors").check().run()

    captions = _gallery_captions(at)
    assert captions
    assert all(c.endswith("true: happy") for c in captions)


def test_results_confusion_toggle_switches_to_row_shares(runs_root):
    at = _app(runs_root).run()
    counts = _charts(at)["confusion_matrix"]
    at.toggle(key="results.normalised").set_value(True).run()
    shares = _charts(at)["confusion_matrix"]

    assert counts["layer"][1]["encoding"]["text"]["field"] == "count"
    assert shares["layer"][1]["encoding"]["text"]["field"] == "share"


def test_results_run_without_metrics_warns_and_still_renders(runs_root, demo_run):
    broken = _copy_run(runs_root, demo_run.name, "20260102-000000-no-metrics")
    (broken / "metrics.json").unlink()

    at = _app(runs_root, **{"results.runs": [demo_run.name, broken.name]}).run()

    assert not at.exception
    assert any(broken.name in w.value and "metrics.json" in w.value for w in at.warning)
    assert "learning_curves" in _charts(at)


def test_results_run_without_status_is_reported_and_left_out(runs_root, demo_run):
    broken = _copy_run(runs_root, demo_run.name, "20260102-000000-no-status")
    (broken / "status.json").unlink()

    at = _app(runs_root).run()

    assert not at.exception
    assert any(broken.name in w.value and "status.json" in w.value for w in at.warning)
    assert broken.name not in at.multiselect(key="results.runs").options
    assert "confusion_matrix" in _charts(at)


def test_results_run_deleted_while_shown_is_dropped_without_error(runs_root, demo_run):
    second = _copy_run(runs_root, demo_run.name, "20260102-000000-second")
    at = _app(runs_root, **{"results.runs": [second.name, demo_run.name]}).run()
    assert at.selectbox(key="results.focus").value == second.name

    shutil.rmtree(second)
    at.run()

    assert not at.exception
    assert at.multiselect(key="results.runs").value == [demo_run.name]


def test_results_no_runs_says_how_to_get_one(tmp_path):
    at = _app(tmp_path / "empty").run()

    assert not at.exception
    assert "No runs" in at.info[0].value


def test_results_csv_download_has_one_row_per_selected_run(runs_root, demo_run, monkeypatch):
    second = _copy_run(runs_root, demo_run.name, "20260102-000000-second")
    downloads: dict[str | None, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes | str):
            data = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
            downloads[filename] = data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    at = _app(runs_root, **{"results.runs": [demo_run.name, second.name]}).run()

    assert not at.exception
    table = pd.read_csv(io.BytesIO(downloads["fer-studio-runs.csv"]))
    assert sorted(table["run"]) == sorted([demo_run.name, second.name])
    metrics = runs.read_metrics(demo_run)
    assert table["test_accuracy"].iloc[0] == pytest.approx(metrics["test"]["accuracy"])


def test_results_import_upload_adds_the_run_once(runs_root, demo_run):
    data = export_run_zip(demo_run)
    shutil.rmtree(runs_root / demo_run.name)
    at = _app(runs_root).run()

    at.file_uploader(key="results.import").set_value(("shared-run.zip", data,
                                                       "application/zip"))
    at.run()
    at.run()

    assert not at.exception
    assert any("Imported" in s.value for s in at.sidebar.success)
    folders = sorted(p.name for p in runs_root.iterdir())
    assert folders == [demo_run.name]


def test_results_import_of_a_run_already_present_says_so_and_adds_no_copy(runs_root, demo_run):
    at = _app(runs_root).run()
    at.file_uploader(key="results.import").set_value(("shared-run.zip", export_run_zip(demo_run),
                                                       "application/zip"))
    at.run()

    assert not at.exception
    assert f"Run {demo_run.name} is already in the runs folder" in at.sidebar.error[0].value
    assert sorted(p.name for p in runs_root.iterdir()) == [demo_run.name]


def test_results_import_of_a_non_run_zip_shows_the_reason(runs_root):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/a.txt", "hello")
    at = _app(runs_root).run()

    at.file_uploader(key="results.import").set_value(("photos.zip", buffer.getvalue(),
                                                       "application/zip"))
    at.run()

    assert not at.exception
    assert "not a FER Studio run" in at.sidebar.error[0].value


# --- run_charts ----------------------------------------------------------------------------------

def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "phase": [1, 1, 2, 2], "epoch": [1, 2, 3, 4], "loss": [2.0, 1.5, 1.2, 1.0],
        "accuracy": [0.3, 0.4, 0.5, 0.6], "val_loss": [1.8, 1.6, 1.3, 1.2],
        "val_accuracy": [0.35, 0.4, 0.48, 0.5], "learning_rate": [1e-3] * 4, "seconds": [1] * 4,
    })


def test_history_frame_long_form_has_both_splits_and_metrics():
    frame = run_charts.history_frame(_history(), "r1")

    assert len(frame) == 16
    assert set(frame["split"]) == {"train", "validation"}
    assert set(frame["metric"]) == {"accuracy", "loss"}
    assert run_charts.phase_boundaries(frame) == [2.5]


def test_learning_curves_chart_encodes_epoch_value_split_and_phase_rule():
    spec = run_charts.learning_curves_chart(run_charts.history_frame(_history(), "r1")).to_dict()

    assert spec["usermeta"] == {"fer_chart": "learning_curves"}
    panel = spec["hconcat"][0]
    lines, rule = panel["layer"]
    assert lines["encoding"]["x"]["field"] == "epoch"
    assert lines["encoding"]["y"]["field"] == "value"
    assert lines["encoding"]["color"]["field"] == "split"
    assert rule["mark"]["type"] == "rule"
    rule_data = spec["datasets"][rule["data"]["name"]]
    assert [row["epoch"] for row in rule_data] == [2.5]


def test_learning_curves_chart_single_phase_has_no_rule():
    one_phase = _history().assign(phase=1)
    spec = run_charts.learning_curves_chart(run_charts.history_frame(one_phase)).to_dict()

    assert "layer" not in spec["hconcat"][0]


def test_comparison_chart_colours_validation_curves_by_run():
    frame = pd.concat([run_charts.history_frame(_history(), "a"),
                       run_charts.history_frame(_history(), "b")])
    spec = run_charts.comparison_chart(frame, "loss").to_dict()

    assert spec["encoding"]["color"]["field"] == "run"
    rows = spec["datasets"][spec["data"]["name"]]
    assert {row["split"] for row in rows} == {"validation"}
    assert {row["metric"] for row in rows} == {"loss"}


def test_comparison_chart_unknown_metric_raises():
    with pytest.raises(ValueError, match="metric must be one of"):
        run_charts.comparison_chart(run_charts.history_frame(_history()), "f1")


def test_confusion_frame_rows_normalise_and_empty_rows_stay_zero():
    frame = run_charts.confusion_frame([[3, 1], [0, 0]], ["happy", "sad"])

    shares = frame.set_index(["true", "predicted"])["share"]
    assert shares[("happy", "happy")] == pytest.approx(0.75)
    assert shares[("sad", "sad")] == 0.0


def test_confusion_chart_axes_follow_class_order():
    frame = run_charts.confusion_frame([[3, 1], [2, 5]], ["sad", "happy"])
    spec = run_charts.confusion_chart(frame, normalised=True).to_dict()

    cells = spec["layer"][0]["encoding"]
    assert cells["x"]["field"] == "predicted" and cells["y"]["field"] == "true"
    assert cells["x"]["sort"] == ["sad", "happy"]
    assert cells["color"]["field"] == "share"


def test_per_class_chart_has_a_bar_per_class_and_score():
    frame = run_charts.per_class_frame({"per_class": {
        "happy": {"precision": 0.5, "recall": 0.4, "f1-score": 0.45, "support": 10.0},
        "sad": {"precision": 0.2, "recall": 0.3, "f1-score": 0.25, "support": 4.0},
    }})
    spec = run_charts.per_class_chart(frame).to_dict()

    assert spec["encoding"]["xOffset"]["field"] == "score"
    assert len(spec["datasets"][spec["data"]["name"]]) == 6


def test_probability_chart_uses_the_emotion_colours():
    frame = run_charts.probability_frame(EMOTIONS, [0.1, 0.0, 0.0, 0.7, 0.1, 0.1, 0.0])
    spec = run_charts.probability_chart(frame).to_dict()

    assert frame["class"].iloc[0] == "happy"
    scale = spec["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == COLORS


# --- export and import ---------------------------------------------------------------------------

def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_export_import_round_trip_gives_identical_folder_under_new_id(runs_root, demo_run):
    original = runs_root / demo_run.name
    (runs_root / "other-runs").mkdir()
    other = runs_root / "other-runs" / demo_run.name
    other.mkdir()  # a different run under the same id: the import takes a free id
    (other / "config.json").write_text("{}")

    imported = import_run_zip(export_run_zip(original), runs_root / "other-runs")

    assert imported.parent == runs_root / "other-runs"
    assert imported.name == f"{demo_run.name}-2"
    assert _files(imported) == _files(original)
    assert runs.read_run(imported).problem is None


def test_export_skips_hidden_temporary_files(runs_root, demo_run):
    original = runs_root / demo_run.name
    (original / ".status.json.abc.tmp").write_text("{half")

    with zipfile.ZipFile(io.BytesIO(export_run_zip(original))) as archive:
        names = archive.namelist()

    assert all(name.startswith(f"{demo_run.name}/") for name in names)
    assert not any(".tmp" in name for name in names)


def _run_zip(entries: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


RUN_FILES = {"config.json": json.dumps({"config": {"backbone": "fer-cnn"}}),
             "status.json": json.dumps({"state": "succeeded"})}


def test_import_refuses_entries_that_climb_out(tmp_path):
    entries = {f"run/{k}": v for k, v in RUN_FILES.items()}
    entries["run/../../escaped.txt"] = "x"

    with pytest.raises(RunError, match="outside the run folder"):
        import_run_zip(_run_zip(entries), tmp_path / "runs")

    assert not list(tmp_path.rglob("escaped.txt"))


def test_import_refuses_absolute_entries(tmp_path):
    entries = {f"run/{k}": v for k, v in RUN_FILES.items()}
    entries["/tmp/absolute.txt"] = "x"

    with pytest.raises(RunError, match="outside the run folder"):
        import_run_zip(_run_zip(entries), tmp_path / "runs")


def test_import_refuses_symlink_entries(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in RUN_FILES.items():
            archive.writestr(f"run/{name}", data)
        link = zipfile.ZipInfo("run/model.keras")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")

    with pytest.raises(RunError, match="link"):
        import_run_zip(buffer.getvalue(), tmp_path / "runs")


def test_import_refuses_a_zip_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a FER Studio run"):
        import_run_zip(_run_zip({"holiday/photo.txt": "x"}), tmp_path / "runs")


def test_import_of_a_model_export_says_it_is_one(tmp_path):
    export = {"export/model.onnx": "x", "export/labels.txt": "angry",
              "export/preprocessing.json": "{}"}
    with pytest.raises(RunError, match="is a model export .*not a run folder"):
        import_run_zip(_run_zip(export), tmp_path / "runs")


def test_import_refuses_a_run_without_status(tmp_path):
    with pytest.raises(RunError, match="status.json"):
        import_run_zip(_run_zip({"run/config.json": RUN_FILES["config.json"]}), tmp_path)


def test_import_refuses_bytes_that_are_not_a_zip(tmp_path):
    with pytest.raises(RunError, match="not a zip"):
        import_run_zip(b"plain text", tmp_path)


def test_import_refuses_more_than_the_size_cap(tmp_path):
    entries = {f"run/{k}": v for k, v in RUN_FILES.items()}
    entries["run/model.keras"] = b"\0" * 10_000

    with pytest.raises(RunError, match="unpacks to"):
        import_run_zip(_run_zip(entries), tmp_path, max_bytes=5_000)

    assert not any(tmp_path.iterdir())


def test_import_refuses_a_run_still_training(tmp_path):
    entries = {f"run/{k}": v for k, v in RUN_FILES.items()}
    entries["run/status.json"] = json.dumps({"state": "running", "pid": 1})

    with pytest.raises(RunError, match="only finished runs"):
        import_run_zip(_run_zip(entries), tmp_path)


def test_import_sanitises_the_run_id(tmp_path):
    entries = {f"my run (copy)!/{k}": v for k, v in RUN_FILES.items()}

    imported = import_run_zip(_run_zip(entries), tmp_path)

    assert imported.name == "my-run-copy"
    assert runs.run_path(imported.name, runs_root=tmp_path) == imported


def test_import_flat_zip_is_named_after_the_upload(tmp_path):
    imported = import_run_zip(_run_zip(RUN_FILES), tmp_path, name_hint="friend's run.zip")

    assert imported.name == "friend-s-run"
    assert (imported / "config.json").is_file()
