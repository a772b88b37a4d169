"""The eemw error tree. Every exception eemw raises is an ``EemwError``::

    EemwError
    ├── UsageError (also ValueError)          bad input, raised before any network I/O
    │   ├── InvalidNameError                  not a valid operation name
    │   ├── InvalidHeaderError                a header value with control characters, etc.
    │   └── InsecureTransportError            a token would go over plain http to a remote host
    ├── TransportError                        no HTTP response was received
    │   ├── ConnectError                      not sent: always safe to retry
    │   └── ReadError                         sent, no (complete) answer: the server may have acted
    ├── ApiError                              the server answered with a non-2xx status
    │   ├── InvalidArgumentError              400 INVALID_ARGUMENT
    │   ├── FailedPreconditionError           400 FAILED_PRECONDITION (e.g. cancel when done)
    │   ├── OutOfRangeError                   400 OUT_OF_RANGE
    │   ├── UnauthenticatedError              401 UNAUTHENTICATED
    │   ├── PermissionDeniedError             403 PERMISSION_DENIED
    │   ├── NotFoundError                     404 NOT_FOUND
    │   ├── AbortedError                      409 ABORTED
    │   ├── AlreadyExistsError                409 ALREADY_EXISTS
    │   ├── ResourceExhaustedError            429 RESOURCE_EXHAUSTED
    │   ├── RequestCancelledError             499 CANCELLED
    │   ├── InternalError                     500 INTERNAL, DATA_LOSS, UNKNOWN
    │   ├── UnimplementedError                501 UNIMPLEMENTED
    │   ├── UnavailableError                  503 UNAVAILABLE (and 502 without an envelope)
    │   └── ServerDeadlineExceededError       504 DEADLINE_EXCEEDED
    ├── DeadlineExceededError                 the call's own deadline passed on the client
    ├── RetryExhaustedError                   retries ran out; the last error is ``__cause__``
    ├── MalformedResponseError                a 2xx body that is not what the call expects
    ├── OperationFailedError                  ``wait`` saw the operation end FAILED
    └── PluginError                           a plugin failed to load, or raised in a call

The status/RPC-code table (:data:`RPC_CODES`) is the one place that maps an RPC code name to
its number, HTTP status and exception class; the check stage and the emulator both use it.

Messages say what happened, to which operation, and what to do. They never contain a
bearer token or any other header value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "RPC_CODES",
    "AbortedError",
    "AlreadyExistsError",
    "ApiError",
    "ConnectError",
    "DeadlineExceededError",
    "EemwError",
    "FailedPreconditionError",
    "InsecureTransportError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHeaderError",
    "InvalidNameError",
    "MalformedResponseError",
    "NotFoundError",
    "OperationFailedError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "PluginError",
    "ReadError",
    "ResourceExhaustedError",
    "RequestCancelledError",
    "RetryExhaustedError",
    "RpcCode",
    "ServerDeadlineExceededError",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UsageError",
    "api_error_class",
    "rpc_code_for_status",
]


class EemwError(Exception):
    """The root of every error eemw raises.

    Every eemw error pickles and copies with its attributes (and an eemw ``__cause__``),
    so it survives ``multiprocessing`` and ``concurrent.futures`` process pools.

    ``plugin`` and ``distribution`` name the plugin stage that raised it, when one did.
    """

    plugin: str | None = None
    distribution: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # The default re-calls __init__ with self.args, which fails for errors whose
        # constructors take required keyword arguments (ApiError, RetryExhaustedError, ...).
        state = dict(self.__dict__)
        if isinstance(self.__cause__, EemwError):
            state["__cause__"] = self.__cause__
        return (_rebuild, (type(self), self.args), state)


def _rebuild(cls: type[EemwError], args: tuple[Any, ...]) -> EemwError:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class UsageError(EemwError, ValueError):
    """The caller passed something eemw cannot send. Raised before any network I/O."""


class InvalidNameError(UsageError):
    """Not a valid operation name (``projects/{project}/operations/{id}`` or a bare id)."""


class InvalidHeaderError(UsageError):
    """A header value supplied by the caller is not safe to send (control characters, length)."""


class InsecureTransportError(UsageError):
    """A credential would be sent over plain http to a host that is not loopback."""


class TransportError(EemwError):
    """No HTTP response was received. ``operation`` names the call's target when known."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class ConnectError(TransportError):
    """The request was not sent (connection refused, DNS, connect timeout): safe to retry."""


class ReadError(TransportError):
    """The request was sent but no complete answer came back: the server may have acted."""


class ApiError(EemwError):
    """The server answered with a non-2xx status.

    ``http_status`` is the HTTP status, ``rpc_status`` the RPC code name (``"NOT_FOUND"``),
    ``reason`` the ``google.rpc.ErrorInfo`` reason when present, ``details`` the raw error
    details, ``retry_after`` the delay in seconds the server asked for (``Retry-After`` or
    ``RetryInfo``), and ``operation`` the operation name the call was about.
    """

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        rpc_status: str,
        reason: str | None = None,
        details: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
        operation: str | None = None,
        call: str | None = None,
    ) -> None:
        self.message = message
        self.http_status = http_status
        self.rpc_status = rpc_status
        self.reason = reason
        self.details = tuple(details)
        self.retry_after = retry_after
        self.operation = operation
        self.call = call
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = " ".join(x for x in (self.call, self.operation) if x)
        head = f"{where}: " if where else ""
        # Server messages often end with "."; the suffixes below add their own.
        text = f"{head}{self.http_status} {self.rpc_status}: {self.message.rstrip('.')}"
        if self.reason:
            text += f" (reason: {self.reason})"
        if self.retry_after is not None:
            text += f" (server asked to retry after {self.retry_after:g}s)"
        if self.hint:
            text += f". {self.hint}"
        return text


class InvalidArgumentError(ApiError):
    hint = "The request was rejected as malformed; check the arguments"


class FailedPreconditionError(ApiError):
    hint = "The operation is not in a state that allows this call"


class OutOfRangeError(ApiError):
    pass


class UnauthenticatedError(ApiError):
    hint = "Check the credentials: the token is missing, invalid or expired"


class PermissionDeniedError(ApiError):
    hint = (
        "Check that the credentials carry the earthengine or cloud-platform scope and "
        "have access to the project"
    )


class NotFoundError(ApiError):
    hint = "Check the operation name and project"


class AbortedError(ApiError):
    pass


class AlreadyExistsError(ApiError):
    pass


class ResourceExhaustedError(ApiError):
    hint = "A quota was exceeded; slow down or retry later"


class RequestCancelledError(ApiError):
    """The server reports the request was cancelled (499 CANCELLED); not asyncio's."""


class InternalError(ApiError):
    hint = "The server failed; retrying may help"


class UnimplementedError(ApiError):
    hint = "This API version or endpoint does not support the call"


class UnavailableError(ApiError):
    hint = "The service is unavailable; retry later"


class ServerDeadlineExceededError(ApiError):
    hint = "The server timed out; retry, perhaps with a longer timeout"


class DeadlineExceededError(EemwError):
    """The call's deadline passed on the client before it completed.

    ``timeout`` is the deadline the call had, in seconds; ``operation`` the last
    :class:`~eemw.Operation` seen (set by ``wait``), else ``None``.
    """

    def __init__(self, message: str, *, timeout: float | None = None, operation: Any = None):
        super().__init__(message)
        self.timeout = timeout
        self.operation = operation


class RetryExhaustedError(EemwError):
    """Retries ran out (attempts, deadline or the retry budget); ``__cause__`` is the last error.

    ``attempts`` is how many attempts were made; ``retry_after`` the delay the server last
    asked for, when it asked for longer than the time left.
    """

    def __init__(
        self, message: str, *, attempts: int, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retry_after = retry_after

    @property
    def last_error(self) -> BaseException | None:
        return self.__cause__


class MalformedResponseError(EemwError):
    """A 2xx response whose body is not what the call expects."""

    def __init__(self, message: str, *, call: str | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.call = call
        self.excerpt = excerpt


class OperationFailedError(EemwError):
    """``wait`` saw the operation finish FAILED. ``operation`` is the final Operation."""

    def __init__(self, message: str, *, operation: Any) -> None:
        super().__init__(message)
        self.operation = operation


class PluginError(EemwError):
    """A plugin failed to load or raised while handling a call.

    ``plugin`` is the plugin's name and ``distribution`` the package that provides it.
    """

    def __init__(
        self, message: str, *, plugin: str | None = None, distribution: str | None = None
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution


@dataclass(frozen=True, slots=True)
class RpcCode:
    """One row of the google.rpc.Code table."""

    name: str
    number: int
    http_status: int
    error: type[ApiError]


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
