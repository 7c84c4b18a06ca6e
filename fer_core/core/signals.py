"""A stop asked of a long task by a signal (Cancel sends SIGTERM, locally and through Ray):
the task finishes its current step, keeps what it made and ends as cancelled."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

log = logging.getLogger("fer_core")


@dataclass
class StopFlag:
    """Set by SIGTERM/SIGINT."""

    requested: bool = False

    def install(self) -> None:
        """Handle SIGTERM and SIGINT (main thread only: Python's rule for signal handlers)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame) -> None:
            self.requested = True
            log.info("Stop requested (signal %d): finishing the current step.", signum)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
