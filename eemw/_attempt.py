"""One attempt's response after its headers: the body read inside the attempt's deadline
and the transport's cap, the connection given back only then, and the attempt's failures
turned into eemw's error types with messages that never quote a secret.

Used by :mod:`eemw._transport` (the only module that imports requests); kept apart so the
transport module reads as the path from a request to the socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.response import HTTPResponse

from ._errors import ConnectError, ReadError, TransportError
from ._errors import ConnectTimeoutError as ConnectTimedOut
from ._errors import ReadTimeoutError as AttemptTimedOut
from ._http import Request
from ._net import secs
from ._redact import redact_url

__all__ = ["Sent", "detach", "failure", "finish", "read_body", "too_slow"]

_CHUNK = 256 * 1024


class Sent:
    """What came back before the body: status, lower-cased headers, the body's stream, and
    ``pool``, where the connection goes back once the body is read if eemw returns it."""

    __slots__ = ("headers", "pool", "raw", "status")

    def __init__(self, status: int, headers: dict[str, str], raw: Any, pool: Any) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw
        self.pool = pool


def detach(raw: Any) -> Any:
    """Take the pool from a urllib3 response so eemw, not urllib3, returns its connection.

    urllib3 puts the connection back as soon as the body's last byte is read, which would
    be before the attempt is disarmed.
    """
    if not isinstance(raw, HTTPResponse):
        return None
    pool = raw._pool
    raw._pool = None
    return pool


def read_body(
    sent: Sent, request: Request, started: float, limit: int
) -> tuple[bytes, bool, bool]:
    """The body up to ``limit`` bytes within the attempt's total timeout: the bytes, whether
    they were cut at the limit, and whether the body was read whole."""
    raw = sent.raw
    timeout = request.timeout
    deadline = None if timeout is None else started + timeout
    read = _reader(raw)
    # With no decoder holding bytes back, a closed stream ends the body without one more
    # (empty) read.
    ends_when_closed = "content-encoding" not in sent.headers and isinstance(raw, HTTPResponse)
    chunks: list[bytes] = []
    size = 0
    complete = False
    try:
        while size <= limit:
            chunk = read(min(_CHUNK, limit + 1 - size))
            if not chunk:
                complete = True
                break
            chunks.append(chunk)
            size += len(chunk)
            if ends_when_closed and raw.closed and size <= limit:
                complete = True
                break
            if deadline is not None:
                _check_deadline(raw, request, deadline)
    except (Urllib3HTTPError, OSError) as exc:  # requests' own errors are OSErrors too
        raise failure(exc, request, sent=True, reading=True) from exc
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if size > limit:
        return body[:limit], True, False
    return body, False, complete


def finish(sent: Sent, reuse: bool) -> None:
    """Return the connection to its pool, closed unless the body was read whole in time."""
    raw = sent.raw
    if not reuse:
        raw.close()
    if sent.pool is None:
        release = getattr(raw, "release_conn", None)
        if release is not None:
            release()
        return
    # Cleared first: the response's finalizer would otherwise close the connection under
    # whichever attempt has it next.
    conn, raw._connection = raw._connection, None
    if conn is not None:
        sent.pool._put_conn(conn)


def _reader(raw: Any) -> Callable[[int], bytes]:
    read: Callable[..., bytes] = getattr(raw, "read1", None) or raw.read
    if isinstance(raw, HTTPResponse):
        # requests asks urllib3 for undecoded bytes; eemw wants the JSON, gzip or not.
        return partial(read, decode_content=True)
    return read


def _check_deadline(raw: Any, request: Request, deadline: float) -> None:
    # A server that trickles bytes never trips the per-read socket timeout, so the total
    # is checked between reads and the next read may wait only for the time left.
    left = deadline - time.monotonic()
    if left <= 0:
        raise AttemptTimedOut(
            f"{request.method} {redact_url(request.url)}: the response body did not "
            f"arrive within the attempt timeout of {secs(request.timeout)}",
            operation=request.call.name,
        )
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(left)


def too_slow(request: Request) -> ReadError:
    """The watchdog ended the attempt: whatever arrived is not a response."""
    return AttemptTimedOut(
        f"{request.method} {redact_url(request.url)}: no complete response within the "
        f"attempt timeout of {secs(request.timeout)}",
        operation=request.call.name,
    )


def failure(
    exc: BaseException, request: Request, *, sent: bool, reading: bool = False,
    timed_out: bool | None = None,
) -> TransportError:
    """:class:`ConnectError` if the request was not ``sent``, else :class:`ReadError`; the
    ``...TimeoutError`` kind of either when the attempt ``timed_out`` (one base class for
    every timeout: :class:`~eemw.TimedOutError`)."""
    where = f"{request.method} {redact_url(request.url)}"
    op = request.call.name
    if timed_out is None:
        # urllib3 files a refused connection (NewConnectionError) under ConnectTimeoutError.
        timed_out = isinstance(exc, (Urllib3Timeout, TimeoutError)) and not isinstance(
            exc, NewConnectionError
        )
    if not sent:
        kind = ConnectTimedOut if timed_out else ConnectError
        return kind(f"{where}: could not connect ({_root(exc)})", operation=op)
    if timed_out:
        what = "the response body did not arrive" if reading else "no response"
        return AttemptTimedOut(
            f"{where}: {what} within the attempt timeout of {secs(request.timeout)}",
            operation=op,
        )
    if reading:
        return ReadError(
            f"{where}: the connection failed while reading the response ({_root(exc)})",
            operation=op,
        )
    return ReadError(f"{where}: the connection failed after sending ({_root(exc)})", operation=op)


def _root(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return type(exc).__name__
