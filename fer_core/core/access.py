"""The gate every action that changes runs or data passes where it is carried out, not only
hidden in the UI, so no page, link or command gets a read-only viewer round it."""

from __future__ import annotations

from fer_core.core import settings
from fer_core.core.errors import ReadOnlyError


def ensure_writable(action: str) -> None:
    """Raise ``ReadOnlyError`` naming ``action`` when ``FER_READ_ONLY`` is set."""
    if settings.read_only():
        raise ReadOnlyError(f"{action} is not allowed here: this FER Studio is a read-only viewer "
                            "(FER_READ_ONLY is set). Ask whoever runs it for a working copy.")
