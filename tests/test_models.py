"""Tests of fer_core.training.models: the backbone registry, freezing, fine-tuning and safe loading.

Applications are built at their smallest input size with random weights, so the whole file
runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
from pathlib import Path

import keras
import numpy as np
import pytest

from fer_core.core.errors import ModelError
from fer_core.training.models import (
    BACKBONES,
    FerModel,
    backbone_names,
    build_model,
    load_model,
    register_layers,
    unfreeze_top,
)

SMALL_SIZE = {"inceptionv3": 75, "mobilenetv2": 32, "efficientnetb0": 32, "resnet50": 32}


def _pixels(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 48, 1)).astype("float32")


def _small(backbone: str, **kwargs: object) -> FerModel:
    return build_model(backbone, num_classes=5, input_size=SMALL_SIZE.get(backbone, 0), **kwargs)


@pytest.fixture
def notop_weights(tmp_path: Path) -> Path:
    """A local notop weights file of MobileNetV2, standing in for the ImageNet download."""
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "mobilenetv2_notop.weights.h5"
    base.save_weights(path)
    return path


def test_import_models_does_not_load_tensorflow() -> None:
    # Config validation and the pages import the registry: TensorFlow must stay out of it.
    code = (
        "import sys, fer_core.training.models, fer_core.training.augment, fer_core.core.config; "
        "sys.exit(int(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules)))"
    )
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_backbone_names_lists_registry_in_order() -> None:
    names = backbone_names()
    assert names == list(BACKBONES)
    assert {"inceptionv3", "mobilenetv2", "efficientnetb0", "resnet50", "fer-cnn",
            "fer-vgg"} <= set(names)
    assert BACKBONES["inceptionv3"].native_size == 299
    assert BACKBONES["fer-cnn"].channels == 1 and not BACKBONES["fer-cnn"].pretrained


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_build_model_each_backbone_predicts_probabilities(backbone: str) -> None:
    fer = _small(backbone)
    x = _pixels()
    probabilities = np.asarray(fer.model(x, training=False))
    assert fer.model.input_shape == (None, 48, 48, 1)
    assert probabilities.shape == (3, 5)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    via_parts = fer.head(fer.features(x, training=False), training=False)
    np.testing.assert_allclose(np.asarray(via_parts), probabilities, atol=1e-6)
    assert not fer.frozen
    assert (fer.backbone is None) == (not fer.spec.pretrained)


def test_build_model_size_zero_uses_native_size() -> None:
    fer = build_model("mobilenetv2", num_classes=7)
    assert fer.model.get_layer("resize").output.shape == (None, 224, 224, 1)
    assert fer.backbone.input_shape == (None, 224, 224, 3)
    assert "resize" not in [layer.name for layer in _small("fer-cnn").model.layers]


def test_build_model_same_seed_same_initial_weights() -> None:
    first, second = _small("fer-cnn", seed=3), _small("fer-cnn", seed=3)
    for a, b in zip(first.model.weights, second.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def count_params(model: keras.Model, *, trainable_only: bool = False) -> int:
    weights = model.trainable_weights if trainable_only else model.weights
    return sum(int(np.prod(weight.shape)) for weight in weights)


def test_count_params_our_cnns_stay_cpu_sized() -> None:
    cnn, vgg = _small("fer-cnn").model, _small("fer-vgg").model
    assert count_params(cnn) == cnn.count_params()
    assert 300_000 < count_params(cnn) < 1_500_000
    assert count_params(cnn) < count_params(vgg) < 5_000_000


@pytest.mark.parametrize(
    ("backbone", "kwargs", "match"),
    [
        ("vgg16", {}, "backbone must be one of"),
        ("fer-cnn", {"weights": "imagenet"}, "no pre-trained weights"),
        ("mobilenetv2", {"weights": "/nowhere/x.h5"}, "does not exist"),
        ("mobilenetv2", {"weights": "/nowhere/x.pt"}, "ending in .h5 .or .weights.h5"),
        ("inceptionv3", {"input_size": 48}, "at least 75"),
        ("fer-cnn", {"num_classes": 1}, "at least 2"),
    ],
)
def test_build_model_bad_argument_raises_model_error(
    backbone: str, kwargs: dict, match: str
) -> None:
    with pytest.raises(ModelError, match=match):
        build_model(backbone, **{"num_classes": 7, **kwargs})


def test_build_model_local_weights_starts_frozen(notop_weights: Path) -> None:
    fer = build_model("mobilenetv2", num_classes=5, input_size=32, weights=str(notop_weights),
                      dropout=0.0)
    assert fer.frozen
    assert fer.backbone.trainable_weights == []
    assert count_params(fer.model, trainable_only=True) == count_params(fer.head)
    # The frozen backbone runs in inference mode even in a training step: BatchNorm uses
    # its stored statistics, so with no dropout training=True changes nothing.
    x = _pixels(4)
    np.testing.assert_allclose(
        np.asarray(fer.model(x, training=True)), np.asarray(fer.model(x, training=False)),
        atol=1e-5,
    )


def test_build_model_local_weights_are_loaded(notop_weights: Path) -> None:
    saved = keras.applications.MobileNetV2(include_top=False, weights=None,
                                           input_shape=(32, 32, 3))
    saved.load_weights(notop_weights)
    fer = build_model("mobilenetv2", num_classes=5, input_size=32, weights=str(notop_weights))
    np.testing.assert_array_equal(
        np.asarray(fer.backbone.get_layer("Conv1").kernel),
        np.asarray(saved.get_layer("Conv1").kernel),
    )


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_build_model_weights_of_other_architecture_raises(notop_weights: Path) -> None:
    with pytest.raises(ModelError, match="does not fit resnet50"):
        build_model("resnet50", num_classes=5, input_size=32, weights=str(notop_weights))


def test_unfreeze_top_frozen_backbone_unfreezes_all_but_batchnorm(notop_weights: Path) -> None:
    fer = build_model("mobilenetv2", num_classes=5, input_size=32, weights=str(notop_weights))
    unfrozen = unfreeze_top(fer, 10)
    assert 0 < unfrozen <= 10
    assert not fer.frozen
    layers = fer.backbone.layers
    trainable = [layer for layer in layers if layer.trainable and layer.weights]
    assert len(trainable) == unfrozen
    assert all(layer in layers[-10:] for layer in trainable)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert count_params(fer.model, trainable_only=True) > count_params(fer.head)


def test_unfreeze_top_our_cnn_returns_zero() -> None:
    fer = _small("fer-cnn")
    trainable_before = count_params(fer.model, trainable_only=True)
    assert unfreeze_top(fer, 10) == 0
    assert count_params(fer.model, trainable_only=True) == trainable_before


def test_build_model_imagenet_offline_names_file_to_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate no internet the way urllib reports it, in an empty Keras home, so the test
    # neither downloads nor finds an already cached file.
    import keras.src.backend.config as keras_config
    import keras.src.utils.file_utils as file_utils

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ModelError) as caught:
        build_model("inceptionv3", num_classes=7, input_size=75, weights="imagenet")
    message = str(caught.value)
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "models") in message
    assert "~/.keras/models" in message


@pytest.mark.parametrize("backbone", ["fer-cnn", "mobilenetv2"])
def test_load_model_saved_model_round_trips(backbone: str, tmp_path: Path) -> None:
    fer = _small(backbone)
    path = tmp_path / "model.keras"
    fer.model.save(path)
    loaded = load_model(path)
    x = _pixels()
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(fer.model(x, training=False)),
        atol=1e-6,
    )


def test_load_model_lambda_layer_raises_model_error(tmp_path: Path) -> None:
    inputs = keras.Input((48, 48, 1))
    outputs = keras.layers.Lambda(lambda x: x / 255.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="holds a Lambda layer"):
        load_model(path)


def test_load_model_garbage_file_raises_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelError, match="not a Keras model"):
        load_model(path)


def test_load_model_unsupported_format_raises_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("hello")
    with pytest.raises(ModelError, match="could not be loaded as a Keras model"):
        load_model(path)


def test_load_model_missing_file_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.keras")


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("shape", [(8, 6, 6, 5), (16, 5)])
def test_fused_batch_norm_trains_the_same_numbers_as_keras(policy: str, shape: tuple) -> None:
    """Our CNNs' batch normalisation runs as one kernel when training, for speed only: outputs,
    moving statistics and gradients match Keras' own layer, and inference is Keras' own path."""
    import keras
    import tensorflow as tf

    fused_class = register_layers()["fer_core>FusedBatchNormalization"]
    keras.mixed_precision.set_global_policy(policy)
    try:
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(2, 3, shape).astype("float32"))
        weights = tf.constant(rng.normal(0, 1, shape).astype("float32"))  # a loss with gradients
        found = []
        for layer in (keras.layers.BatchNormalization(momentum=0.9), fused_class(momentum=0.9)):
            layer.build(x.shape)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.cast(layer(x, training=True), "float32")
                loss = tf.reduce_sum(y * weights)
            grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
            found.append([y, layer.moving_mean, layer.moving_variance, *grads,
                          layer(x, training=False)])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for keras_value, fused_value in zip(*found, strict=True):
        np.testing.assert_allclose(np.asarray(tf.cast(fused_value, "float32")),
                                   np.asarray(tf.cast(keras_value, "float32")),
                                   rtol=tolerance, atol=tolerance)
