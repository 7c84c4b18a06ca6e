"""Models built from the backbone table. Every model takes raw 48x48 grey pixels and resizes,
converts to RGB and preprocesses inside, so the saved ``model.keras`` works on raw pixels and
no 224x224x3 copy of FER-2013 is ever made. Keras is imported in functions (seconds).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fer_core.core.backbones import (  # noqa: F401  (the registry's table, re-exported)
    BACKBONES,
    PREPROCESSING,
    BackboneSpec,
    backbone_names,
)
from fer_core.core.errors import ModelError
from fer_core.core.settings import IMAGE_SIZE

if TYPE_CHECKING:
    import keras

# Keras applications' downloads are legacy .h5 files; Keras 3 saves .weights.h5: both load.
WEIGHTS_SUFFIX = ".h5"
_NOTOP_EXAMPLE = "~/.keras/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # ImageNet channel means, as keras.applications


@dataclass
class FerModel:
    """A built model and its views that share its weights: training the ``head`` on cached
    features trains ``model`` too, and ``model`` is what gets saved."""

    model: keras.Model  # (48, 48, 1) raw pixels -> class probabilities (float32)
    features: keras.Model  # same input -> pooled feature vector
    head: keras.Model  # feature vector -> class probabilities
    backbone: keras.Model | None  # the keras.applications model, None for ours
    spec: BackboneSpec
    frozen: bool  # True while a pre-trained backbone is frozen


# --- custom layers -------------------------------------------------------------------------------


@functools.cache
def register_layers() -> dict[str, type]:
    """Define and register FER Studio's layers (defining needs Keras, hence a function); any
    reader of a FER Studio model calls it before ``keras.saving.load_model``."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="fer_core")
    class GreyToRGB(keras.layers.Layer):
        """Repeat the grey channel three times: ImageNet backbones expect RGB."""

        def call(self, inputs: Any) -> Any:
            return ops.repeat(inputs, 3, axis=-1)

    @keras.saving.register_keras_serializable(package="fer_core")
    class Preprocess(keras.layers.Layer):
        """A backbone's own input scaling, as a layer (a Lambda would not load in safe mode)."""

        def __init__(self, mode: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if mode not in PREPROCESSING:
                raise ValueError(f"mode must be one of {PREPROCESSING}; got {mode!r}.")
            self.mode = mode

        def call(self, inputs: Any) -> Any:
            if self.mode == "tf":
                return inputs / 127.5 - 1.0
            if self.mode == "unit":
                return inputs / 255.0
            if self.mode == "caffe":
                mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=inputs.dtype)
                return ops.flip(inputs, axis=-1) - mean  # RGB -> BGR, then centre
            return inputs

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "mode": self.mode}

    @keras.saving.register_keras_serializable(package="fer_core")
    class FusedBatchNormalization(keras.layers.BatchNormalization):
        """Trains as one TensorFlow kernel, where Keras 3 runs separate float32 ops with casts
        around them: 20-35% of a CPU training step (bench/RESULTS.md). Same arithmetic."""

        def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
            fused = training and self.trainable and self.center and self.scale and mask is None
            if not fused or self.renorm or len(inputs.shape) != 4:  # Keras runs on TensorFlow
                return super().call(inputs, training=training, mask=mask)  # and inference
            import tensorflow as tf

            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, tf.cast(self.gamma.value, "float32"), tf.cast(self.beta.value, "float32"),
                epsilon=self.epsilon, is_training=True)
            count = tf.cast(tf.size(inputs) // inputs.shape[-1], "float32")
            variance *= (count - 1.0) / count  # the kernel's is unbiased; Keras keeps the batch's
            for moving, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(moving * self.momentum + value * (1.0 - self.momentum))
            return ops.cast(y, self.compute_dtype)

    return {"fer_core>GreyToRGB": GreyToRGB, "fer_core>Preprocess": Preprocess,
            "fer_core>FusedBatchNormalization": FusedBatchNormalization}


if "keras" in sys.modules:  # Keras is loaded already, so registering now costs nothing and
    register_layers()  # lets a plain keras.saving.load_model read our models.


# --- building ------------------------------------------------------------------------------------


def build_model(backbone: str, *, num_classes: int, input_size: int = 0, weights: str = "none",
                dropout: float = 0.5, seed: int = 0) -> FerModel:
    """A classifier of raw 48x48 grey faces on a backbone; ``weights`` is "none", "imagenet"
    or a notop weights file, and pre-trained backbones start frozen, as transfer learning wants.
    """
    import keras
    from keras import layers

    spec = _spec(backbone)
    size = input_size or spec.native_size
    _check_arguments(spec, num_classes=num_classes, size=size, dropout=dropout)
    source = _resolve_weights(spec, weights)
    custom = register_layers()
    keras.utils.set_random_seed(seed)

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="pixels")
    x = inputs
    if size != IMAGE_SIZE:
        x = layers.Resizing(size, size, name="resize")(x)
    if spec.channels == 3:
        x = custom["fer_core>GreyToRGB"](name="grey_to_rgb")(x)
    if spec.preprocessing != "keep":
        x = custom["fer_core>Preprocess"](spec.preprocessing, name="preprocess")(x)

    base = None
    frozen = source is not None
    if spec.pretrained:
        base = _application(spec, size, source)
        base.trainable = not frozen
        # training=False keeps BatchNorm in inference mode even once the top is unfrozen
        # (keras-io transfer learning guide); a backbone trained from scratch needs its BN live.
        x = base(x, training=False) if frozen else base(x)
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = _OUR_BUILDERS[spec.name](x)
    feature_vector = x

    dropout_layer = layers.Dropout(dropout, seed=seed, name="dropout")
    dense = layers.Dense(num_classes, name="logits")
    softmax = layers.Activation("softmax", dtype="float32", name="probabilities")
    outputs = softmax(dense(dropout_layer(feature_vector)))
    model = keras.Model(inputs, outputs, name=spec.name.replace("-", "_"))
    features = keras.Model(inputs, feature_vector, name="features")
    head_inputs = keras.Input(feature_vector.shape[1:], name="feature_vector")
    head = keras.Model(head_inputs, softmax(dense(dropout_layer(head_inputs))), name="head")
    return FerModel(model, features, head, base, spec, frozen)


def _spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ModelError(f"backbone must be one of {', '.join(BACKBONES)}; got {name!r}.")
    return BACKBONES[name]


def _check_arguments(spec: BackboneSpec, *, num_classes: int, size: int, dropout: float) -> None:
    if num_classes < 2:
        raise ModelError(f"num_classes must be at least 2; got {num_classes}.")
    if size < spec.min_size:
        raise ModelError(f"input_size must be at least {spec.min_size} for {spec.name}; got "
                         f"{size}. Use 0 for its own size ({spec.native_size}).")
    if not 0.0 <= dropout < 1.0:
        raise ModelError(f"dropout must be in [0, 1); got {dropout}.")


def _resolve_weights(spec: BackboneSpec, weights: str) -> str | None:
    """``weights`` as keras.applications takes it: None, "imagenet" or an existing file."""
    if weights in ("none", ""):
        return None
    if not spec.pretrained:
        raise ModelError(f"{spec.name} has no pre-trained weights: it trains from scratch. "
                         f"Use weights=none; got {weights!r}.")
    if weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not path.name.lower().endswith(WEIGHTS_SUFFIX):
        raise ModelError("weights must be none, imagenet or a Keras weights file ending in .h5 "
                         f"(or .weights.h5); got {weights!r}. Give the path of {spec.name}'s notop "
                         f"file, such as {_NOTOP_EXAMPLE}.")
    if not path.is_file():
        raise ModelError(f"weights must be none, imagenet or an existing weights file; {weights!r} "
                         f"does not exist. Give the path of {spec.name}'s notop weights file.")
    return str(path)


def _application(spec: BackboneSpec, size: int, weights: str | None) -> keras.Model:
    """The keras.applications backbone, with a message that says what to do when offline."""
    from keras import applications

    constructor = getattr(applications, spec.application)
    try:
        return constructor(include_top=False, weights=weights, input_shape=(size, size, 3))
    except Exception as err:  # get_file raises a bare Exception when the download fails
        if weights == "imagenet":
            raise ModelError(_download_failed_message(spec, err)) from err
        raise ModelError(
            f"The weights file {weights} does not fit {spec.name} ({_brief(err)}). It must "
            f"hold the notop weights (include_top=False) of the same architecture."
        ) from err


def _download_failed_message(spec: BackboneSpec, err: Exception) -> str:
    """Name the exact file and folder, so an offline user can place the weights by hand."""
    keras_home = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser()
    found = re.search(r"URL fetch failure on (\S+?):? ", str(err))
    if found is None:
        return f"Could not load the ImageNet weights of {spec.name}: {_brief(err)}"
    url = found.group(1)
    file_name = url.rsplit("/", 1)[-1]
    return (
        f"Could not download the ImageNet weights of {spec.name} (no internet?). Download "
        f"{file_name} from {url} and put it in {keras_home / 'models'} ($KERAS_HOME/models, "
        f"by default ~/.keras/models), or pass its local path as weights.")


def _conv_bn_relu(x: Any, filters: int, name: str) -> Any:
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = register_layers()["fer_core>FusedBatchNormalization"](momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _fer_cnn(x: Any) -> Any:
    """Four conv blocks: an epoch of FER-2013 in about 40 s on two cores. Widths 48-384, as
    32-256 underfitted; flatten, as pooling away where a feature sits (mouth or brows) made
    learning several times slower."""
    from keras import layers

    for stage, filters in enumerate((48, 96, 192, 384), start=1):
        x = _conv_bn_relu(x, filters, f"block{stage}")
        x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    return layers.Flatten(name="flatten")(x)


def _fer_vgg(x: Any) -> Any:
    """VGG as in Khaireddin & Chen (2021), channels halved so an epoch of FER-2013 takes
    minutes on a CPU; flatten, not pooling, at 3x3 where the parts of a face are still apart."""
    from keras import layers

    for stage, filters in enumerate((32, 64, 128, 256), start=1):
        x = _conv_bn_relu(x, filters, f"block{stage}a")
        x = _conv_bn_relu(x, filters, f"block{stage}b")
        x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, use_bias=False, kernel_initializer="he_normal", name="fc")(x)
    x = layers.BatchNormalization(momentum=0.9, name="fc_bn")(x)
    return layers.ReLU(name="fc_relu")(x)


_OUR_BUILDERS = {"fer-cnn": _fer_cnn, "fer-vgg": _fer_vgg}


# --- fine-tuning, loading ------------------------------------------------------------------------


def unfreeze_top(fer_model: FerModel, n_layers: int) -> int:
    """Make the top ``n_layers`` of a frozen backbone trainable, but not BatchNorm: small FER
    batches would wreck its ImageNet statistics. Return how many with weights; recompile."""
    from keras import layers

    base = fer_model.backbone
    if base is None or not fer_model.frozen or n_layers <= 0:
        return 0
    base.trainable = True
    top = base.layers[-n_layers:]
    unfrozen = 0
    for layer in base.layers:
        layer.trainable = layer in top and not isinstance(layer, layers.BatchNormalization)
        unfrozen += bool(layer.trainable and layer.weights)
    fer_model.frozen = False
    return unfrozen


MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def _float32_config(value: Any) -> Any:
    """A model config with every mixed or half dtype policy replaced by float32."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if isinstance(value, str) and value in MIXED_POLICIES:
        return "float32"
    return value


def as_float32(model: Any) -> Any:
    """``model`` itself when it computes in float32; otherwise a float32 copy of it: rebuilt from
    its config with every dtype policy float32 and given the same weights (mixed precision keeps
    variables in float32, so nothing is lost). Every prediction (pages, commands, evaluation,
    video, exports) comes from this one model, so the app and its exports give one answer; the
    bfloat16 graph differs from it by up to ~3e-2 in a probability."""
    import keras
    import numpy as np

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    with keras.dtype_policies.policy_scope("float32") if hasattr(
            keras.dtype_policies, "policy_scope") else contextlib.nullcontext():
        copy = keras.Model.from_config(_float32_config(model.get_config()),
                                       custom_objects=register_layers())
    copy.set_weights([np.asarray(w, dtype=np.float32) for w in model.get_weights()])
    return copy


def load_model(path: str | Path) -> keras.Model:
    """Load a saved model in safe mode: a ``.keras`` file can carry code, ours never does."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Model file {path} does not exist. Pick a finished run's model.keras.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a Keras model: a .keras file is a zip archive and this "
                         "one is not. It may be truncated; export the model again.")
    register_layers()
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, OSError, KeyError... for a bad file
        if "Lambda" in str(err) or "safe_mode" in str(err):
            raise ModelError(
                f"{path} holds a Lambda layer (arbitrary code), which FER Studio does not "
                f"load. Rebuild the model without Lambda layers."
            ) from err
        raise ModelError(
            f"{path} could not be loaded as a Keras model ({_brief(err)}). Expected a .keras "
            f"file saved by FER Studio."
        ) from err


def _brief(err: Exception, limit: int = 200) -> str:
    """The first line of a Keras error: some run to pages, listing every layer."""
    lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    first = lines[0].rstrip(": ")
    return first if len(first) <= limit else first[: limit - 3] + "..."
