"""What bounds one HTTP attempt in time, whatever path it takes through requests and urllib3.

Socket timeouts bound each read, not the exchange: a server that trickles its status line
and headers a byte at a time keeps every read short while http.client reads the header
block in one call. So each attempt with a timeout arms an :class:`Alarm`, and one daemon
thread (the :class:`Watchdog`) shuts the attempt's socket down once the deadline passes:
the blocked read returns and the attempt fails as a timeout instead of running on.

The alarm learns which connection the attempt uses from :class:`AttemptTimeout`, the
urllib3 ``Timeout`` the transport passes with the attempt. urllib3 clones it for each
request it makes and starts its clock in the function that holds the connection, on
every path (eemw's own pools, a session's mounted or subclassed adapter, a proxy's pool),
so no pool, adapter or connection class is changed to find it. The watchdog fires an
alarm under its lock and the transport disarms under the same lock *before* the
connection goes back to a pool, so a socket another thread has checked out since is never
shut down.

After ``os.fork()`` the child gets a fresh watchdog (lock, thread and alarms), so a client
built before the fork keeps its deadlines in the child.

:class:`ResolvingHTTPConnection` and :class:`ResolvingHTTPSConnection`, the connection
classes of the pools eemw creates, also bound name resolution by the connect timeout:
``getaddrinfo`` ignores socket timeouts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError
from urllib3.util import Timeout
from urllib3.util.connection import allowed_gai_family

__all__ = [
    "WATCHDOG",
    "Alarm",
    "AttemptTimeout",
    "ResolvingHTTPConnection",
    "ResolvingHTTPSConnection",
    "ResolvingHTTPPool",
    "ResolvingHTTPSPool",
    "Watchdog",
]


class Alarm:
    """One attempt's deadline, and the connection (then the socket) it is using once known."""

    __slots__ = ("armed", "conn", "deadline", "fired", "sock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: Any = None
        self.sock: Any = None
        self.armed = True
        self.fired = False

    def _fire(self) -> None:
        # Called with the watchdog's lock held, so never after the attempt disarmed. Fired
        # is set first: a disarm that sees the alarm no longer armed skips the lock, and
        # must then see it fired (its connection is closed, never pooled).
        self.fired = True
        self.armed = False
        # Once the request is sent the socket itself is known: if urllib3 already handed
        # the connection on after a failure, the socket its next user opens is left alone.
        sock = self.sock or getattr(self.conn, "sock", None)
        if sock is not None:
            # An OSError means it is already closed: the attempt ended on its own.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Fires :class:`Alarm` objects whose deadline passed; thread-safe and fork-safe.

    Arming never wakes the thread while traffic flows: it polls every ``tick`` seconds
    while alarms come and go, and only after ``idle`` seconds without any does it sleep
    until the next :meth:`arm` wakes it. (Waking it on every call cost the calling threads
    far more than the check itself.)
    """

    def __init__(self, tick: float = 0.05, idle: float = 2.0) -> None:
        self._tick = tick
        self._idle = idle
        self._reset()
        if hasattr(os, "register_at_fork"):
            # The child has none of the parent's threads, and a lock another thread held
            # at the fork stays held forever: start again from nothing.
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
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
        return alarm

    def disarm(self, alarm: Alarm) -> bool:
        """Make sure ``alarm`` never fires from now on; whether it already had."""
        if alarm.armed:
            with self._cond:
                alarm.armed = False
                self._armed.discard(alarm)
        return alarm.fired

    def _run(self) -> None:
        quiet_since = time.monotonic()
        while True:
            cond = self._cond
            with cond:
                now = time.monotonic()
                if self._armed:
                    quiet_since = now
                elif now - quiet_since > self._idle:
                    self._asleep = True
                    while not self._armed:
                        cond.wait()
                    self._asleep = False
                    now = quiet_since = time.monotonic()
                expired = [a for a in self._armed if a.deadline <= now]
                self._armed.difference_update(expired)
                for alarm in expired:
                    alarm._fire()
            time.sleep(self._tick)


WATCHDOG = Watchdog()


class AttemptTimeout(Timeout):
    """urllib3's ``Timeout`` for one attempt, telling its alarm which connection it uses.

    urllib3 clones the timeout for each request and calls :meth:`start_connect` in the
    pool method that holds the connection (``_make_request(self, conn, ...)``); that
    frame's ``conn`` is recorded on the alarm, and its socket once the request is sent
    (when urllib3 reads :attr:`read_timeout`). Reading a caller's frame is unusual, and it
    is the one way to learn the connection without replacing a class of the caller's
    session: ``make test`` checks it against both the lowest and the latest urllib3 eemw
    allows (a trickling server must still be cut off on every path).
    """

    def __init__(self, connect: float | None, read: float | None, alarm: Alarm | None) -> None:
        super().__init__(connect=connect, read=read)
        self.alarm = alarm

    def clone(self) -> AttemptTimeout:
        return AttemptTimeout(self._connect, self._read, self.alarm)  # type: ignore[arg-type]

    def start_connect(self) -> float:
        alarm = self.alarm
        if alarm is not None:
            conn = sys._getframe(1).f_locals.get("conn")
            if conn is not None:
                alarm.conn = conn
        return super().start_connect()

    @property
    def read_timeout(self) -> float | None:
        # Read once the request is written, before waiting for the response: the
        # connection has its socket by now.
        alarm = self.alarm
        if alarm is not None and alarm.conn is not None:
            alarm.sock = getattr(alarm.conn, "sock", None)
        return super().read_timeout


# --- bounded name resolution for eemw's own pools ----------------------------------------


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of ``host``, or :class:`TimeoutError` once ``timeout`` has passed."""
    family = allowed_gai_family()
    if timeout is None:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
    found: list[Any] = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    # getaddrinfo cannot be interrupted: it finishes in a daemon thread nobody waits for.
    thread = threading.Thread(target=lookup, name="eemw-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        raise TimeoutError(f"resolving {host} took longer than {timeout:.3g}s")
    if isinstance(found[0], OSError):
        raise found[0]
    return list(dict.fromkeys(str(info[4][0]) for info in found[0]))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _connect(conn: Any, new_conn: Any) -> socket.socket:
    """``new_conn()`` for each resolved address of ``conn``'s host until one connects."""
    host = conn._dns_host
    if _is_address(host):
        return new_conn()  # type: ignore[no-any-return]
    timeout = conn.timeout if isinstance(conn.timeout, (int, float)) else None
    try:
        addresses = _resolve(host, conn.port, timeout)
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Resolving {conn.host} timed out.") from exc
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: Exception | None = None
    try:
        for address in addresses:
            conn._dns_host = address
            try:
                return new_conn()  # type: ignore[no-any-return]
            except (ConnectTimeoutError, OSError) as exc:
                error = exc
    finally:
        conn._dns_host = host
    assert error is not None  # getaddrinfo never answers with no address
    raise error


class ResolvingHTTPConnection(HTTPConnection):
    """An HTTP connection whose name resolution is bounded by its connect timeout."""

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


class ResolvingHTTPSConnection(HTTPSConnection):
    """An HTTPS connection whose name resolution is bounded by its connect timeout."""

    def _new_conn(self) -> socket.socket:
        return _connect(self, super()._new_conn)


class ResolvingHTTPPool(HTTPConnectionPool):
    ConnectionCls = ResolvingHTTPConnection


class ResolvingHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = ResolvingHTTPSConnection
