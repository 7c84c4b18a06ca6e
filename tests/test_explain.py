"""Grad-CAM: every backbone is explained, the map answers the class asked for, and a model
without a convolution is refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.inference.explain import ExplainError, GradCam, find_feature_layer, overlay
from fer_core.training.models import BACKBONES, build_model


def _faces(n: int, seed: int = 0) -> np.ndarray:
    from fer_core.core.emotions import EMOTIONS
    from fer_core.data.demo import draw_face

    return np.stack([draw_face(EMOTIONS[i % 7], np.random.default_rng([seed, i]))
                     for i in range(n)])


# The smallest input each ImageNet backbone takes where its last feature map is still 2x2 or
# more (InceptionV3 keeps 1x1 up to 107): maps that can differ across the face.
_TINY = {"inceptionv3": 75, "mobilenetv2": 64, "efficientnetb0": 64, "resnet50": 64}
_EXPECTED_LAYER = {"fer-cnn": "block4_relu", "fer-vgg": "block4b_relu"}


def _check_maps(backbone: str, n_faces: int) -> tuple[object, object]:
    fer = build_model(backbone, num_classes=7, input_size=_TINY.get(backbone, 0))
    cam = GradCam(fer.model)
    result = cam(_faces(n_faces))
    # Our CNNs: the last conv block's activation; ImageNet ones: the nested backbone's output.
    assert cam.layer == _EXPECTED_LAYER.get(backbone, fer.backbone.name if fer.backbone else "")
    assert result.maps.shape == (n_faces, 48, 48) and result.maps.dtype == np.float32
    assert result.maps.min() >= 0.0 and result.maps.max() <= 1.0
    np.testing.assert_array_equal(result.class_indices, result.probabilities.argmax(axis=1))
    return fer, result


@pytest.mark.parametrize("backbone", ["fer-cnn", "fer-vgg"])
def test_gradcam_our_backbones_explain_what_the_model_predicts(backbone: str) -> None:
    fer, result = _check_maps(backbone, 3)
    np.testing.assert_allclose(result.probabilities,
                               fer.model.predict(_faces(3)[..., None].astype("float32"),
                                                 verbose=0), atol=1e-5)
    assert (result.maps.reshape(3, -1).max(axis=1) == 1.0).all()  # each map peaks somewhere


@pytest.mark.slow  # building an ImageNet backbone takes 5-25 s on 2 cores
@pytest.mark.parametrize("backbone", [b for b, s in BACKBONES.items() if s.pretrained])
def test_gradcam_imagenet_backbones_find_the_nested_feature_map(backbone: str) -> None:
    _check_maps(backbone, 1)


def test_gradcam_chosen_class_changes_the_map() -> None:
    fer = build_model("fer-cnn", num_classes=7, seed=3)
    faces = _faces(4)
    cam = GradCam(fer.model)
    by_class = [cam(faces, class_index=k) for k in range(7)]
    assert all((r.class_indices == k).all() for k, r in enumerate(by_class))
    # different classes weight the feature channels differently, so the maps differ
    assert not np.allclose(by_class[0].maps, by_class[1].maps)
    with pytest.raises(ExplainError, match="class_index must be in 0..6"):
        cam(faces, class_index=7)


def test_gradcam_model_without_conv_is_refused_with_the_reason() -> None:
    import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Dense(16)(x))
    dense_only = keras.Model(inputs, outputs, name="dense_only")
    with pytest.raises(ExplainError, match="needs a convolutional layer.*'dense_only' has none"):
        find_feature_layer(dense_only)
    with pytest.raises(ExplainError, match="convolutional"):
        GradCam(dense_only)


def test_overlay_is_png_ready_rgb_and_leaves_cold_areas_grey() -> None:
    face = np.full((48, 48), 128, dtype=np.uint8)
    cam = np.zeros((48, 48), dtype=np.float32)
    cam[:24] = 1.0
    rgb = overlay(face, cam, size=96)
    assert rgb.shape == (96, 96, 3) and rgb.dtype == np.uint8
    assert (rgb[-10:] == 128).all()  # no evidence: the face shows through unchanged
    hot = rgb[:10].reshape(-1, 3).mean(axis=0)
    assert hot[0] > hot[2] + 40  # the peak is red, not grey


def test_gradcam_unknown_method_is_refused() -> None:
    fer = build_model("fer-cnn", num_classes=7)
    with pytest.raises(ExplainError, match="method must be one of hirescam, gradcam"):
        GradCam(fer.model, method="saliency")
    classic = GradCam(fer.model, method="gradcam")(_faces(2))
    assert classic.maps.shape == (2, 48, 48)
