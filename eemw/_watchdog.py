"""A watchdog that ends an HTTP attempt which outlives its timeout.

Socket timeouts bound each read, not the exchange: a server that trickles its status line
and headers a byte at a time keeps every read short while http.client reads the header
block in one call. The transport arms an :class:`Alarm` for each attempt; the connection
class it gives its pools records itself on the alarm of the thread sending through it;
one daemon thread shuts that connection's socket down when the deadline passes, so the
blocked read returns and the attempt fails as a timeout instead of running on.

The cost per attempt is two short lock holds. The thread polls every ``tick`` seconds
while attempts are in flight and sleeps once none has been for a while.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

__all__ = ["WATCHDOG", "Alarm", "Watchdog", "current", "tracked"]

_local = threading.local()


class Alarm:
    """One attempt's deadline, and the connection it is using once known."""

    __slots__ = ("conn", "deadline", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: Any = None
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            # An OSError means it is already closed: the attempt ended on its own.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Fires :class:`Alarm` objects whose deadline passed; thread-safe.

    Arming never wakes the thread while traffic flows: it polls every ``tick`` seconds
    while alarms come and go, and only after ``idle`` seconds without any does it sleep
    until the next :meth:`arm` wakes it. (Waking it on every call cost the calling threads
    far more than the check itself.)
    """

    def __init__(self, tick: float = 0.05, idle: float = 2.0) -> None:
        self._tick = tick
        self._idle = idle
        self._cond = threading.Condition(threading.Lock())
        self._armed: set[Alarm] = set()
        self._thread: threading.Thread | None = None
        self._asleep = False

    def arm(self, deadline: float) -> Alarm:
        alarm = Alarm(deadline)
        with self._cond:
            self._armed.add(alarm)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eemw-watchdog", daemon=True
                )
                self._thread.start()
            elif self._asleep:
                self._cond.notify()
        _local.alarm = alarm
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        _local.alarm = None
        with self._cond:
            self._armed.discard(alarm)

    def _run(self) -> None:
        quiet_since = time.monotonic()
        while True:
            with self._cond:
                now = time.monotonic()
                if self._armed:
                    quiet_since = now
                elif now - quiet_since > self._idle:
                    self._asleep = True
                    while not self._armed:
                        self._cond.wait()
                    self._asleep = False
                    now = quiet_since = time.monotonic()
                expired = [a for a in self._armed if a.deadline <= now]
                self._armed.difference_update(expired)
            for alarm in expired:
                alarm.fire()
            time.sleep(self._tick)


WATCHDOG = Watchdog()


def current() -> Alarm | None:
    """The alarm armed by the current thread's attempt, if any."""
    alarm: Alarm | None = getattr(_local, "alarm", None)
    return alarm


_TRACKED: dict[type[Any], type[Any]] = {}


def tracked(connection_class: type[Any]) -> type[Any]:
    """A subclass of a urllib3 connection class that records itself on the thread's alarm."""
    found = _TRACKED.get(connection_class)
    if found is not None:
        return found
    parent_request = connection_class.request

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        alarm = current()
        if alarm is not None:
            alarm.conn = self
        return parent_request(self, *args, **kwargs)

    cls = type(f"Tracked{connection_class.__name__}", (connection_class,),
               {"request": request, "_eemw_tracked": True})
    _TRACKED[connection_class] = cls
    return cls
