"""The leakage caveat a report carries: how many test images have a copy in train.

A test image that is a near copy of a training image is recognised from memory, so test
accuracy on such a split is optimistic; on FER-2013's test split 418 images (11.6%) have one.
A stakeholder reading a report must see that next to the accuracy. The audit
(``fer_core.data.audit``) finds the copies in about 2 s on FER-2013; the counts are kept in the
cache, keyed by the data set's fingerprint, so a report costs that once per data set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from fer_core import atomic, settings
from fer_core.data.dataset import Dataset

CACHE_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeakageCaveat:
    """Of ``n_split`` images of ``split`` in the data set ``fingerprint``, ``n_leaked`` have an
    exact or near copy in train or validation."""

    fingerprint: str
    data_name: str
    split: str
    n_split: int
    n_leaked: int

    @property
    def share(self) -> float:
        return self.n_leaked / self.n_split if self.n_split else 0.0

    @property
    def text(self) -> str:
        """The caveat in one sentence, for a report or a page."""
        if not self.n_leaked:
            return (f"No {self.split} image of {self.data_name} has a copy in train: its "
                    f"{self.split} accuracy is not inflated by leakage.")
        return (f"{self.n_leaked:,} of the {self.n_split:,} {self.split} images of "
                f"{self.data_name} ({self.share:.1%}) have an exact or near copy in train, so "
                f"{self.split} accuracy is somewhat optimistic: a model may recognise those "
                "from memory.")


def leakage_caveat(ds: Dataset, *, split: str = "test") -> LeakageCaveat | None:
    """The caveat of ``split`` of ``ds`` (``None`` when the data set has no such split), from
    the cache when this data set was audited before."""
    path = _cache_file(ds.fingerprint, split)
    cached = _read(path)
    if cached is not None:
        return cached
    from fer_core.data.audit import audit

    n_split = int((ds.index["split"] == split).sum())
    if not n_split:
        return None
    leaked = audit(ds.images, ds.index).leaked_test_ids if split == "test" else []
    caveat = LeakageCaveat(ds.fingerprint, ds.name, split, n_split, len(leaked))
    try:
        atomic.write_json(path, {"version": CACHE_VERSION, **asdict(caveat)})
    except OSError as err:  # a read-only cache only costs the audit again next time
        log.info("Leakage counts not cached (%s).", err)
    return caveat


def _cache_file(fingerprint: str, split: str) -> Path:
    return settings.cache_dir() / "audit" / f"leakage-v{CACHE_VERSION}-{fingerprint}-{split}.json"


def _read(path: Path) -> LeakageCaveat | None:
    try:
        data = json.loads(path.read_text())
        data.pop("version")
        return LeakageCaveat(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
