"""The connection to Redis and the degraded mode around it.

:class:`RedisLink` owns one redis-py client (a thread-safe connection pool), bounds every
round trip by a short socket timeout, and tracks whether Redis is usable. The first
failure puts the link in degraded mode: callers get :class:`Unavailable` at once and fall
back to their in-process state; one caller at a time probes Redis again after a backoff
(doubling up to a cap), and the first answer ends the degraded mode. Entering and leaving
it is logged once each, added as a span event and counted in metrics. The URL's password
never leaves this module: logs, reprs and errors show it as ``***``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from opentelemetry import trace

import eemw

from . import _metrics

logger = logging.getLogger("eemw_ratelimit")

DEFAULT_TIMEOUT = 0.05
"""Seconds one Redis round trip may take before Redis counts as down (loopback or a LAN)."""

PROBE_FIRST = 0.1
PROBE_MAX = 2.0
QUIET = 60.0
"""Seconds after a logged degraded spell during which further spells log at DEBUG only."""

_SCHEMES = ("redis", "rediss", "unix")


class Script:
    """A Lua script, known to the server by the SHA-1 of its text."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # Redis's own name for it


class Connection(Protocol):
    """What this module uses of a redis-py connection."""

    def send_packed_command(self, command: list[bytes]) -> None: ...
    def read_response(self) -> Any: ...
    def disconnect(self) -> None: ...


def _pack(parts: Sequence[str]) -> bytes:
    """A command in the Redis protocol (RESP): an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


try:  # hiredis (the redis extra brings it) packs the same bytes three times faster
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - without hiredis, the pure-Python packing
    pack = _pack
else:
    def pack(parts: Sequence[str]) -> bytes:
        # hiredis's stub declares a one-element tuple; it takes any number of parts.
        packed: bytes = _hiredis_pack(tuple(parts))  # type: ignore[arg-type]
        return packed


class Unavailable(Exception):
    """Redis cannot be used right now: serve this call from the in-process state."""


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def check_url(url: str, *, what: str = "redis_url") -> str:
    """Reject a URL redis-py cannot use, before any I/O; return it unchanged."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise eemw.UsageError(f"{what} {redact_loose(url)!r} is not a valid URL") from None
    if parts.scheme not in _SCHEMES or not (parts.hostname or parts.path):
        raise eemw.UsageError(
            f"{what} {redact_loose(url)!r} must be a redis://, rediss:// or unix:// URL"
        )
    return url


def redact_loose(url: str) -> str:
    """Like :func:`redact` for strings too broken to parse: hide everything before ``@``."""
    try:
        return redact(url)
    except ValueError:
        _, at, host = url.rpartition("@")
        return f"***@{host}" if at else url


class RedisLink:
    """The Redis connections of one limiter or retry budget (one connection per thread,
    dropped with its thread) and the degraded mode around them.

    ``timeout`` bounds each connect and each round trip (seconds); ``clock`` times the
    probes and the degraded spells (real time: it is about a real server). Thread-safe. The
    Redis client library is imported here, so eemw-ratelimit without its ``redis`` extra
    still works in-process.
    """

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, name: str = "ratelimit",
        instruments: _metrics.Instruments | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_url(url)
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise eemw.UsageError(
                "redis_url needs the Redis client: pip install 'eemw-ratelimit[redis]'"
            ) from None
        if not (timeout > 0 and timeout < float("inf")):
            raise eemw.UsageError("redis_timeout must be a positive number of seconds")
        self.url = redact(url)
        self.name = name
        self._password = urlsplit(url).password
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._no_script = redis.exceptions.NoScriptError
        # No retries inside redis-py: a failed round trip means "degraded", not "try again".
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=0,
        )
        self._clock = clock
        self._local = threading.local()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._since: float | None = None  # when the degraded mode began
        self._next_probe = 0.0
        self._backoff = PROBE_FIRST
        self._degraded_total = 0.0
        self._logged_at: float | None = None
        self._quiet_spells = 0
        self._spell_logged = False
        (instruments or _metrics.instruments()).watch_link(self)

    def script(self, source: str) -> Script:
        """A server-side script: loaded once, then called by its SHA (EVALSHA), and loaded
        again when the server answers NOSCRIPT (after a restart or a flush)."""
        return Script(source)

    def run(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> Any:
        """Run ``script``; raise :class:`Unavailable` when degraded or when it fails."""
        probe = self._admit()
        connection = self._connection()
        try:
            result = self._evalsha(connection, script, keys, args)
        except self._errors as exc:
            connection.disconnect()  # a half-read reply must not reach the next call
            self._failed(exc)
            raise Unavailable from None
        if probe:
            # Only a call sent after the failure ends the degraded mode: one still in
            # flight when it began says little about Redis now.
            self._recovered()
        return result

    def _evalsha(
        self, connection: Connection, script: Script, keys: Sequence[str],
        args: Sequence[str],
    ) -> Any:
        # One connection per thread, fed a command packed here: redis-py's pool and
        # encoder would cost more than the round trip itself on loopback.
        command = pack(["EVALSHA", script.sha, str(len(keys)), *keys, *args])
        try:
            connection.send_packed_command([command])
            return connection.read_response()
        except self._no_script:
            connection.send_packed_command([pack(["SCRIPT", "LOAD", script.source])])
            connection.read_response()
            connection.send_packed_command([command])
            return connection.read_response()

    def _connection(self) -> Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # new thread, or a forked child
            local.connection = self._client.connection_pool.make_connection()
            local.pid = os.getpid()
            with self._lock:
                self._connections.add(local.connection)
        connection: Connection = local.connection
        return connection

    def call(self, command: Callable[[Any], Any]) -> Any:
        """Run a plain read (``command(client)``) under the same rules as :meth:`run`."""
        self._admit()
        try:
            return command(self._client)
        except self._errors as exc:
            self._failed(exc)
            raise Unavailable from None

    @property
    def degraded(self) -> bool:
        """True while Redis is considered down and callers use their in-process state."""
        return self._since is not None

    def degraded_seconds(self) -> float:
        """Seconds spent degraded since this link was made, the current spell included."""
        since = self._since
        return self._degraded_total + (0.0 if since is None else self._clock() - since)

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.disconnect()
        self._client.close()

    def _admit(self) -> bool:
        """May this caller use Redis? True: as the probe; False: as usual. Raises
        :class:`Unavailable` while degraded, between probes."""
        if self._since is None:
            return False
        with self._lock:
            return self._probe_now()

    def _probe_now(self) -> bool:
        if self._since is None:
            return False  # another caller's probe answered meanwhile
        now = self._clock()
        if now >= self._next_probe:
            # This caller probes; the others keep serving from memory until it answers.
            self._next_probe = now + self._backoff
            self._backoff = min(PROBE_MAX, self._backoff * 2)
            return True
        raise Unavailable

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return  # a probe or a call already in flight: the log line was written
            now = self._clock()
            self._since = now
            self._next_probe = now + PROBE_FIRST
            self._backoff = min(PROBE_MAX, PROBE_FIRST * 2)
            # A flapping Redis logs one warning a minute, not one per spell.
            loud = self._logged_at is None or now - self._logged_at >= QUIET
            quiet_spells, self._quiet_spells = self._quiet_spells, 0 if loud else (
                self._quiet_spells + 1)
            if loud:
                self._logged_at = now
            self._spell_logged = loud
        why = self._scrub(f"{type(exc).__name__}: {exc}")
        also = f" ({quiet_spells} shorter spells since the last warning)" if quiet_spells else ""
        logger.log(
            logging.WARNING if loud else logging.DEBUG,
            "eemw-ratelimit: Redis at %s is not answering (%s); the %s falls back to its "
            "in-process state with this process's share of the quota until Redis answers%s",
            self.url, why, self.name, also,
        )
        trace.get_current_span().add_event(
            "eemw.ratelimit.degraded",
            {"eemw.ratelimit.store": self.name, "error.type": type(exc).__name__},
        )

    def _recovered(self) -> None:
        with self._lock:
            since = self._since
            if since is None:
                return
            spell = self._clock() - since
            self._degraded_total += spell
            self._since = None
            self._backoff = PROBE_FIRST
            loud = self._spell_logged
        logger.log(
            logging.WARNING if loud else logging.DEBUG,
            "eemw-ratelimit: Redis at %s answers again after %.3gs; the %s uses the shared "
            "state again", self.url, spell, self.name,
        )
        trace.get_current_span().add_event(
            "eemw.ratelimit.recovered",
            {"eemw.ratelimit.store": self.name, "eemw.ratelimit.degraded_seconds": spell},
        )

    def _scrub(self, text: str) -> str:
        if self._password:
            for secret in (self._password, unquote(self._password)):
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        state = "degraded" if self.degraded else "shared"
        return f"RedisLink({self.url!r}, {state})"
