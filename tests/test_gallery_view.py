"""The Results gallery's filtering, as plain data: what the page shows for each filter."""

from __future__ import annotations

import pandas as pd

from views.gallery import GalleryFilter, caption, filter_rows, gallery_classes, locate, trained_on

ROWS = pd.DataFrame({
    "id": ["a", "b", "c", "d", "e"],
    "true": ["happy", "sad", "sad", "angry", "happy"],
    "pred": ["happy", "happy", "sad", "sad", "happy"],
    "confidence": [0.9, 0.5, 0.7, 0.5, 0.3],
})


def test_classes_are_every_true_or_predicted_label_sorted():
    assert gallery_classes(ROWS) == ["angry", "happy", "sad"]


def test_no_filter_keeps_every_row_most_confident_first_ties_in_file_order():
    assert list(filter_rows(ROWS, GalleryFilter())["id"]) == ["a", "c", "b", "d", "e"]


def test_filters_combine_and_least_confident_first_reverses():
    errors = filter_rows(ROWS, GalleryFilter(errors_only=True, sort="least confident first"))
    assert list(errors["id"]) == ["b", "d"]
    assert list(filter_rows(ROWS, GalleryFilter(true=["sad"], pred=["happy"]))["id"]) == ["b"]
    assert list(filter_rows(ROWS, GalleryFilter(true=["happy", "angry"]))["id"]) == [
        "a", "d", "e"]


def test_locate_drops_predictions_whose_image_left_the_data_set():
    found = locate(ROWS, ["e", "x", "a", "c"])
    assert list(found["id"]) == ["a", "c", "e"]
    assert list(found["position"]) == [2, 3, 0]


def test_caption_marks_a_mistake_with_the_true_class():
    assert caption("sad", "sad", 0.7) == ":green[**sad** 70%]"
    assert caption("angry", "sad", 0.5) == ":red[**sad** 50%] true: angry"


def test_trained_on_matches_the_run_data_fingerprint_only() -> None:
    assert trained_on({"fingerprint": "abc", "name": "demo"}, "abc")
    assert not trained_on({"fingerprint": "abc"}, "abd")
    assert not trained_on(None, "abc") and not trained_on({}, "abc")
