"""eemw-audit: one JSON-lines audit record per mutating call (cancel, delete).

The stage sits in the call phase after ``idempotency``, so it runs once per logical call
(not per retry), after the call's idempotency key is chosen, and inside the call's span.
A record is written when the call ends, whatever the outcome, with these fields:

``time``             when the call ended, UTC, ISO 8601 (``2024-05-01T12:00:00.123Z``)
``call``             ``operations.cancel`` or ``operations.delete``
``operation``        the full operation name
``project``          the operation's project
``identity``         who called, as the credentials report it (:data:`eemw.keys.CALLER_IDENTITY`:
                     a service-account e-mail); only for credentials that report nobody
                     (user credentials, …) the ``identity`` setting, else ``"unknown"``
``idempotency_key``  the key sent with every attempt (:data:`eemw.keys.IDEMPOTENCY_KEY`)
``trace_id``         the current OpenTelemetry trace id (32 hex digits), or ``null``
``outcome``          ``"ok"`` or ``"error"``
``error_code``       the RPC status (``"FAILED_PRECONDITION"``) or the exception type, or
                     ``null``

A record never holds a header, a body or a credential: it is built from the call's own
values only, and this stage runs before ``auth`` adds the token. A call answered from the
idempotency replay cache sends nothing and writes no record.

Records go to the ``eemw.audit`` logger at INFO (the record as ``extra={"audit": ...}``
too), or, with a ``path``, are appended to that file one line each, thread-safe, one write
per record; a record cut by a killed process never glues the next record onto it, so at
most the last line a process wrote is damaged.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from opentelemetry import trace

import eemw

__all__ = ["DEFAULT_LOGGER", "SETTINGS", "AuditLog", "FileSink", "LoggerSink", "Sink", "factory"]

DEFAULT_LOGGER = "eemw.audit"
SETTINGS = ("path", "logger", "identity")
"""The settings :func:`factory` accepts."""


class Sink(Protocol):
    """Where audit lines go. MUST be thread-safe and write each line whole."""

    def write(self, line: str, record: Mapping[str, Any]) -> None: ...


class LoggerSink:
    """Logs each line at INFO on ``logger``, the record also as ``extra={"audit": ...}``."""

    def __init__(self, logger: logging.Logger | str = DEFAULT_LOGGER) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def write(self, line: str, record: Mapping[str, Any]) -> None:
        self.logger.info("%s", line, extra={"audit": dict(record)})

    def __repr__(self) -> str:
        return f"LoggerSink({self.logger.name!r})"


class FileSink:
    """Appends each line to ``path``, one ``write`` per record, each on a line of its own.

    The file is opened per record, under a lock: audit writes are rare next to the HTTP
    call they record, and reopening keeps working across log rotation, hands every line
    to the OS at once, and leaves no file handle to close. A record is written with one
    ``os.write`` to a file opened for appending, never through a buffer that could split
    it. If a process was killed in the middle of a record (SIGKILL, power loss), the file
    does not end with a newline: the next record then starts on a fresh line, so the cut
    record stays alone on the last line it reached and never swallows the next one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        # Fail at construction, not at the first cancel, when the file cannot be written.
        os.close(self._open())

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, line: str, record: Mapping[str, Any]) -> None:
        data = (line + "\n").encode("utf-8")
        with self._lock:
            fd = self._open()
            try:
                if not _ends_a_line(fd):
                    data = b"\n" + data
                _write_all(fd, data)
            finally:
                os.close(fd)

    def __repr__(self) -> str:
        return f"FileSink({self.path!r})"


def _ends_a_line(fd: int) -> bool:
    """Whether the file is empty or its last byte ends a line."""
    if os.fstat(fd).st_size == 0:
        return True
    os.lseek(fd, -1, os.SEEK_END)
    return os.read(fd, 1) == b"\n"


def _write_all(fd: int, data: bytes) -> None:
    # One write for a record in practice; the loop only finishes a short write.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AuditLog:
    """The audit middleware (call phase, after ``idempotency``).

    ``sink`` receives one JSON line per mutating call (default: the ``eemw.audit``
    logger). ``identity`` is recorded only when the credentials report no identity: it
    is a fallback, never an override, so a setting (or an environment variable) cannot
    put another name on what the credentials did. ``now`` returns an aware
    UTC datetime; it is injectable for tests. If writing the record fails, the call
    fails with that error (an audit gap is not silently accepted); when the call itself
    failed, its error is the new error's ``__context__``.
    """

    def __init__(
        self,
        sink: Sink | None = None,
        *,
        identity: str | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.sink: Sink = sink if sink is not None else LoggerSink()
        self.identity = identity
        self._now = now

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        if not request.call.mutating:
            return call_next(request)
        trace_id = current_trace_id()
        try:
            response = call_next(request)
        except BaseException as error:
            self._write(self.record(request, trace_id, error))
            raise
        self._write(self.record(request, trace_id, None))
        return response

    def record(
        self, request: eemw.Request, trace_id: str | None, error: BaseException | None
    ) -> dict[str, Any]:
        """The audit record of ``request``'s call, ended by ``error`` (``None``: ok)."""
        call = request.call
        identity = request.context.get(eemw.keys.CALLER_IDENTITY) or self.identity or "unknown"
        return {
            "time": self._now().astimezone(timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "call": call.label,
            "operation": call.name,
            "project": call.project,
            "identity": identity,
            "idempotency_key": request.context.get(eemw.keys.IDEMPOTENCY_KEY),
            "trace_id": trace_id,
            "outcome": "ok" if error is None else "error",
            "error_code": None if error is None else error_code(error),
        }

    def _write(self, record: Mapping[str, Any]) -> None:
        self.sink.write(json.dumps(record, separators=(",", ":")), record)

    def __repr__(self) -> str:
        return f"AuditLog(sink={self.sink!r})"


def error_code(error: BaseException) -> str:
    """An API error's RPC status name, else the exception's type name."""
    if isinstance(error, eemw.ApiError):
        return error.rpc_status
    return type(error).__name__


def current_trace_id() -> str | None:
    """The trace id of the current OpenTelemetry span, as 32 hex digits, or ``None``."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def factory(settings: Mapping[str, str]) -> eemw.Entry:
    """The ``audit`` entry point: an :class:`AuditLog` placed after ``idempotency``.

    Settings (all optional): ``path`` (append records to this file instead of logging
    them), ``logger`` (the logger name, default ``eemw.audit``), ``identity`` (who to
    record as the caller when the credentials report nobody; never an override).
    """
    s = eemw.PluginSettings(settings, plugin="audit", known=SETTINGS)
    path = s.text("path")
    logger = s.text("logger")
    if path is not None and logger is not None:
        raise s.error("logger", "cannot be combined with path: records go to one place")
    sink: Sink
    if path is not None:
        if not path:
            raise s.error("path", "must name a file")
        try:
            sink = FileSink(os.path.expanduser(path))
        except OSError as exc:
            problem = f"names a file that cannot be appended to ({exc.strerror})"
            raise s.error("path", problem) from exc
    else:
        sink = LoggerSink(logger or DEFAULT_LOGGER)
    audit = AuditLog(sink, identity=s.text("identity") or None)
    return eemw.Entry("audit", audit, "call", after="idempotency")
