"""Ctrl-C and SIGTERM as requests to stop at the next step boundary.

Stopping between steps, never inside one, keeps a checkpoint written on the way out exactly
resumable. A second signal raises KeyboardInterrupt at once, for a user who will not wait.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequests:
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = 0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested += 1
        if self.requested > 1:
            raise KeyboardInterrupt

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
