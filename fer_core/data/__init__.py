"""Data sets: what the user has as one index and one uint8 image array, and their checks."""

from fer_core.data.dataset import (
    DEMO_DATA,
    SPLITS,
    Dataset,
    drop_classes,
    imbalance_callout,
    load_dataset,
    merge_classes,
    split_validation,
    subsample_per_class,
    summarize,
)
from fer_core.data.reference import DataRef

__all__ = ["DEMO_DATA", "SPLITS", "DataRef", "Dataset", "drop_classes", "imbalance_callout",
           "load_dataset", "merge_classes", "split_validation", "subsample_per_class", "summarize"]
