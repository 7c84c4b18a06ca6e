"""Studies: sweeps whose arms answer one question the seed report asked, rather than span a
grid ("what do class weights, oversampling or removing disgust do?" compares four recipes no grid
spans). Each arm is the user's base config with a few fields set, so a study runs on any
backbone; these are the plans, ``fer_core.tasks.studies`` launches them as ordinary jobs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fer_core.core.config import TrainConfig
from fer_core.core.errors import look_up

RECORD_KEY = "study"  # the block in config.json: {"name", "group", "arm"}
GROUP_PREFIX = "study-"


@dataclass(frozen=True)
class Arm:
    """One run of a study: its label and the fields it sets on the base config."""

    label: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Study:
    name: str
    question: str
    arms: tuple[Arm, ...]


STUDIES: dict[str, Study] = {
    study.name: study for study in (
        Study("batch-size", "Does batch size (16, 32, 64) change validation accuracy and loss?",
              (Arm("batch 16", {"batch_size": 16}), Arm("batch 32", {"batch_size": 32}),
               Arm("batch 64", {"batch_size": 64}))),
        Study("subsample", "Does training on 750 or 2,500 images per class cost accuracy?",
              (Arm("750 per class", {"subsample_per_class": 750}),
               Arm("2,500 per class", {"subsample_per_class": 2500}),
               Arm("all images", {"subsample_per_class": 0}))),
        # Oversampling repeats images; augmentation is what makes the copies differ, so this
        # study keeps it on whatever the base config says. On FER-2013, disgust (436 images)
        # is the only class under 2,500.
        Study("imbalance", "What do class weights, oversampling disgust or removing it do?",
              (Arm("none", {"class_weights": "none", "oversample_to": 0, "drop_classes": []}),
               Arm("class weights", {"class_weights": "balanced", "oversample_to": 0,
                                     "drop_classes": []}),
               Arm("disgust oversampled", {"class_weights": "none", "oversample_to": 2500,
                                           "drop_classes": [], "augment": True}),
               Arm("disgust removed", {"class_weights": "none", "oversample_to": 0,
                                       "drop_classes": ["disgust"]}))),
    )
}


def get_study(name: str) -> Study:
    return look_up(STUDIES, name, "study", "studies")


def study_configs(name: str, base: TrainConfig) -> list[tuple[Arm, TrainConfig]]:
    """Each arm's config: the base with the arm's fields set (validated like any config)."""
    return [(arm, base.replace(**arm.fields)) for arm in get_study(name).arms]


def new_group_id(name: str) -> str:
    return f"{GROUP_PREFIX}{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def study_of(extra: dict[str, Any]) -> dict[str, str] | None:
    """The study block of a run's ``config.json`` extras, or ``None`` for a run of its own."""
    block = extra.get(RECORD_KEY)
    if isinstance(block, dict) and all(isinstance(block.get(k), str)
                                       for k in ("name", "group", "arm")):
        return block
    return None

