"""One data choice, made once and carried everywhere as a typed value.

The sidebar, a command's ``--data`` and a config's ``data`` text all become a ``DataRef``, and
every job carries its text form (``demo``, or an absolute path), so a job, a report, an
estimate or a suspect-labels pass works on exactly the data set the user chose.

``FER_DATA_DIR`` is read in one place, :meth:`DataRef.default`, for where no choice was made: a
new app session, a command given no ``--data``, a run written before the choice was recorded
(its ``data`` is empty). An explicit choice, the demo included, is never replaced by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fer_core.core import settings
from fer_core.data.check import check_location
from fer_core.data.dataset import DEMO_DATA, Dataset, load_dataset
from fer_core.data.demo import demo_dataset_dir
from fer_core.data.sources import index_source


@dataclass(frozen=True)
class DataRef:
    """The demo (``path`` is ``None``), or a folder, a ``fer2013.csv`` or a ``.zip``."""

    path: Path | None = None

    @classmethod
    def default(cls) -> DataRef:
        """``FER_DATA_DIR``, else the demo: the choice of someone who has not chosen yet."""
        path = settings.data_dir()
        return cls(path.absolute()) if path else cls()

    @classmethod
    def parse(cls, text: str | Path | None) -> DataRef:
        """The reference a text form names; empty text is no choice (:meth:`default`). A
        relative path is the caller's folder, made absolute now because jobs run elsewhere."""
        text = str(text or "").strip()
        if not text:
            return cls.default()
        return cls() if text == DEMO_DATA else cls(Path(text).expanduser().absolute())

    @property
    def is_demo(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        """The text form: what ``TrainConfig.data``, command lines and addresses hold."""
        return DEMO_DATA if self.path is None else str(self.path)

    @property
    def label(self) -> str:
        """For captions."""
        return "the synthetic demo data set" if self.path is None else str(self.path)

    def check(self) -> None:
        """Refuse at once a path that cannot hold a data set (``DataError``), before a slow
        load or a job."""
        check_location(self.path)

    def load(self) -> Dataset:
        return load_dataset(str(self))

    def fingerprint(self) -> str:
        """The data set's fingerprint from its file listing only: no image is decoded."""
        path = self.path or demo_dataset_dir()
        return index_source(path, cache_root=settings.cache_dir()).fingerprint
