"""Grad-CAM (Selvaraju et al. 2017): where in the face the evidence for a class lies.

The map is the last convolutional feature map weighted by the gradient of the class's
pre-softmax logit (so a confident class still gets a gradient), summed over channels and kept
where positive. Two weightings (``method``):

- ``"hirescam"`` (the default; Draelos & Carin 2020): each position's activations times the
  gradient at that position. Behind global average pooling (every ImageNet backbone here) this
  is exactly Grad-CAM's map, up to scale; FER Studio's own CNNs flatten the feature map into a
  dense layer, so that *where* a feature sits counts, and this keeps that "where" (on the demo
  set it puts 1.5 times a uniform map's mass on mouth, brows and eyes; classic, 1.15 times).
- ``"gradcam"``: the classic: the gradient averaged over space, one weight per channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.core.errors import ModelError
from fer_core.inference.graph import input_of, output_of

_POOLING_WORDS = ("Pooling", "Flatten", "Reshape")  # these end a conv block's feature map


class ExplainError(ModelError):
    """A model cannot be explained with Grad-CAM (it has no convolutional feature map)."""


@dataclass(frozen=True)
class Explanation:
    """Grad-CAM maps of a batch of faces, the class each explains, and the probabilities."""

    maps: np.ndarray  # (N, H, W) float32 in [0, 1], at the input's resolution
    class_indices: np.ndarray  # (N,) int: the class each map explains
    probabilities: np.ndarray  # (N, C) float32: the model's output for each face
    layer: str  # the feature map's layer, e.g. "block4b_relu" or "mobilenetv2_1.00_224"


def _holds_conv(layer: Any) -> bool:
    """A conv layer (Conv2D, DepthwiseConv2D, SeparableConv2D...), or a nested model (a
    backbone) with one anywhere inside."""
    if "Conv" in type(layer).__name__:
        return True
    return any(_holds_conv(inner) for inner in getattr(layer, "layers", ()))


def _rank(model: Any, layer: Any) -> int:
    try:
        return len(output_of(model, layer).shape)
    except (AttributeError, ValueError, IndexError, ModelError):
        return 0


def find_feature_layer(model: Any) -> Any:
    """The layer whose output is the model's last convolutional feature map: the last layer
    with a 4-D output that is, or holds, a convolution, then the layers right after it that keep
    its shape (BatchNorm, ReLU), so the map is the conv block's activation, as in the paper."""
    layers = list(model.layers)
    last = None
    for i, layer in enumerate(layers):
        if _rank(model, layer) == 4 and _holds_conv(layer):
            last = i
    if last is None:
        kinds = sorted({type(layer).__name__ for layer in layers})
        raise ExplainError(
            f"Grad-CAM needs a convolutional layer, and model {model.name!r} has none "
            f"(its layers: {', '.join(kinds)}). Explanations work for convolutional networks "
            "only; pick a run trained on one of FER Studio's backbones.")
    shape = tuple(output_of(model, layers[last]).shape)
    while last + 1 < len(layers):
        after = layers[last + 1]
        if any(w in type(after).__name__ for w in _POOLING_WORDS) or _rank(model, after) != 4:
            break
        if tuple(output_of(model, after).shape) != shape:
            break
        last += 1
    return layers[last]


def _score_tensor(model: Any) -> tuple[Any, bool]:
    """The class scores to differentiate, and whether they are logits. A softmax at the end is
    skipped: the logits carry a gradient even for a face the model is sure about, where the
    probability has saturated at 1."""
    final = model.layers[-1]
    activation = getattr(final, "activation", None)
    if type(final).__name__ == "Activation" and getattr(activation, "__name__", "") == "softmax":
        return input_of(model, final), True
    return model.outputs[0], False


METHODS = ("hirescam", "gradcam")


class GradCam:
    """Grad-CAM for one Keras model; build once, call on as many batches as needed."""

    def __init__(self, model: Any, *, layer: str | None = None,
                 method: str = "hirescam") -> None:
        import keras

        if method not in METHODS:
            raise ExplainError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
        self.method = method
        self._compiled: Any = None  # the tf.function of _maps, traced on first use
        self.model = model
        feature = model.get_layer(layer) if layer else find_feature_layer(model)
        self.layer = feature.name
        scores, self._logits = _score_tensor(model)
        self._grad_model = keras.Model(model.inputs, [output_of(model, feature), scores,
                                                      model.outputs[0]])

    def __call__(self, images: np.ndarray, *, class_index: int | np.ndarray | None = None,
                 batch_size: int = 64) -> Explanation:
        """Maps for (N, 48, 48) uint8 faces: each face's predicted class, or ``class_index``
        (one class for all faces, or one per face)."""
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        n_classes = int(self.model.outputs[0].shape[-1])
        chosen = None
        if class_index is not None:
            chosen = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (len(images),))
            if chosen.size and not (chosen.min() >= 0 and chosen.max() < n_classes):
                raise ExplainError(f"class_index must be in 0..{n_classes - 1}; got {class_index}.")
        parts = [self._batch(images[i:i + batch_size],
                             None if chosen is None else chosen[i:i + batch_size])
                 for i in range(0, len(images), batch_size)]
        maps, chosen, proba = (np.concatenate(p) for p in zip(*parts, strict=True))
        return Explanation(maps, chosen, proba, self.layer)

    def _batch(self, images: np.ndarray, class_index: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import tensorflow as tf

        if self._compiled is None:  # a graph: per call, eager mode costs more than the maths
            self._compiled = tf.function(self._maps, reduce_retracing=True)
        chosen = np.full(len(images), -1, np.int32) if class_index is None else class_index
        cam, picked, proba = self._compiled(
            tf.convert_to_tensor(images[..., None].astype(np.float32)),
            tf.convert_to_tensor(np.asarray(chosen, dtype=np.int32)))
        return cam.numpy().astype(np.float32), picked.numpy(), proba.numpy()

    def _maps(self, x: Any, chosen: Any) -> tuple[Any, Any, Any]:
        """Maps, classes explained and probabilities; ``chosen`` -1: the predicted class."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)  # a model with no trainable weights still records its graph
            fmap, scores, proba = self._grad_model(x, training=False)
            scores = tf.cast(scores, tf.float32)
            if not self._logits:
                scores = tf.math.log(tf.maximum(scores, 1e-7))
            proba = tf.cast(proba, tf.float32)
            chosen = tf.where(chosen < 0, tf.argmax(proba, axis=1, output_type=tf.int32), chosen)
            target = tf.gather(scores, chosen, batch_dims=1)
        # Per face: faces do not mix in inference mode. Mixed precision: math in float32.
        grads = tf.cast(tape.gradient(target, fmap), tf.float32)
        fmap = tf.cast(fmap, tf.float32)
        if self.method == "gradcam":
            grads = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(grads * fmap, axis=-1))[..., None]
        cam = tf.image.resize(cam, tf.shape(x)[1:3], method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.math.divide_no_nan(cam, peak), chosen, proba
