"""The emulator clock: operations and tokens age only when it moves."""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the emulator started, moved by `advance` (and by real time when realtime)."""

    def __init__(self, realtime: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._origin = time.monotonic() if realtime else None

    @property
    def realtime(self) -> bool:
        return self._origin is not None

    def now(self) -> float:
        elapsed = 0.0 if self._origin is None else time.monotonic() - self._origin
        return self._offset + elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock cannot go backwards")
        with self._lock:
            self._offset += seconds
