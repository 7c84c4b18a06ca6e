"""``python -m bench.limits``: the numbers it prints are computed from the model and the
machine, never typed in."""

from __future__ import annotations

import keras
import pytest

from bench import limits


def _tiny_model() -> keras.Model:
    """A 12x12 grey image, one 3x3 convolution of 4 filters, a 2x2 pooling, a dense layer."""
    keras.mixed_precision.set_global_policy("float32")
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])


def test_flops_are_counted_from_the_models_layers() -> None:
    convolution = 2 * 12 * 12 * (3 * 3 * 1) * 4  # multiply and add per output value
    dense = 2 * (6 * 6 * 4) * 3
    assert limits.forward_flops(_tiny_model()) == convolution + dense
    wider = _tiny_model()
    assert limits.forward_flops(keras.Sequential([wider, keras.layers.Dense(5)])) == \
        convolution + dense + 2 * 3 * 5  # nested models count too


def test_fer_vgg_costs_what_its_layers_say() -> None:
    flops = limits.training_flops("fer-vgg")
    assert flops == pytest.approx(3 * 0.237e9, rel=0.01)  # its forward pass at 48x48
    assert limits.training_flops("fer-cnn") < flops


def test_matrix_product_rate_and_units_are_measured() -> None:
    assert limits.matmul_rate("float32", size=128, seconds=0.2) > 0.1  # GFLOP/s
    assert "avx" in limits.units() or limits.units().startswith(("none of", "unknown"))


@pytest.mark.slow  # it trains a few steps
def test_step_profile_sums_op_time_by_kind() -> None:
    seconds = limits.profile_fit(_tiny_model(), batch=8, steps=4)
    assert seconds["convolution forward"] > 0 and seconds["convolution backward"] > 0
    assert set(seconds) <= {kind for kind, _ in limits.KINDS} | {"other"}
    assert limits.kind_of("Conv2DBackpropFilter") == "convolution backward"
