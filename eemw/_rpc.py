"""The google.rpc.Code table: each RPC code's number, HTTP status and exception class.

The one place that maps them, used by the check stage and the emulator. Its names are
also importable from :mod:`eemw._errors`, where the exception classes live.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._errors import (
    AbortedError,
    AlreadyExistsError,
    ApiError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    RequestCancelledError,
    ResourceExhaustedError,
    ServerDeadlineExceededError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
)
from ._value import frozen

__all__ = ["RPC_CODES", "RpcCode", "api_error_class", "rpc_code_for_status"]


@frozen
class RpcCode:
    """One row of the google.rpc.Code table."""

    name: str
    number: int
    http_status: int
    error: type[ApiError]

    def __init__(self, name: str, number: int, http_status: int, error: type[ApiError]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "http_status", http_status)
        object.__setattr__(self, "error", error)


RPC_CODES: Mapping[str, RpcCode] = MappingProxyType({
    c.name: c
    for c in (
        RpcCode("CANCELLED", 1, 499, RequestCancelledError),
        RpcCode("UNKNOWN", 2, 500, InternalError),
        RpcCode("INVALID_ARGUMENT", 3, 400, InvalidArgumentError),
        RpcCode("DEADLINE_EXCEEDED", 4, 504, ServerDeadlineExceededError),
        RpcCode("NOT_FOUND", 5, 404, NotFoundError),
        RpcCode("ALREADY_EXISTS", 6, 409, AlreadyExistsError),
        RpcCode("PERMISSION_DENIED", 7, 403, PermissionDeniedError),
        RpcCode("RESOURCE_EXHAUSTED", 8, 429, ResourceExhaustedError),
        RpcCode("FAILED_PRECONDITION", 9, 400, FailedPreconditionError),
        RpcCode("ABORTED", 10, 409, AbortedError),
        RpcCode("OUT_OF_RANGE", 11, 400, OutOfRangeError),
        RpcCode("UNIMPLEMENTED", 12, 501, UnimplementedError),
        RpcCode("INTERNAL", 13, 500, InternalError),
        RpcCode("UNAVAILABLE", 14, 503, UnavailableError),
        RpcCode("DATA_LOSS", 15, 500, InternalError),
        RpcCode("UNAUTHENTICATED", 16, 401, UnauthenticatedError),
    )
})
"""Each google.rpc code name: its number, HTTP status and :class:`~eemw.ApiError` subclass."""

# The code to assume when a response carries no (usable) error envelope, e.g. a proxy's
# HTML page. 502 and 504 from a proxy mean the backend was unreachable or slow.
_STATUS_DEFAULTS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    416: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def rpc_code_for_status(http_status: int) -> str:
    """The RPC code name to assume for an HTTP status when the body does not say."""
    code = _STATUS_DEFAULTS.get(http_status)
    if code is not None:
        return code
    # An unlisted status (405, 413, 422 from a proxy…) says nothing about the operation's
    # state: guessing FAILED_PRECONDITION would make a refused cancel look "already done".
    return "UNKNOWN"


def api_error_class(rpc_status: str, http_status: int | None = None) -> type[ApiError]:
    """The exception class for an RPC code name.

    ``UNKNOWN`` and unlisted names map to ``InternalError`` for a 5xx (or no status) and to
    the plain :class:`ApiError` otherwise: an unexplained 4xx is not a server fault.
    """
    row = RPC_CODES.get(rpc_status)
    if http_status is not None and http_status < 500 and (row is None or row.name == "UNKNOWN"):
        return ApiError
    return row.error if row is not None else InternalError
