"""The eemw error tree, and the rule that says which one a failed call raises.

Every exception eemw raises is an ``EemwError``::

    EemwError                                 attempts, history, last_error, maybe_applied, gave_up
    ├── UsageError (also ValueError)          bad input, raised before any network I/O
    │   ├── InvalidNameError                  not a valid operation name
    │   ├── InvalidHeaderError                a header value with control characters, etc.
    │   └── InsecureTransportError            a token would go over plain http to a remote host
    ├── TimedOutError                         any timeout: connect, read, whole call, wait
    │   ├── ConnectTimeoutError ─┐            (also a ConnectError)
    │   ├── ReadTimeoutError ────┼─┐          (also a ReadError)
    │   └── DeadlineExceededError│ │          the call's own deadline (or wait's timeout) passed
    ├── TransportError           │ │          no HTTP response was received
    │   ├── ConnectError ────────┘ │          not sent: always safe to retry
    │   └── ReadError ─────────────┘          sent, no (complete) answer: the server may have acted
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
    │   └── ServerDeadlineExceededError       504 DEADLINE_EXCEEDED (the server's own timeout)
    ├── RetryExhaustedError                   a marker: retrying a retryable error stopped
    ├── MalformedResponseError                a 2xx body that is not what the call expects
    ├── OperationFailedError                  ``wait`` saw the operation end FAILED
    └── PluginError                           a plugin failed to load, or raised in a call

One failure, one type. A call that fails raises, whatever the retry policy:

1. :class:`DeadlineExceededError` when the call's own deadline passed (its ``last_error``
   is the error of the attempt the deadline cut, or ``None``);
2. otherwise the **last attempt's own typed error** (``UnavailableError`` for a 503 storm,
   ``ReadError`` for a dropped connection, ``NotFoundError`` ...), never a wrapper.

Retrying only adds facts to that error, on every ``EemwError``: ``attempts`` (HTTP
attempts made), ``history`` (the errors of the earlier attempts, oldest first),
``last_error`` (the last attempt's error), ``maybe_applied`` (an attempt may have reached
the server without its answer reaching the client: a mutation may have taken effect) and
``gave_up`` (why the retry stage stopped retrying a retryable error: ``"attempts"``,
``"deadline"``, ``"server-delay"`` or ``"budget"``; ``""`` when retrying never applied).
When ``gave_up`` is set, the error is *also* an instance of :class:`RetryExhaustedError`,
so ``except UnavailableError`` and ``except RetryExhaustedError`` both catch the storm,
under the default policy and under ``RetryPolicy.none()`` alike.

Every timeout is a :class:`TimedOutError`; it is not Python's builtin ``TimeoutError``.

The status/RPC-code table (:data:`RPC_CODES`) is the one place that maps an RPC code name to
its number, HTTP status and exception class; the check stage and the emulator both use it.

Messages say what happened, to which operation, and what to do. They never contain a
bearer token or any other header value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "RPC_CODES",
    "AbortedError",
    "AlreadyExistsError",
    "ApiError",
    "ConnectError",
    "ConnectTimeoutError",
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
    "ReadTimeoutError",
    "ResourceExhaustedError",
    "RequestCancelledError",
    "RetryExhaustedError",
    "RpcCode",
    "ServerDeadlineExceededError",
    "TimedOutError",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UsageError",
    "api_error_class",
    "mark_exhausted",
    "rpc_code_for_status",
]


class EemwError(Exception):
    """The root of every error eemw raises.

    Every eemw error pickles and copies with its attributes (and an eemw ``__cause__``),
    so it survives ``multiprocessing`` and ``concurrent.futures`` process pools.

    ``plugin`` and ``distribution`` name the plugin stage that raised it, when one did.
    ``attempts``, ``history``, ``maybe_applied`` and ``gave_up`` say what the call went
    through before it failed (see the module docstring); the retry stage sets them, and
    an error raised outside a call keeps their defaults (0, ``()``, False, ``""``).
    """

    plugin: str | None = None
    distribution: str | None = None
    attempts: int = 0
    history: tuple[EemwError, ...] = ()
    maybe_applied: bool = False
    gave_up: str = ""

    @property
    def last_error(self) -> BaseException | None:
        """The error of the call's last attempt: this error itself, for most errors."""
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # The default re-calls __init__ with self.args, which fails for errors whose
        # constructors take required keyword arguments (ApiError, DeadlineExceededError...).
        state = dict(self.__dict__)
        if isinstance(self.__cause__, EemwError):
            state["__cause__"] = self.__cause__
        base = type(self).__dict__.get("_exhausted_of")
        if base is not None:
            return (_rebuild_exhausted, (base, self.args), state)
        return (_rebuild, (type(self), self.args), state)


def _rebuild(cls: type[EemwError], args: tuple[Any, ...]) -> EemwError:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


def _rebuild_exhausted(base: type[EemwError], args: tuple[Any, ...]) -> EemwError:
    return _rebuild(_exhausted_class(base), args)


class UsageError(EemwError, ValueError):
    """The caller passed something eemw cannot send. Raised before any network I/O."""


class InvalidNameError(UsageError):
    """Not a valid operation name (``projects/{project}/operations/{id}`` or a bare id)."""


class InvalidHeaderError(UsageError):
    """A header value supplied by the caller is not safe to send (control characters, length)."""


class InsecureTransportError(UsageError):
    """A credential would be sent over plain http to a host that is not loopback."""


class TimedOutError(EemwError):
    """Some time limit passed: an attempt's connect or read timeout, or the call's deadline.

    The one class to catch for "it took too long", as httpx's ``TimeoutException``.
    ``timeout`` is the limit that passed, in seconds, when known.
    """

    timeout: float | None = None


class TransportError(EemwError):
    """No HTTP response was received. ``operation`` names the call's target when known."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class ConnectError(TransportError):
    """The request was not sent (connection refused, DNS, connect timeout): safe to retry."""


class ReadError(TransportError):
    """The request was sent but no complete answer came back: the server may have acted."""


class ConnectTimeoutError(ConnectError, TimedOutError):
    """The connection was not made within the attempt's timeout (nothing was sent)."""


class ReadTimeoutError(ReadError, TimedOutError):
    """The answer did not arrive within the attempt's timeout: the server may have acted."""


class ApiError(EemwError):
    """The server answered with a non-2xx status.

    ``http_status`` is the HTTP status, ``rpc_status`` the RPC code name (``"NOT_FOUND"``),
    ``reason`` the ``google.rpc.ErrorInfo`` reason when present, ``details`` the raw error
    details, ``retry_after`` the delay in seconds the server asked for (``Retry-After`` or
    ``RetryInfo``), and ``operation`` the operation name the call was about.
    ``from_envelope`` is True when the body was a Google error envelope
    (``{"error": {...}}``) and False when it was not (a proxy's HTML page, an empty body):
    only an envelope's ``NOT_FOUND`` says the operation does not exist; a bare 404 may just
    mean the front end has no such route.
    """

    hint = ""
    from_envelope = True

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
        from_envelope: bool = True,
    ) -> None:
        self.message = message
        self.from_envelope = from_envelope
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
    """400 INVALID_ARGUMENT: the server rejected the request as malformed."""

    hint = "The request was rejected as malformed; check the arguments"


class FailedPreconditionError(ApiError):
    """400 FAILED_PRECONDITION: the operation is not in a state that allows the call (e.g.
    cancel when done).
    """

    hint = "The operation is not in a state that allows this call"


class OutOfRangeError(ApiError):
    """400 OUT_OF_RANGE: a value (such as a page token) is outside what the server accepts."""



class UnauthenticatedError(ApiError):
    """401 UNAUTHENTICATED: the token is missing, invalid or expired."""

    hint = "Check the credentials: the token is missing, invalid or expired"


class PermissionDeniedError(ApiError):
    """403 PERMISSION_DENIED: the credentials lack a scope or access to the project."""

    hint = (
        "Check that the credentials carry the earthengine or cloud-platform scope and "
        "have access to the project"
    )


class NotFoundError(ApiError):
    """404 NOT_FOUND: no such operation in this project (``from_envelope`` says whether the
    service itself said so).
    """

    hint = "Check the operation name and project"


class AbortedError(ApiError):
    """409 ABORTED: the server aborted the call because of a concurrent change."""



class AlreadyExistsError(ApiError):
    """409 ALREADY_EXISTS: what the call would create exists already."""



class ResourceExhaustedError(ApiError):
    """429 RESOURCE_EXHAUSTED: a quota was exceeded; slow down (retried by default)."""

    hint = "A quota was exceeded; slow down or retry later"


class RequestCancelledError(ApiError):
    """The server reports the request was cancelled (499 CANCELLED); not asyncio's."""


class InternalError(ApiError):
    """500 INTERNAL (also UNKNOWN, DATA_LOSS and any unlisted 5xx): the server failed; retried
    by default.
    """

    hint = "The server failed; retrying may help"


class UnimplementedError(ApiError):
    """501 UNIMPLEMENTED: this server or API version does not support the call (e.g.
    ``:wait``).
    """

    hint = "This API version or endpoint does not support the call"


class UnavailableError(ApiError):
    """503 UNAVAILABLE (also a 502 without an envelope): the service is unavailable for now;
    retried by default.
    """

    hint = "The service is unavailable; retry later"


class ServerDeadlineExceededError(ApiError):
    """504 DEADLINE_EXCEEDED from the server (not the client's own deadline, which is
    :class:`DeadlineExceededError`).
    """

    hint = "The server timed out; retry, perhaps with a longer timeout"


class DeadlineExceededError(TimedOutError):
    """The call's deadline (or ``wait``'s timeout) passed on the client before it completed.

    ``timeout`` is the deadline the call had, in seconds; ``operation`` the last
    :class:`~eemw.Operation` seen (set by ``wait``), else ``None``. ``last_error`` is the
    error of the attempt the deadline cut short (also ``__cause__``), or ``None``.
    """

    def __init__(self, message: str, *, timeout: float | None = None, operation: Any = None):
        super().__init__(message)
        self.timeout = timeout
        self.operation = operation

    @property
    def last_error(self) -> BaseException | None:
        return self.__cause__


class RetryExhaustedError(EemwError):
    """A marker: the retry stage stopped retrying an error that could have been retried.

    eemw never raises this class alone any more: the error a call raises is the last
    attempt's own typed error (an ``UnavailableError``, a ``ReadError``...), and when
    retrying stopped (``gave_up`` is ``"attempts"``, ``"deadline"``, ``"server-delay"`` or
    ``"budget"``) that error is also a ``RetryExhaustedError``. Catch the specific type;
    this class stays for code written before that rule. ``retry_after`` is the delay the
    server last asked for, when it asked for longer than the time left.
    """

    retry_after: float | None = None

    def __init__(
        self, message: str, *, attempts: int = 0, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retry_after = retry_after

    @property
    def last_error(self) -> BaseException | None:
        # A marked error is its own last error; a bare RetryExhaustedError points at it.
        return self if type(self).__dict__.get("_exhausted_of") else self.__cause__


_EXHAUSTED: dict[type[EemwError], type[EemwError]] = {}


def _exhausted_class(base: type[EemwError]) -> type[EemwError]:
    """``base`` that is also a :class:`RetryExhaustedError`, with ``base``'s own name."""
    found = _EXHAUSTED.get(base)
    if found is None:
        found = type(base.__name__, (base, RetryExhaustedError), {
            "__module__": base.__module__, "__qualname__": base.__qualname__,
            "__doc__": base.__doc__, "_exhausted_of": base,
        })
        found = _EXHAUSTED.setdefault(base, found)
    return found


def mark_exhausted(error: EemwError, reason: str, message: str) -> EemwError:
    """Mark ``error`` (in place) as the end of a retried call: ``gave_up`` is ``reason``,
    it becomes a :class:`RetryExhaustedError` too, and its message becomes ``message``.

    Changing the class in place keeps the error's identity, traceback and ``__cause__``.
    """
    if not isinstance(error, RetryExhaustedError):
        # A caller's subclass whose layout forbids it keeps its class; the facts still hold.
        with contextlib.suppress(TypeError):
            error.__class__ = _exhausted_class(type(error))
    error.gave_up = reason
    error.args = (message,)
    return error


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


# The table needs the classes above; it lives in its own module and is re-exported here.
from ._rpc import RPC_CODES, RpcCode, api_error_class, rpc_code_for_status  # noqa: E402
