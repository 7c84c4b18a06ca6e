"""Test-time augmentation: which views are averaged, and that predictions average them."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.inference.evaluation import predict_proba, tta_views


def _faces(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(1, 256, size=(n, 48, 48), dtype=np.uint8)


def test_tta_views_without_options_is_the_image_itself():
    faces = _faces()
    views = list(tta_views(faces))
    assert len(views) == 1
    assert views[0].shape == (3, 48, 48, 1) and np.array_equal(views[0][..., 0], faces)


def test_tta_views_with_flip_and_shift_are_the_ten_crops():
    faces = _faces()
    views = [v[..., 0] for v in tta_views(faces, flip=True, shift=4)]
    assert len(views) == 10
    assert all(v.shape == faces.shape for v in views)
    assert np.array_equal(views[1], faces[:, :, ::-1])
    # The first shifted view moves the face 4 pixels down: zero rows on top, bottom rows gone.
    down = views[2]
    assert not down[:, :4].any() and np.array_equal(down[:, 4:], faces[:, :-4])
    assert np.array_equal(views[3], down[:, :, ::-1])
    # The four shifts are all different, and each keeps 44 of the 48 rows or columns.
    shifted = views[2::2]
    assert len({v.tobytes() for v in shifted}) == 4
    assert all(np.count_nonzero(v) == 3 * 44 * 48 for v in shifted)


@pytest.mark.slow
def test_predict_proba_averages_the_model_over_the_views():
    import keras

    # float32 whatever the global dtype policy: the check below is exact.
    inputs = keras.Input((48, 48, 1))
    hidden = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255, dtype="float32")(inputs))
    output = keras.layers.Dense(7, activation="softmax", dtype="float32")(hidden)
    model = keras.Model(inputs, output)
    faces = _faces(5)
    plain = predict_proba(model, faces)
    averaged = predict_proba(model, faces, tta=True, shift=4)
    expected = np.mean([model.predict(v, verbose=0) for v in tta_views(faces, flip=True, shift=4)],
                       axis=0)
    assert averaged.shape == plain.shape == (5, 7)
    assert np.allclose(averaged, expected, atol=1e-6) and not np.allclose(averaged, plain)
    assert np.allclose(averaged.sum(axis=1), 1, atol=1e-5)
