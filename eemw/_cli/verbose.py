"""``--verbose``: one stderr line per HTTP attempt, with nothing secret in it.

A line holds the method, the URL (user:password and credential query values replaced by
``REDACTED``), the status or the error type, and the time the exchange took. Header
values and bodies are never written: they carry the bearer token and the operations.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .._http import Request, Response
from .._metrics import error_type
from .._pipeline import Entry, Handler
from .._redact import redact_url

__all__ = ["http_log"]


class HttpLog:
    """The attempt-phase stage that writes the log; innermost, so it times the exchange."""

    __slots__ = ("_stream",)

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __call__(self, request: Request, call_next: Handler) -> Response:
        started = time.perf_counter()
        try:
            response = call_next(request)
        except BaseException as error:
            self._write(request, error_type(error), started)
            raise
        self._write(request, str(response.status), started)
        return response

    def _write(self, request: Request, outcome: str, started: float) -> None:
        ms = (time.perf_counter() - started) * 1000
        line = f"eemw: {request.method} {redact_url(request.url)} -> {outcome} ({ms:.0f} ms)"
        print(line, file=self._stream or sys.stderr, flush=True)

    def __repr__(self) -> str:
        return "HttpLog()"


def http_log() -> Entry:
    """The ``http-log`` stage, placed right above the transport."""
    return Entry("http-log", HttpLog(), "attempt", after="http-tracing")
