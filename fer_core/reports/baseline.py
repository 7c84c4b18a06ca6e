"""The majority-class baseline: the accuracy of always answering the commonest class.

On an imbalanced set it is far above 1/7: on FER-2013's test split always answering "happy"
scores 24.9%. A model that does no better has learnt nothing worth using, whatever its
accuracy looks like, so Results, Predict and the report mark it "not usable". The baseline is
computed from the labels of the split a run was scored on (the row sums of its confusion
matrix), never a fixed number, so it holds for any data set, class drop or merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SPLITS = ("test", "val")  # the split a run is judged on: test when it has one


@dataclass(frozen=True)
class Baseline:
    """Always answering ``majority_class`` scores ``accuracy`` on ``split``."""

    majority_class: str
    accuracy: float
    split: str
    n: int


@dataclass(frozen=True)
class Verdict:
    """A run's score against its baseline; ``usable`` is False when it is no better."""

    accuracy: float
    baseline: Baseline

    @property
    def usable(self) -> bool:
        return self.accuracy > self.baseline.accuracy

    @property
    def text(self) -> str:
        """One sentence for a warning or a report note."""
        split = "test" if self.baseline.split == "test" else "validation"
        return (f"Not usable: {split} accuracy {self.accuracy:.1%} is no better than always "
                f"answering \"{self.baseline.majority_class}\", the commonest class of its "
                f"{split} split ({self.baseline.accuracy:.1%} of {self.baseline.n:,} images).")


def baseline_of_result(result: Mapping[str, Any], classes: Sequence[str], *,
                       split: str) -> Baseline | None:
    """The baseline of the split a run was scored on, from its confusion matrix's rows (the
    true labels it saw)."""
    matrix = result.get("confusion_matrix")
    if not matrix or len(matrix) != len(classes):
        return None
    totals = [sum(row) for row in matrix]
    n = sum(totals)
    if n == 0:
        return None
    best = max(range(len(totals)), key=totals.__getitem__)
    return Baseline(str(classes[best]), totals[best] / n, split, int(n))


def verdict(metrics: Mapping[str, Any] | None) -> Verdict | None:
    """How a run's ``metrics.json`` scores against its own split's baseline; ``None`` when
    it has no scored split to judge (still training, or recorded without a matrix)."""
    metrics = metrics or {}
    for split in SPLITS:
        result = metrics.get(split)
        if not result or result.get("accuracy") is None:
            continue
        base = baseline_of_result(result, metrics.get("classes") or [], split=split)
        if base is not None:
            return Verdict(float(result["accuracy"]), base)
    return None


def is_unusable(metrics: Mapping[str, Any] | None) -> bool:
    """Whether a run is known to be no better than its majority-class baseline."""
    judged = verdict(metrics)
    return judged is not None and not judged.usable
