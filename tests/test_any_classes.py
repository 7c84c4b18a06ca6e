"""Data sets with other class sets than the seven emotions, end to end.

A 3-class set with ``contempt`` (drawn by the demo generator, so it is learnable) and a
12-class set are each loaded, trained briefly, evaluated, reported, exported, predicted on and
shown in Explore and Results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from fer_core import runs
from fer_core.cli import main
from fer_core.core.config import preset
from fer_core.core.emotions import COLORS, EMOTIONS
from fer_core.core.errors import DataError
from fer_core.data import DataRef, load_dataset
from fer_core.data.demo import draw_face
from fer_core.export import export_run
from fer_core.inference.evaluation import predict_images
from fer_core.reports import report
from fer_core.tasks.train import train

ROOT = Path(__file__).resolve().parents[1]
# contempt is drawn as the demo's one-sided sneer (disgust's), the others as themselves.
THREE = {"contempt": "disgust", "happy": "happy", "sad": "sad"}
TWELVE = {name: EMOTIONS[k % len(EMOTIONS)] for k, name in enumerate(
    ("pain", "Unknown", "calm", "bored", "happily_surprised", "sleepy", "angry", "disgust",
     "fear", "happy", "neutral", "sad"))}


def _write_folders(root: Path, drawn_as: dict[str, str], *, train: int, test: int) -> Path:
    """ROOT/<split>/<class>/<i>.png, each face drawn by the demo generator."""
    for split_index, (split, n) in enumerate((("train", train), ("test", test))):
        for class_index, (name, emotion) in enumerate(drawn_as.items()):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                rng = np.random.default_rng([7, split_index, class_index, i])
                Image.fromarray(draw_face(emotion, rng)).save(folder / f"{i:03d}.png")
    (root / "train" / ".ipynb_checkpoints").mkdir()  # never a class
    return root


def _train(data: Path, runs_root: Path, name: str, **changes) -> Path:
    run_dir = runs_root / f"20260101-000000-{name}"
    config = preset("fast-cpu").replace(data=str(data), seed=0, tta=False, tta_shift=0,
                                        **changes)
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": "fast-cpu"})
    train(config, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def three_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 3-class folder set: 60 training and 20 test faces a class."""
    return _write_folders(tmp_path_factory.mktemp("three") / "ckplus", THREE, train=60, test=20)


@pytest.fixture(scope="module")
def three(three_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, finished run) of the 3-class set, 4 epochs (batch 8: enough steps for
    its batch normalisation statistics to settle, so it learns)."""
    data = three_data
    runs_root = tmp_path_factory.mktemp("three-runs")
    return data, _train(data, runs_root, "three", epochs=4, augment=False, batch_size=8,
                        label_smoothing=0.0)


@pytest.fixture(scope="module")
def twelve(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, finished run) of the 12-class set: 10 faces a class, 1 epoch."""
    data = _write_folders(tmp_path_factory.mktemp("twelve") / "mixed", TWELVE, train=10, test=4)
    runs_root = tmp_path_factory.mktemp("twelve-runs")
    return data, _train(data, runs_root, "twelve", epochs=1)


def test_load_three_classes_in_alphabetical_order(three_data):
    ds = load_dataset(three_data)
    assert ds.classes == ("contempt", "happy", "sad")
    assert ds.counts().loc["contempt", "train"] == 60


def test_cli_data_info_lists_the_classes_found(three_data, capsys):
    assert main(["data", "info", "--data", str(three_data)]) in (0, None)
    assert "3 classes found: contempt, happy, sad" in capsys.readouterr().out


@pytest.mark.slow
def test_three_classes_train_learns_and_writes_three_way_outputs(three):
    _, run_dir = three
    metrics = runs.read_metrics(run_dir)
    matrix = np.array(metrics["test"]["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 60
    assert metrics["test"]["accuracy"] > 0.5  # chance is 1/3
    assert {"p_contempt", "p_happy", "p_sad"} <= set(runs.read_predictions(run_dir).columns)
    assert "contempt" in runs.files(run_dir).model_card.read_text()


@pytest.mark.slow
def test_three_classes_report_export_and_predict(three, tmp_path):
    data, run_dir = three
    ds = load_dataset(data)
    page = report.build_report([run_dir], dict(zip(ds.index["id"], ds.images, strict=True)),
                               fingerprint=ds.fingerprint)
    assert "true contempt, predicted contempt" in page

    entries = export_run(run_dir, ["onnx"], out_dir=tmp_path / "export")
    (onnx,) = entries
    assert onnx["max_abs_diff"] <= 1e-4 and onnx["top1_agreement"] == 1.0
    labels = (tmp_path / "export" / "labels.txt").read_text().split()
    assert labels == ["contempt", "happy", "sad"]

    classes, proba = predict_images([run_dir], ds.split("test").images[:5])
    assert tuple(classes) == ("contempt", "happy", "sad") and proba.shape == (5, 3)


@pytest.mark.slow
def test_twelve_classes_train_card_calibration_report_export_predict(twelve, tmp_path):
    data, run_dir = twelve
    ds = load_dataset(data)
    assert len(ds.classes) == 12 and ds.classes[0] == "angry" and "unknown" in ds.classes
    matrix = np.array(runs.read_metrics(run_dir)["test"]["confusion_matrix"])
    assert matrix.shape == (12, 12)
    assert "into 12 classes (angry, bored" in runs.files(run_dir).model_card.read_text()
    assert json.loads(runs.files(run_dir).calibration.read_text())["temperature"] > 0
    page = report.build_report([run_dir], dict(zip(ds.index["id"], ds.images, strict=True)),
                               fingerprint=ds.fingerprint)
    assert "true happily_surprised, predicted" in page
    (entry,) = export_run(run_dir, ["savedmodel"], out_dir=tmp_path / "export")
    assert entry["max_abs_diff"] <= 1e-4 and entry["top1_agreement"] == 1.0
    classes, proba = predict_images([run_dir], ds.images[:3])
    assert len(classes) == 12 and proba.shape == (3, 12)


def _charts(at: AppTest) -> dict[str, dict]:
    specs = [json.loads(node.proto.spec) for node in at.get("vega_lite_chart")]
    return {spec.get("usermeta", {}).get("fer_chart"): spec for spec in specs}


@pytest.mark.slow
@pytest.mark.parametrize("which", ["three", "twelve"])
def test_explore_and_results_pages_render_other_class_sets(which, request, tmp_path):
    data, run_dir = request.getfixturevalue(which)
    n = len(load_dataset(data).classes)
    explore = AppTest.from_file(str(ROOT / "app_pages" / "explore.py"), default_timeout=60)
    explore.session_state["app.data"] = DataRef(data)
    explore.session_state["app.runs_dir"] = str(tmp_path / "runs")
    explore.run()
    assert not explore.exception
    assert any(f"{n} classes found:" in c.value for c in explore.caption)

    root = tmp_path / "runs"
    shutil.copytree(run_dir, root / run_dir.name)
    results = AppTest.from_file(str(ROOT / "app_pages" / "results.py"), default_timeout=60)
    results.session_state["app.runs_dir"] = str(root)
    results.session_state["app.data"] = DataRef(data)
    results.run()
    assert not results.exception
    classes = list(load_dataset(data).classes)
    for name in ("confusion_matrix", "per_class"):
        spec = _charts(results)[name]
        assert json.dumps(classes) in json.dumps(spec), name  # the axis order: every class


def test_misspelt_folder_suggests_the_emotion(tmp_path):
    root = _write_folders(tmp_path / "typo", {"hapy": "happy", "sad": "sad"}, train=1, test=1)
    with pytest.raises(DataError, match="'hapy' looks like a misspelling of 'happy'"):
        load_dataset(root)


def test_one_class_folder_is_a_clear_error(tmp_path):
    root = _write_folders(tmp_path / "one", {"contempt": "disgust"}, train=2, test=1)
    with pytest.raises(DataError, match="between 2 and 50 classes; got 1: contempt"):
        load_dataset(root)


def test_preset_naming_an_absent_class_is_refused_before_training(three_data, tmp_path):
    config = preset("seed-no-disgust").replace(data=str(three_data))
    run_dir = tmp_path / "runs" / "20260101-000000-seed-no-disgust"
    runs.create_run(config.to_dict(), run_dir=run_dir, extra={"preset": "seed-no-disgust"})
    with pytest.raises(DataError, match="Preset seed-no-disgust drops the class 'disgust'.*"
                                        "its classes are contempt, happy, sad"):
        train(config, run_dir)
    assert not runs.files(run_dir).model.exists()


def test_seven_emotions_keep_their_colours_in_charts():
    from views.run_charts import probability_chart, probability_frame

    spec = probability_chart(probability_frame(("contempt", "happy"), [0.3, 0.7])).to_dict()
    scale = spec["encoding"]["color"]["scale"]
    assert scale["range"][scale["domain"].index("happy")] == COLORS["happy"]
    assert len(set(scale["range"])) == 2


def test_train_page_refuses_a_preset_naming_an_absent_class(three_data, tmp_path):
    at = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=60)
    at.session_state["app.runs_dir"] = str(tmp_path / "runs")
    at.session_state["app.data"] = DataRef(three_data)
    at.run()
    assert not at.error
    at.selectbox(key="train.preset").select("seed-no-disgust").run()
    assert not at.exception
    assert any("Preset seed-no-disgust drops the class 'disgust'" in e.value and
               "contempt, happy, sad" in e.value for e in at.error)
    assert at.button(key="train.launch").disabled
