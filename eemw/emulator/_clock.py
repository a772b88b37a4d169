"""The emulator clock: operations and tokens age only when it moves.

Clock time is seconds since the emulator was made; `epoch` lays it onto the calendar (the
wall-clock instant of clock time 0), which is what timestamps on the wire show.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

# The embedded default: a fixed date, so timestamps of a frozen-clock run are reproducible.
FIXED_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Clock:
    """Seconds since the emulator started, moved by `advance` (and by real time when realtime)."""

    def __init__(self, realtime: bool = False, epoch: datetime | None = None) -> None:
        if epoch is None:
            epoch = datetime.now(timezone.utc) if realtime else FIXED_EPOCH
        if epoch.tzinfo is None:
            raise ValueError("the emulator epoch must be timezone-aware (e.g. timezone.utc)")
        self.epoch = epoch.astimezone(timezone.utc)
        self.epoch_unix = self.epoch.timestamp()
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

    def to_datetime(self, seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=seconds)

    def to_seconds(self, moment: datetime) -> float:
        if moment.tzinfo is None:
            raise ValueError(f"{moment!r} is naive: pass a timezone-aware datetime")
        return (moment - self.epoch).total_seconds()
