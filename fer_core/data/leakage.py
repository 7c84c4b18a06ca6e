"""The leakage caveat a report carries next to the accuracy: how many test images have a copy
in train (418, 11.6%, on FER-2013), read from the audit cache that Explore fills too."""

from __future__ import annotations

from dataclasses import dataclass

from fer_core.data.dataset import Dataset


@dataclass(frozen=True)
class LeakageCaveat:
    """``n_leaked`` of the ``n_split`` images of ``split`` have a copy in train or val."""

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
    """The caveat of ``split`` (``None`` when ``ds`` has none), from the cached audit."""
    from fer_core.data.audit_cache import cached_audit

    n_split = int((ds.index["split"] == split).sum())
    if not n_split:
        return None
    leaked = cached_audit(ds).leaked_test_ids if split == "test" else []
    return LeakageCaveat(ds.fingerprint, ds.name, split, n_split, len(leaked))
