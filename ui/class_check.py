"""The Train page's check that a preset's class names exist in the chosen data set.

A job would refuse them too, but only after it was queued and had loaded the data; here the
user reads the reason beside **Launch**, before anything is queued.
"""

from __future__ import annotations

from fer_core.core.config import TrainConfig
from fer_core.data import DataRef
from fer_core.data.named_classes import check_named_classes, named_classes


def check_before_launch(config: TrainConfig, data: DataRef, preset: str | None) -> None:
    """Raise ``DataError`` naming the preset, the absent class and the classes present.

    The data set loads only when the config names a class (most do not), from the disk cache
    after its first load."""
    if not any(named_classes(config).values()):
        return
    check_named_classes(config, data.load().classes, preset=preset)
