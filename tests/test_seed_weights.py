"""The seed report's recipe offline: ``seed-baseline`` with its ImageNet weights replaced by a
local notop ``.h5`` file, trained end to end from the command line.

The stand-in file is InceptionV3 without its top, random weights at the smallest input it takes
(75x75), saved the way Keras applications' downloads are saved (a legacy ``.h5``). Its BatchNorm
moving means are set to 0.25, a value no fresh network starts with, so a backbone that holds
them can only have read them from the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fer_core import runs
from fer_core.cli import main
from tests.conftest import make_kaggle_tree

STAND_IN_MEAN = 0.25


@pytest.fixture(scope="module")
def stand_in_notop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """The file and the weights it holds."""
    import keras

    base = keras.applications.InceptionV3(include_top=False, weights=None,
                                          input_shape=(75, 75, 3))
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, STAND_IN_MEAN))
    path = tmp_path_factory.mktemp("keras-models") / "inception_v3_stand_in_notop.h5"
    base.save(path)  # the legacy HDF5 format of the real download; load_weights reads it
    return path, base.get_weights()


def _backbone_weights(model) -> list[np.ndarray]:
    import keras

    (base,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return base.get_weights()


@pytest.mark.slow
def test_seed_baseline_with_a_local_notop_file_trains_on_the_file_weights(
        stand_in_notop: tuple[Path, list[np.ndarray]], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    from fer_core.training.models import load_model

    weights_file, expected = stand_in_notop
    data = make_kaggle_tree(tmp_path / "faces", dict.fromkeys(
        ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"), 5))
    run_dir = tmp_path / "seed-baseline-offline"
    main(["train", "--preset", "seed-baseline", "--data", str(data), "--run-dir", str(run_dir),
          "--set", f"weights={weights_file}", "--set", "input_size=75",
          "--set", "epochs=1", "--set", "batch_size=8", "--set", "subsample_per_class=4"])
    assert "test: accuracy" in capsys.readouterr().out

    config = runs.read_config(run_dir).config
    assert (config["backbone"], config["weights"]) == ("inceptionv3", str(weights_file))
    metrics = runs.read_metrics(run_dir)
    assert metrics["test"]["n"] == 35 and runs.read_status(run_dir).state == "succeeded"
    trained = _backbone_weights(load_model(runs.files(run_dir).model))
    assert len(trained) == len(expected)
    for got, want in zip(trained, expected, strict=True):
        np.testing.assert_array_equal(got, want)  # frozen: the file's weights, untouched
    means = [w for w in trained if w.ndim == 1 and np.all(w == STAND_IN_MEAN)]
    assert len(means) == 94  # every BatchNorm of InceptionV3 read its mean from the file
