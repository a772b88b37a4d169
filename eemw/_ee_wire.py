"""What earthengine-api gets back from :mod:`eemw.earthengine`'s transport.

httplib2-style answers (:class:`EarthEngineResponse`), the server's last error answer kept
for ``ee`` while eemw's stages see a typed error, the exceptions ``ee``'s own transport
raises for failures without an answer, and redaction of the URLs googleapiclient logs.
"""

from __future__ import annotations

import http
import json
import logging
import re
import threading
from collections.abc import Mapping

from ._errors import (
    ApiError,
    DeadlineExceededError,
    EemwError,
    RetryExhaustedError,
    TransportError,
)
from ._http import Response
from ._redact import redact_url

__all__ = [
    "Answer", "EarthEngineResponse", "answer_for_ee", "redact_googleapiclient_log", "reply",
]

_ANSWER_DROPPED = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class EarthEngineResponse(dict[str, str]):
    """An ``httplib2.Response`` look-alike: the answer's headers as a dict (names in
    lower case, plus ``"status"``), with ``status``, ``reason`` and ``version``."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(headers)
        self["status"] = str(status)
        self.status = status
        self.reason = _phrase(status)
        self.version = 11
        self.previous: EarthEngineResponse | None = None
        self.fromcache = False

    @property
    def dict(self) -> EarthEngineResponse:
        return self


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_URL = re.compile(r"https?://[^\s'\"]+")
# googleapiclient logs each request's URL, API key included, at DEBUG.
_GOOGLEAPICLIENT_LOGGER = "googleapiclient.discovery"


_filter_lock = threading.Lock()


class _RedactUrls(logging.Filter):
    """Redacts credentials in the URLs googleapiclient's DEBUG records print in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # logging reports a broken record itself; never fail the caller
        if "?" in message or "@" in message:
            record.msg = _URL.sub(lambda found: redact_url(found.group(0)), message)
            record.args = ()
        return True


def redact_googleapiclient_log() -> None:
    logger = logging.getLogger(_GOOGLEAPICLIENT_LOGGER)
    with _filter_lock:
        if not any(isinstance(f, _RedactUrls) for f in logger.filters):
            logger.addFilter(_RedactUrls())


class Answer:
    """The last non-2xx answer of one call, kept without the request (it holds a token)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: Mapping[str, str] = {}
        self.body = b""

    def record(self, response: Response) -> None:
        self.status, self.headers, self.body = response.status, response.headers, response.body


def reply(
    status: int, headers: Mapping[str, str], body: bytes
) -> tuple[EarthEngineResponse, bytes]:
    kept = {k.lower(): v for k, v in headers.items() if k.lower() not in _ANSWER_DROPPED}
    return EarthEngineResponse(status, kept), body


def answer_for_ee(
    error: EemwError, answer: Answer, out_of_time: bool
) -> tuple[EarthEngineResponse, bytes]:
    """What ``ee`` gets for a call that ended in ``error``: the server's last answer, or
    the exception its own transport would raise."""
    root: BaseException = error
    while (
        not isinstance(root, ApiError) and isinstance(root, RetryExhaustedError)
        and isinstance(root.__cause__, EemwError)
    ):
        root = root.__cause__
    if isinstance(root, ApiError):
        if answer.status == root.http_status:
            return reply(answer.status, answer.headers, answer.body)
        return reply(root.http_status, {"content-type": "application/json"}, envelope(root))
    if isinstance(root, DeadlineExceededError) or (
        isinstance(root, TransportError) and out_of_time
    ):
        raise TimeoutError(str(error)) from error
    if isinstance(root, TransportError):
        raise ConnectionError(str(error)) from error
    raise error


def envelope(error: ApiError) -> bytes:
    # A stage (a rate limiter, a plugin) refused without asking the server: say it the
    # way the server would, so ee's message is the stage's.
    return json.dumps({"error": {
        "code": error.http_status, "message": error.message, "status": error.rpc_status,
    }}).encode()
