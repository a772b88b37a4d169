"""``operations.wait``: block until one operation is done, within one deadline.

The loop asks the server's ``:wait`` (best effort: it may answer early) and backs off
between answers; it falls back to polling ``get`` when the server has no ``:wait`` (a
501, or a 404 that is not the service's own error envelope). Transient failures are
waited through, so reaching the timeout always raises
:class:`~eemw.DeadlineExceededError` with the last state seen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import (
    ApiError,
    DeadlineExceededError,
    EemwError,
    NotFoundError,
    OperationFailedError,
    RetryExhaustedError,
    TransportError,
    UnimplementedError,
)
from ._http import Call
from ._models import Operation, OperationName

if TYPE_CHECKING:
    from ._keys import CallContext
    from ._operations import Operations
    from .middleware.retry import RetryPolicy

__all__ = ["wait_for"]

_MAX_SERVER_WAIT = 60.0
_MIN_SERVER_WAIT = 0.5


def wait_for(
    ops: Operations,
    name: OperationName,
    seconds: float,
    poll_interval: float,
    max_poll_interval: float,
    retry: RetryPolicy | None,
    attributes: Mapping[str, Any] | None,
    context: CallContext | None = None,
) -> Operation:
    """See :meth:`Operations.wait`; the arguments are already validated."""
    client = ops.client
    deadline = client.clock() + seconds
    delay = poll_interval
    use_wait = True
    last: Operation | None = None
    failure: EemwError | None = None
    while True:
        started = client.clock()
        left = deadline - started
        if left <= 0:
            raise _wait_timeout(name, seconds, last) from failure
        try:
            last, use_wait = _wait_once(ops, name, left, use_wait, retry, attributes, context)
            failure = None
        except DeadlineExceededError as error:
            raise _wait_timeout(name, seconds, last) from error
        except EemwError as error:
            if not _transient(error):
                raise
            failure = error
        if failure is None and last is not None and last.done:
            return _finished(last)
        now = client.clock()
        answered_early = now - started < min(left, _MAX_SERVER_WAIT) / 2
        if failure is not None or not use_wait or answered_early:
            # The server answered early (best effort) or failed: back off first.
            client.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, max_poll_interval)


def _wait_once(
    ops: Operations,
    name: OperationName,
    left: float,
    use_wait: bool,
    retry: RetryPolicy | None,
    attributes: Mapping[str, Any] | None,
    context: CallContext | None,
) -> tuple[Operation, bool]:
    """One look at ``name`` (``:wait``, else ``get``), and whether to use ``:wait`` next."""
    client = ops.client
    if use_wait:
        # Ask the server to answer well before our own deadline, so its reply (and the
        # network) fits in the time left instead of racing the read timeout.
        server_wait = min(left - min(1.0, left / 10), _MAX_SERVER_WAIT)
        if server_wait < _MIN_SERVER_WAIT:
            # Too little time left to ask the server to hold: one last look instead.
            return ops.get(
                name, timeout=left, retry=retry, trace_attributes=attributes, context=context
            ), True
        try:
            response = client.send(
                Call("wait", name.project, client.api_version, name.name),
                "POST", name.path(client.api_version) + ":wait",
                # Rounded down: "0.001s" for 0.0009 s left would ask for more than there is.
                body={"timeout": f"{math.floor(server_wait * 1000) / 1000:.3f}s"},
                timeout=left, retry=retry, trace_attributes=attributes, context=context,
            )
            return Operation.from_wire(response.json()), True
        except (UnimplementedError, NotFoundError) as error:
            if isinstance(error, NotFoundError) and error.from_envelope:
                raise  # the service itself says the operation does not exist
            # No :wait here (this server, version or front end): poll with get.
    op = ops.get(name, timeout=left, retry=retry, trace_attributes=attributes, context=context)
    return op, False


def _wait_timeout(
    name: OperationName, seconds: float, last: Operation | None
) -> DeadlineExceededError:
    state = f"still {last.state.value}" if last is not None else "no answer from the server"
    return DeadlineExceededError(
        f"operations.wait {name}: {state} after {seconds:g}s; pass a longer timeout= to "
        "wait longer (the operation itself keeps running)",
        timeout=seconds, operation=last,
    )


def _transient(error: EemwError) -> bool:
    """Whether asking again later may give another answer (a wait keeps going)."""
    if isinstance(error, (RetryExhaustedError, TransportError)):
        return True
    return isinstance(error, ApiError) and (
        error.http_status in (408, 429) or (error.http_status >= 500 and error.http_status != 501)
    )


def _finished(op: Operation) -> Operation:
    if op.failed:
        detail = f": {op.error.message}" if op.error and op.error.message else ""
        raise OperationFailedError(f"operation {op.name} FAILED{detail}", operation=op)
    return op
