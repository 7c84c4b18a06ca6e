"""The Map tab of Results on a run whose features are computed (over a small folder of the
demo's classes, so it takes seconds): the chart, a brushed region listing the faces inside it
(the chart's selection as Streamlit hands it to the page, and a deep link's), a clicked face
with its nearest training faces, the CSV, relabelling a region, and the way to a map a run
does not have yet."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.ipc
import pytest

from fer_core import runs, tasks
from fer_core.data import DataRef, overrides
from fer_core.runs import features as store
from fer_core.runs import task_folders
from fer_core.tasks import features as features_task
from tests.conftest import make_kaggle_tree
from tests.page_support import open_page
from views import feature_map as view

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


COPIED = ("train/happy/000.png", "test/happy/000.png")  # a train face copied into test


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("map-data") / "faces"
    make_kaggle_tree(root, {name: 12 for name in CLASSES}, splits=("train",))
    make_kaggle_tree(root, {name: 4 for name in CLASSES}, splits=("test",))
    shutil.copyfile(root / COPIED[0], root / COPIED[1])
    return root


def _run_on(demo_run: Path, data: Path, root: Path) -> Path:
    """A copy of the demo run whose records say it trained on ``data``."""
    run_dir = Path(shutil.copytree(demo_run, root / demo_run.name))
    ds = DataRef.parse(data).load()
    record = runs.read_config(run_dir)
    runs.write_config(run_dir, replace(
        record, config={**record.config, "data": str(data)},
        data={**record.data, "location": ds.location, "fingerprint": ds.fingerprint}))
    return run_dir


@pytest.fixture(scope="module")
def mapped(demo_run: Path, small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = _run_on(demo_run, small_data, tmp_path_factory.mktemp("mapped") / "runs")
    features_task.compute_and_keep(run_dir)
    table = store.map_frame(run_dir)  # the run's predictions, as if it had trained on the set
    scored = table[table["split"].isin(["val", "test"])]
    runs.write_predictions(run_dir, scored[["id", "split", "true", "pred", "confidence"]])
    return run_dir


@pytest.fixture
def map_root(mapped: Path, tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(mapped, root / mapped.name)
    return root


def _open(root: Path, data: Path, **query) -> object:
    return open_page("results", root, data_path=str(data), query={"tab": "Map", **query})


def _chart(at) -> dict:
    [spec] = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")
              if json.loads(c.proto.spec).get("usermeta", {}).get("fer_chart") == "feature_map"]
    return spec


def _select(at, *, region: tuple | None = None, face: str | None = None) -> None:
    """What the browser hands the page when a box is dragged or a face clicked on the chart."""
    at.session_state["map.chart"] = {"selection": {
        view.BRUSH: {"x": list(region[:2]), "y": list(region[2:])} if region else {},
        view.PICK: [{"id": face}] if face else []}}


def _left_half(table: pd.DataFrame, split: str) -> tuple[tuple, pd.DataFrame]:
    rows = table[table["split"] == split]
    region = (float(rows["x"].min()), float(rows["x"].median()),
              float(rows["y"].min()), float(rows["y"].max()))
    inside = rows[rows["x"].between(*region[:2]) & rows["y"].between(*region[2:])]
    return region, inside


def test_the_map_draws_the_test_faces_coloured_by_true_class(map_root, small_data):
    at = _open(map_root, small_data).run()
    assert not at.exception
    spec = _chart(at)
    assert spec["encoding"]["color"]["field"] == "true"
    assert {p["name"] for p in spec["params"]} == {view.BRUSH, view.PICK}
    assert "Drag a box over the map" in " ".join(c.value for c in at.caption)


def test_a_linked_region_lists_the_faces_inside_it(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    test = table[table["split"] == "test"]
    x0, x1 = float(test["x"].quantile(0.0)), float(test["x"].median())
    y0, y1 = float(test["y"].min()), float(test["y"].max())
    expected = test[test["x"].between(x0, x1) & test["y"].between(y0, y1)]
    region = view.region_text((x0, x1, y0, y1))
    at = _open(map_root, small_data, colour="outcome", region=region).run()
    assert not at.exception
    assert _chart(at)["encoding"]["color"]["field"] == "outcome"
    inside = view.in_region(view.points(table, "test"), view.parse_region(region))
    assert 0 < len(inside) == len(expected) < len(test)
    assert f"{len(expected):,} faces in the box" in [h.value for h in at.subheader]
    assert "Download them (CSV)" in [d.proto.label for d in at.get("download_button")]


def test_a_dragged_box_lists_its_faces_and_goes_into_the_link(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    region, inside = _left_half(table, "test")
    at = _open(map_root, small_data).run()
    _select(at, region=region)
    at.run()
    assert not at.exception
    assert f"{len(inside):,} faces in the box" in [h.value for h in at.subheader]
    shown = [m.value for m in at.markdown if "true:" in m.value or ":green[" in m.value]
    assert len(shown) >= min(len(inside), 8)
    linked = at.query_params["region"]
    linked = linked[0] if isinstance(linked, list) else linked
    assert view.parse_region(linked) == pytest.approx(region, rel=1e-3)


def test_a_clicked_face_shows_its_nearest_training_faces(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    face = table.loc[table["split"] == "train", "id"].iloc[0]
    at = _open(map_root, small_data, faces="train").run()
    _select(at, face=face)
    at.run()
    assert not at.exception
    assert "The face you clicked" in [h.value for h in at.subheader]
    note = next(c.value for c in at.caption if c.value.startswith(f"Left: {face}."))
    assert "5 nearest training faces" in note
    assert sum("distance" in m.value for m in at.markdown) == 5


def test_a_box_of_training_faces_is_relabelled_at_once(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    region, inside = _left_half(table, "train")
    at = _open(map_root, small_data, faces="train").run()
    _select(at, region=region)
    at.run()
    at.selectbox(key="map.relabel_to").set_value("fear").run()
    at.button(key="map.relabel").click().run()
    assert not at.exception
    ds = DataRef.parse(small_data).load()
    try:
        chosen = overrides.load(ds.fingerprint)
        assert set(chosen.relabel) == set(inside["id"]) and set(chosen.relabel.values()) == {"fear"}
        assert (store.map_frame(next(map_root.iterdir())).set_index("id")
                .loc[list(inside["id"]), "true"] == "fear").all()
    finally:
        overrides.restore(ds, *inside["id"])


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.LocalBackend, "submit", lambda self, run_dir: None)


def test_a_run_without_a_map_offers_to_compute_it(demo_run, small_data, tmp_path, no_worker):
    root = tmp_path / "runs"
    run_dir = _run_on(demo_run, small_data, root)
    at = _open(root, small_data).run()
    assert "has no map yet" in " ".join(i.value for i in at.info)
    at.button(key="map.start").click().run()
    assert not at.exception
    task = features_task.latest(run_dir, runs_root=root)
    assert task is not None and task_folders.read_task(task).spec["run_dir"] == str(
        run_dir.resolve())


def _failed_features(run_dir: Path, root: Path) -> Path:
    return tasks.run_here(features_task.KIND, features_task.spec(run_dir),
                          subject=run_dir.name, runs_root=root)


def test_a_model_without_a_feature_layer_fails_with_its_reason(demo_run, small_data, tmp_path):
    import keras

    root = tmp_path / "runs"
    run_dir = _run_on(demo_run, small_data, root)
    inputs = keras.Input((48, 48, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(7, 3)(inputs))
    keras.Model(inputs, keras.layers.Activation("softmax")(pooled)).save(
        runs.files(run_dir).model)
    assert runs.read_status(_failed_features(run_dir, root)).state == "failed"
    at = _open(root, small_data).run()
    assert not at.exception
    assert any("has no final Dense layer" in e.value for e in at.error)
    assert _tab_still_works(at)


def test_a_data_set_no_longer_at_hand_fails_with_its_name(demo_run, small_data, tmp_path):
    root = tmp_path / "runs"
    moved = tmp_path / "moved-away"
    shutil.copytree(small_data, moved)
    run_dir = _run_on(demo_run, moved, root)
    shutil.rmtree(moved)
    assert runs.read_status(_failed_features(run_dir, root)).state == "failed"
    at = _open(root, small_data).run()
    assert not at.exception
    assert any("moved-away" in e.value for e in at.error)
    assert _tab_still_works(at)


def _tab_still_works(at) -> bool:
    """The rest of Results is unaffected: the learning curves still draw."""
    names = {json.loads(c.proto.spec).get("usermeta", {}).get("fer_chart")
             for c in at.get("vega_lite_chart")}
    return "learning_curves" in names


def _upload(at, path: Path) -> None:
    at.toggle(key="predict.neighbours").set_value(True)
    at.toggle(key="predict.whole").set_value(True)
    at.file_uploader(key="predict.upload").set_value((path.name, path.read_bytes(),
                                                      "image/png"))
    at.run()


def test_predict_shows_each_faces_nearest_training_faces(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    face = table[table["split"] == "train"].iloc[0]
    at = open_page("predict", map_root, data_path=str(small_data)).run()
    _upload(at, small_data / face["id"])
    assert not at.exception
    shown = [m.value for m in at.markdown if " · " in m.value]
    assert len(shown) == 5 and shown[0] == f"{face['true']} · 0.00"
    assert len(at.get("image")) >= 1 + 5  # the crop, then the five training faces


def test_predict_says_how_to_get_nearest_faces_for_a_run_without_features(
        demo_run, small_data, tmp_path):
    root = tmp_path / "runs"
    _run_on(demo_run, small_data, root)
    at = open_page("predict", root, data_path=str(small_data)).run()
    _upload(at, next((small_data / "train" / "fear").iterdir()))
    assert not at.exception
    assert any("Nearest training faces need" in i.value for i in at.info)


def test_the_gallery_shows_each_faces_nearest_training_faces(map_root, small_data):
    at = open_page("results", map_root, data_path=str(small_data),
                   query={"tab": "Gallery"}).run()
    at.toggle(key="results.g_near").set_value(True).run()
    assert not at.exception
    summaries = [p.proto.popover.label for p in at.get("popover")
                 if p.proto.popover.label != "Copy link"]
    assert len(summaries) == len(CLASSES) * 4  # every test face of the small set
    assert all(label.split(" ")[0].endswith("/5") for label in summaries)
    assert sum(" · " in m.value for m in at.markdown) == 5 * len(summaries)


def test_explore_maps_the_data_set_with_the_audits_copies_marked(map_root, small_data):
    from fer_core.data import audit_cache

    ds = DataRef.parse(small_data).load()
    report = audit_cache.cached_audit(ds)
    found = view.audit_marks(report.exact_duplicate_groups, report.near_duplicate_pairs,
                             report.leakage_pairs)
    at = open_page("explore", map_root, data_path=str(small_data),
                   **{"explore.section": "Map", "explore.map.split": "test"}).run()
    assert not at.exception
    [chart] = [c for c in at.get("vega_lite_chart")
               if json.loads(c.proto.spec).get("usermeta", {}).get("fer_chart") == "feature_map"]
    spec = json.loads(chart.proto.spec)
    assert [layer["encoding"].get("shape", {}).get("field") for layer in spec["layer"]] == [
        None, "mark"]
    [data] = [pyarrow.ipc.open_stream(d.data.data).read_all().to_pandas()
              for d in chart.proto.datasets]
    marked = dict(zip(data.loc[data["mark"] != "", "id"], data.loc[data["mark"] != "", "mark"],
                      strict=True))
    expected = {face: view.MARKS[mark] for face, mark in found.items()
                if face.startswith("test/")}
    assert marked == expected and marked[COPIED[1]] == view.MARKS["copy"]


def test_explore_says_to_train_a_run_first(small_data, tmp_path):
    at = open_page("explore", tmp_path / "runs", data_path=str(small_data),
                   **{"explore.section": "Map"}).run()
    assert not at.exception
    assert any("needs a finished run of this data set" in i.value for i in at.info)


def test_audit_marks_name_train_test_copies_before_other_duplicates():
    marks = view.audit_marks([["a", "b"]], [("c", "d", 3), ("a", "t", 2)], [("a", "t")])
    assert marks == {"a": "copy", "b": "duplicate", "c": "duplicate", "d": "duplicate",
                     "t": "copy"}


def test_the_report_draws_the_map_of_the_test_faces(mapped, small_data):
    from fer_core.reports.report import report_on

    page = report_on([mapped], DataRef.parse(small_data))
    section = page[page.index("<h3>Map of the faces</h3>"):]
    svg = section[:section.index("</svg>")]
    assert svg.count("<circle") == len(CLASSES) * 4 + len(CLASSES)  # the faces, the legend
    assert "28 test faces where the model sees them" in svg


def test_the_report_says_how_to_get_a_map(demo_run, small_data, tmp_path):
    from fer_core.reports.report import report_on

    run_dir = _run_on(demo_run, small_data, tmp_path / "runs")
    assert "No map of the faces yet" in report_on([run_dir], DataRef.parse(small_data))


def test_a_run_of_another_data_set_shows_its_map_without_pictures(map_root, small_data):
    table = store.map_frame(next(map_root.iterdir()))
    region, inside = _left_half(table, "test")
    at = open_page("results", map_root, query={"tab": "Map"}).run()  # the sidebar: the demo
    _select(at, region=region)
    at.run()
    assert not at.exception
    assert _chart(at)["encoding"]["color"]["field"] == "true"
    assert f"{len(inside):,} faces in the box" in [h.value for h in at.subheader]
    assert "Choose the run's data set in the sidebar to see these faces." in [
        c.value for c in at.caption]
    assert _tab_still_works(at)
