"""Errors a user can cause, with messages that say what to do; anything that is *not* a
``FerError`` is a bug and keeps its traceback."""

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def look_up(table: Mapping[str, T], name: str, what: str, plural: str) -> T:
    """``table[name]``, or a ``ConfigError`` naming what there is to choose from."""
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"Unknown {what} {name!r}; the {plural} are "
                          f"{', '.join(table)}.") from None


class FerError(Exception):
    """Base class of every error whose message is meant for the user."""


class DataError(FerError):
    """The data set cannot be found, read or understood."""


class ConfigError(FerError):
    """A training configuration value is missing, of the wrong type or out of range."""


class RunError(FerError):
    """A run folder is missing, incomplete or not in the expected state."""


class ModelError(FerError):
    """A model or its weights cannot be built or loaded."""


class ExportError(FerError):
    """An export cannot be made or checked (a runtime missing, a converter failing)."""


class ReadOnlyError(FerError):
    """An action that changes runs or data was asked of a read-only viewer (``FER_READ_ONLY``)."""
