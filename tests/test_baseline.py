"""The majority-class baseline and the "not usable" verdict, on arrays and on real runs."""

from __future__ import annotations

import pytest

from fer_core import runs
from fer_core.reports.baseline import baseline_of_result, is_unusable, verdict


def test_baseline_of_result_reads_the_true_labels_from_the_matrix_rows():
    result = {"accuracy": 0.3, "confusion_matrix": [[1, 1, 0], [6, 0, 0], [2, 0, 0]]}

    base = baseline_of_result(result, ["angry", "happy", "sad"], split="test")

    assert base.majority_class == "happy" and base.accuracy == pytest.approx(0.6)


def test_verdict_equal_to_the_baseline_is_not_usable_and_above_it_is():
    matrix = [[0, 4], [0, 6]]  # always "happy": exactly the baseline
    same = {"classes": ["sad", "happy"], "test": {"accuracy": 0.6, "confusion_matrix": matrix}}
    better = {"classes": ["sad", "happy"], "test": {"accuracy": 0.7,
                                                   "confusion_matrix": [[1, 3], [0, 6]]}}

    assert not verdict(same).usable and is_unusable(same)
    assert verdict(better).usable and not is_unusable(better)
    assert "always answering \"happy\"" in verdict(same).text
    assert verdict(None) is None and not is_unusable({"classes": ["a"]})


@pytest.mark.slow
def test_bad_one_epoch_run_is_not_usable_and_the_demo_run_is(bad_run, demo_run):
    bad, good = verdict(runs.read_metrics(bad_run)), verdict(runs.read_metrics(demo_run))

    assert not bad.usable and bad.accuracy < bad.baseline.accuracy
    assert bad.baseline.majority_class == "happy" and 0.2 < bad.baseline.accuracy < 0.3
    assert good.usable


@pytest.mark.slow
def test_fer2013_test_split_baseline_is_24_9_percent_happy(real_fer2013):
    from fer_core.data import load_dataset

    labels = load_dataset(real_fer2013).split("test").index["label"]

    shares = labels.value_counts(normalize=True)

    assert shares.index[0] == "happy" and f"{shares.iloc[0]:.1%}" == "24.9%"
