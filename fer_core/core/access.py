"""The gate every action that changes runs or data passes where it is carried out, not only
hidden in the UI, so no page, link or command gets a read-only viewer round it."""

from __future__ import annotations

from pathlib import Path

from fer_core.core import settings
from fer_core.core.errors import ReadOnlyError


def ensure_writable(action: str) -> None:
    """Raise ``ReadOnlyError`` naming ``action`` when ``FER_READ_ONLY`` is set."""
    if settings.read_only():
        raise ReadOnlyError(f"{action} is not allowed here: this FER Studio is a read-only viewer "
                            "(FER_READ_ONLY is set). Ask whoever runs it for a working copy.")


def ensure_may_write(path: Path) -> None:
    """The store's backstop, called by every atomic write: a viewer writes nothing under the
    runs folder or into a run or task folder (one holding ``status.json``), whichever caller
    forgot to ask first; its own cache and files a command was told to write stay allowed."""
    if not settings.read_only():
        return
    runs_root = settings.runs_dir().absolute()
    for folder in Path(path).absolute().parents:
        if folder == runs_root or (folder / "status.json").is_file():
            ensure_writable(f"Writing {Path(path).name} into {folder}")
