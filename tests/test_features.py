"""A run's features and map (``fer_core.tasks.features``) and the nearest examples read from
them (``fer_core.inference.neighbours``): deterministic for a seed, kept whole or not at all,
labels as they are now, and clear refusals.

The fast tests take the committed demo run's model over a small folder of the demo's classes,
so a map is seconds; the slow ones run the task through the queue on the whole demo set."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fer_core import runs, tasks
from fer_core.cli import main
from fer_core.core.errors import DataError, RunError
from fer_core.data import DataRef, overrides
from fer_core.inference.features import FeatureError, final_dense
from fer_core.inference.neighbours import TrainingFaces, knn_accuracy
from fer_core.runs import features as store
from fer_core.runs.archive import export_run_zip
from fer_core.tasks import features as features_task
from tests.conftest import make_kaggle_tree

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve training and four test faces of each demo class."""
    root = tmp_path_factory.mktemp("small") / "faces"
    make_kaggle_tree(root, {name: 12 for name in CLASSES}, splits=("train",))
    make_kaggle_tree(root, {name: 4 for name in CLASSES}, splits=("test",))
    return root


def _copy(run_dir: Path, folder: Path) -> Path:
    return Path(shutil.copytree(run_dir, folder / run_dir.name))


@pytest.fixture(scope="module")
def featured_run(demo_run: Path, small_data: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Path:
    """A copy of the demo run with features and map of ``small_data``."""
    run_dir = _copy(demo_run, tmp_path_factory.mktemp("featured"))
    features_task.compute_and_keep(run_dir, data=DataRef.parse(small_data))
    return run_dir


def test_features_and_map_are_the_same_for_the_same_run(featured_run, demo_run, small_data,
                                                        tmp_path):
    again = _copy(demo_run, tmp_path)
    features_task.compute_and_keep(again, data=DataRef.parse(small_data))
    meta = store.read_meta(featured_run)
    total = len(CLASSES) * 16
    assert sum(meta["faces"].values()) == total and meta["faces"]["test"] == len(CLASSES) * 4
    for split in ("train", "val", "test"):
        ids, first = store.read_features(featured_run, split)
        ids_again, second = store.read_features(again, split)
        assert len(ids) == meta["faces"][split] and first.shape[1] == meta["kept_dimensions"]
        np.testing.assert_array_equal(ids, ids_again)
        np.testing.assert_array_equal(first, second)
    first_map, second_map = store.read_map(featured_run), store.read_map(again)
    assert len(first_map) == total and first_map[["x", "y"]].notna().all().all()
    np.testing.assert_array_equal(first_map[["x", "y"]], second_map[["x", "y"]])
    assert first_map["x"].std() > 0 and first_map["y"].std() > 0  # a map, not a point


def test_wide_features_are_kept_as_their_principal_components(featured_run):
    meta = store.read_meta(featured_run)
    # fer-cnn's flattened feature map is wider than kept whole; the small set has fewer faces
    # than components, so they stay whole here (the full demo set projects: the slow test).
    assert meta["dimensions"] > 512
    assert meta["kept_dimensions"] == meta["dimensions"] and meta["variance_kept"] == 1.0
    assert store.read_projection(featured_run) is None


def test_a_training_face_is_its_own_nearest_example_at_distance_zero(featured_run):
    faces = TrainingFaces.of_run(featured_run)
    chosen = [str(i) for i in faces.ids[:3]]
    near = faces.nearest_to_faces(chosen, 4)
    assert len(near) == 12
    for face_id in chosen:
        mine = near[near["query"] == face_id].sort_values("rank")
        assert mine["distance"].is_monotonic_increasing
        assert mine["distance"].iloc[0] == pytest.approx(0.0, abs=1e-3)
        assert face_id in set(mine.loc[mine["distance"] < 1e-3, "id"])


def test_labels_follow_the_overrides_without_computing_again(featured_run, small_data):
    faces = TrainingFaces.of_run(featured_run)
    moved, dropped = str(faces.ids[0]), str(faces.ids[1])
    ds = DataRef.parse(small_data).load()
    given = dict(zip(ds.index["id"], ds.index["label"], strict=True))
    target = next(name for name in CLASSES if name != given[moved])
    before = store.map_frame(featured_run).set_index("id")
    overrides.relabel(ds, moved, target)
    overrides.exclude(ds, dropped)
    try:
        after = store.map_frame(featured_run).set_index("id")
        assert before.loc[moved, "true"] == given[moved] and after.loc[moved, "true"] == target
        assert not before.loc[dropped, "excluded"] and after.loc[dropped, "excluded"]
        assert after.loc[moved, "correct"] == (after.loc[moved, "pred"] == target)
        near = TrainingFaces.of_run(featured_run).nearest_to_faces([moved], 1)
        assert near["label"].iloc[0] == target
    finally:
        overrides.restore(ds, moved, dropped)


def test_knn_accuracy_compares_the_neighbours_vote_with_the_model(featured_run):
    agreement, per_class = knn_accuracy(TrainingFaces.of_run(featured_run), "test", 3)
    assert 0.0 <= agreement <= 1.0
    assert set(per_class.index) == set(CLASSES) and per_class["faces"].sum() == len(CLASSES) * 4
    weighted = (per_class["knn_accuracy"] * per_class["faces"]).sum() / per_class["faces"].sum()
    assert weighted == pytest.approx(agreement)


def test_features_are_left_out_of_the_run_zip(featured_run):
    with zipfile.ZipFile(io.BytesIO(export_run_zip(featured_run))) as archive:
        names = archive.namelist()
    assert any(name.endswith("/model.keras") for name in names)
    assert not [name for name in names if "/features/" in name]


def test_predict_lists_the_nearest_training_faces(featured_run, small_data, capsys):
    faces = TrainingFaces.of_run(featured_run)
    face_id = str(faces.ids[0])
    assert main(["predict", str(featured_run), str(small_data / face_id), "--whole",
                 "--neighbours", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)[0]["faces"][0]["neighbours"]
    assert len(found) == 3 and found[0]["id"] == face_id
    assert found[0]["distance"] == pytest.approx(0.0, abs=1e-3)
    assert main(["predict", str(featured_run), str(small_data / face_id), "--whole",
                 "--neighbours", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  nearest training faces: ") and face_id in lines[1]


def test_neighbours_of_a_run_without_features_are_refused_with_the_way_out(demo_run, tmp_path,
                                                                           capsys):
    bare = _copy(demo_run, tmp_path)
    with pytest.raises(RunError, match="has no features yet.*python -m fer_core features"):
        TrainingFaces.of_run(bare)
    image = DataRef.parse("demo").load().index["source"].iloc[0]
    assert main(["predict", str(bare), image, "--whole", "--neighbours", "3"]) == 2
    assert "has no features yet" in capsys.readouterr().err


def test_a_model_without_a_dense_layer_has_no_features():
    import keras

    inputs = keras.Input((48, 48, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(7, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax")(pooled), name="conv_only")
    with pytest.raises(FeatureError, match="conv_only.* has no final Dense layer"):
        final_dense(model)


def test_features_of_a_run_without_a_model_are_refused_before_queueing(demo_run, tmp_path):
    bare = _copy(demo_run, tmp_path)
    runs.files(bare).model.unlink()
    with pytest.raises(RunError, match="has no model.keras"):
        features_task.spec(bare)


def test_a_data_set_no_longer_at_hand_is_named(demo_run, tmp_path):
    moved = _copy(demo_run, tmp_path)
    record = runs.read_config(moved)
    gone = tmp_path / "fer2013-moved"
    runs.write_config(moved, replace(record, config={**record.config, "data": str(gone)}))
    with pytest.raises(DataError, match="fer2013-moved"):
        features_task.compute_and_keep(moved)
    assert not store.has_features(moved)


@pytest.mark.slow
def test_the_features_task_runs_through_the_queue_on_the_whole_demo(demo_run, tmp_path):
    run_dir = _copy(demo_run, tmp_path / "runs")
    task_dir = tasks.submit(features_task.KIND, features_task.spec(run_dir),
                            subject=run_dir.name, runs_root=tmp_path / "runs")
    assert tasks.wait(task_dir, timeout=600) == "succeeded", tasks.log_tail(task_dir)
    assert features_task.latest(run_dir, runs_root=tmp_path / "runs") == task_dir
    meta = store.read_meta(run_dir)
    assert meta["faces"] == {"train": 2520, "val": 280, "test": 700}
    assert meta["kept_dimensions"] == 256 and 0.9 < meta["variance_kept"] <= 1.0
    assert store.read_projection(run_dir)[1].shape == (256, meta["dimensions"])
    faces = TrainingFaces.of_run(run_dir)
    first = str(faces.ids[0])
    near = faces.nearest_to_faces([first], 1)
    assert near["id"].iloc[0] == first or near["distance"].iloc[0] < 1e-3


def test_label_shares_count_the_labels_of_the_nearest_pool_faces():
    from fer_core.inference.neighbours import label_shares

    pool = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.2, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 1])
    shares = label_shares(pool, labels, np.array([[1, 0.05], [0.05, 1]]), classes=3, k=3)
    np.testing.assert_allclose(shares, [[2 / 3, 1 / 3, 0], [0, 1, 0]], atol=1e-6)


def test_suspect_evidence_mixes_in_the_neighbours_vote_at_its_weight():
    from fer_core.tasks.suspects import scored_probabilities

    proba = np.array([[0.8, 0.2], [0.1, 0.9]], dtype=np.float32)
    shares = np.array([[0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(scored_probabilities(proba, shares, 0.0), proba)
    mixed = scored_probabilities(proba, shares, 0.25)
    np.testing.assert_allclose(mixed, (proba + 0.25 * shares) / 1.25, rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="weight must be 0 or more"):
        scored_probabilities(proba, shares, -1.0)
