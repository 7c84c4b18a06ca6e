"""The run store: the run folder, its files and its status, and what is read back from it.

``store`` is the only code that names a run folder's files or status keys; ``records`` types
what its JSON files hold; ``frames``, ``evaluation``, ``archive`` and ``report`` read runs (and
write their metrics) through the store.
"""

from fer_core.runs.store import *  # noqa: F403
from fer_core.runs.store import __all__  # noqa: F401
