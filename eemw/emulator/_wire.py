"""Wire-format pieces shared by the emulator: JSON replies, the error envelope, times, durations."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import RPC_CODES, rpc_code_for_status

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
# The status table is the library's own (eemw._errors.RPC_CODES): client and emulator
# cannot drift apart on what a code means on the wire.

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
SERVICE = "earthengine.googleapis.com"

Header = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer, ready to be written by the server."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[Header, ...] = ()


class ApiError(Exception):
    """Raised inside the emulator to answer with the Google error envelope."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        details: Sequence[Mapping[str, Any]] = (),
        headers: tuple[Header, ...] = (),
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = tuple(details)
        self.headers = headers
        self.http_status = (
            http_status if http_status is not None else RPC_CODES[status].http_status
        )


def rpc_status_for_http(http_status: int) -> str:
    """The RPC code name a Google front end reports with a bare HTTP status."""
    return rpc_code_for_status(http_status)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_reply(value: Any, status: int = 200, headers: tuple[Header, ...] = ()) -> Reply:
    return Reply(status, dumps(value), JSON_CONTENT_TYPE, headers)


def error_reply(error: ApiError) -> Reply:
    envelope: dict[str, Any] = {
        "code": error.http_status,
        "message": error.message,
        "status": error.status,
    }
    if error.details:
        envelope["details"] = [dict(d) for d in error.details]
    return json_reply({"error": envelope}, error.http_status, error.headers)


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": ERROR_INFO_TYPE,
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": SERVICE, **metadata},
    }


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": RETRY_INFO_TYPE, "retryDelay": format_duration(seconds)}


def format_duration(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def parse_duration(text: object) -> float:
    """Parse a google.protobuf.Duration in its JSON form ("3.5s")."""
    if not isinstance(text, str) or not text.endswith("s"):
        raise ApiError(
            "INVALID_ARGUMENT", f'Invalid duration {text!r}: expected a string like "3.5s".'
        )
    try:
        seconds = float(text[:-1])
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or text[:1] not in "-0123456789":
        raise ApiError(
            "INVALID_ARGUMENT", f'Invalid duration {text!r}: expected a string like "3.5s".'
        )
    return seconds


def rfc3339(unix_nanos: int, digits: int) -> str:
    """Format a Unix time in nanoseconds as RFC 3339 UTC with exactly `digits` fraction digits."""
    whole, fraction = divmod(unix_nanos, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if digits <= 0:
        return base + "Z"
    return f"{base}.{fraction:09d}"[: len(base) + 1 + digits] + "Z"
