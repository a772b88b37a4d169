"""``client.operations``: the operations resource (get, list, cancel, delete, wait).

Each method validates its arguments, turns them into one logical call sent through the
client's pipeline with :meth:`ClientPort.send`, and parses the checked body into
:class:`~eemw.Operation` values. The bulk calls (``cancel_many``, ``wait_many``) are
methods here for discoverability; their machinery lives in :mod:`eemw._bulk`.

The resource depends on the client only through :class:`ClientPort`, so it never reaches
into a client's private state.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._bulk import CancelResult, WaitResult, cancel_many, wait_many
from ._errors import (
    DeadlineExceededError,
    MalformedResponseError,
    OperationFailedError,
    UnimplementedError,
    UsageError,
)
from ._http import Call, CallKind, Response
from ._keys import CallContext, CallOptions
from ._models import Operation, OperationName, State, collection_path
from ._validate import (
    DEFAULT_TIMEOUTS,
    NameLike,
    check_poll,
    check_timeout,
    is_int,
    matcher,
    operation_name,
    states,
    types,
)
from .middleware.retry import RetryPolicy

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ClientPort", "Operations"]

_MAX_SERVER_WAIT = 60.0
_MIN_SERVER_WAIT = 0.5


class ClientPort(Protocol):
    """What the operations resource needs from a client.

    ``send`` MUST run one logical call through the whole pipeline and return its checked
    response or raise an :class:`~eemw.EemwError`; ``clock`` and ``sleep`` are the
    client's injected timeline, which polling loops MUST use instead of the real one.
    """

    project: str | None
    api_version: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def send(
        self, call: Call, method: str, path: str, *, query: Mapping[str, str] | None = None,
        body: Any = None, **options: Unpack[CallOptions],
    ) -> Response: ...


class Operations:
    """``client.operations``: get, list, cancel, delete and wait on operations."""

    def __init__(self, client: ClientPort) -> None:
        self._client = client

    def name(self, name: NameLike) -> OperationName:
        """``name`` validated: a full name, or a bare id in the client's project."""
        return operation_name(name, self._client.project)

    def get(
        self,
        name: NameLike,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> Operation:
        """The operation ``name`` (a full name, or an id in the client's project)."""
        op = self.name(name)
        response = self._client.send(
            self._call("get", op), "GET", op.path(self._client.api_version),
            timeout=timeout, retry=retry, trace_attributes=trace_attributes, context=context,
        )
        return Operation.from_wire(response.json())

    def cancel(
        self,
        name: NameLike,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> None:
        """Ask the server to cancel ``name``. Best effort: it may still finish.

        Cancelling an operation that is already done raises
        :class:`~eemw.FailedPreconditionError`.
        """
        op = self.name(name)
        self._client.send(
            self._call("cancel", op), "POST", op.path(self._client.api_version) + ":cancel",
            timeout=timeout, retry=retry, idempotency_key=idempotency_key,
            trace_attributes=trace_attributes, context=context,
        )

    def delete(
        self,
        name: NameLike,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> None:
        """Delete the record of ``name`` (the task itself is not cancelled)."""
        op = self.name(name)
        self._client.send(
            self._call("delete", op), "DELETE", op.path(self._client.api_version),
            timeout=timeout, retry=retry, idempotency_key=idempotency_key,
            trace_attributes=trace_attributes, context=context,
        )

    def list(
        self,
        *,
        project: str | None = None,
        filter: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
        state: State | str | Iterable[State | str] | None = None,
        type: str | Iterable[str] | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> Iterator[Operation]:
        """Iterate over a project's operations, fetching pages lazily, only as needed.

        ``filter`` is passed to the server as is. ``state`` and ``type`` filter on the
        client, after it. ``limit`` stops after that many matching operations.
        ``timeout`` applies to each page request.

        ``trace_attributes`` (on every method) are added to the call's span; ``context``
        (on every method) sets context keys of your own, e.g. a plugin's, on the call.
        """
        client = self._client
        project = project or client.project
        if project is None:
            raise UsageError("list needs a project: pass project= or give the client one")
        path = collection_path(project, client.api_version)
        if page_size is not None and not (is_int(page_size) and 0 < page_size <= 1000):
            raise UsageError(f"page_size must be an integer from 1 to 1000, not {page_size!r}")
        if limit is not None and not (is_int(limit) and limit >= 0):
            raise UsageError(f"limit must be a non-negative integer or None, not {limit!r}")
        if filter is not None and (not isinstance(filter, str) or not filter.isprintable()):
            raise UsageError("filter must be a string without line breaks or control characters")
        check_timeout(timeout, DEFAULT_TIMEOUTS["list"])
        keep = matcher(states(state), types(type))
        call = Call("list", project, client.api_version)
        query: dict[str, str] = {}
        if filter:
            query["filter"] = filter
        if page_size:
            query["pageSize"] = str(page_size)
        return self._pages(
            call, path, query, limit, keep, timeout, retry, trace_attributes, context
        )

    def _pages(
        self,
        call: Call,
        path: str,
        query: dict[str, str],
        limit: int | None,
        keep: Callable[[Operation], bool],
        timeout: float | None,
        retry: RetryPolicy | None,
        attributes: Mapping[str, Any] | None,
        context: CallContext | None,
    ) -> Iterator[Operation]:
        found = 0
        seen_tokens: set[str] = set()
        while limit is None or found < limit:
            response = self._client.send(
                call, "GET", path, query=query, timeout=timeout, retry=retry,
                trace_attributes=attributes, context=context,
            )
            page = response.json()
            for raw in page.get("operations", ()):
                op = Operation.from_wire(raw)
                if keep(op):
                    yield op
                    found += 1
                    if limit is not None and found >= limit:
                        return
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen_tokens:
                # A server that hands back a token twice would page forever.
                raise MalformedResponseError(
                    f"operations.list projects/{call.project}: the server repeated a page token",
                    call=call.label,
                )
            seen_tokens.add(token)
            query = {**query, "pageToken": token}

    def wait(
        self,
        name: NameLike,
        *,
        timeout: float = DEFAULT_TIMEOUTS["wait"],
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> Operation:
        """Block until ``name`` is done and return it; never waits past ``timeout`` seconds.

        Uses the server's ``:wait`` (best effort: it may return early) and polls with
        exponential backoff between answers; falls back to polling ``get`` when the
        server does not implement ``:wait``. A cancelled operation is returned (check
        ``op.cancelled``); one that FAILED raises :class:`~eemw.OperationFailedError`; a
        timeout raises :class:`~eemw.DeadlineExceededError` whose ``operation`` is the
        last state seen (``None`` if no answer came at all). ``retry`` applies to each
        request the wait makes.
        """
        client = self._client
        op_name = self.name(name)
        seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
        check_poll(poll_interval, max_poll_interval)
        deadline = client.clock() + seconds
        delay = poll_interval
        use_wait = True
        last: Operation | None = None
        while True:
            started = client.clock()
            left = deadline - started
            if left <= 0:
                raise _wait_timeout(op_name, seconds, last)
            try:
                last, use_wait = self._wait_once(
                    op_name, left, use_wait, retry, trace_attributes, context
                )
            except DeadlineExceededError as error:
                raise _wait_timeout(op_name, seconds, last) from error
            if last.done:
                return _finished(last)
            now = client.clock()
            if not use_wait or now - started < min(left, _MAX_SERVER_WAIT) / 2:
                # The server answered early (best effort): back off before asking again.
                client.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, max_poll_interval)

    def _wait_once(
        self,
        name: OperationName,
        left: float,
        use_wait: bool,
        retry: RetryPolicy | None,
        attributes: Mapping[str, Any] | None,
        context: CallContext | None,
    ) -> tuple[Operation, bool]:
        client = self._client
        if use_wait:
            # Ask the server to answer well before our own deadline, so its reply (and the
            # network) fits in the time left instead of racing the read timeout.
            server_wait = min(left - min(1.0, left / 10), _MAX_SERVER_WAIT)
            if server_wait < _MIN_SERVER_WAIT:
                # Too little time left to ask the server to hold: one last look instead.
                return self.get(
                    name, timeout=left, retry=retry, trace_attributes=attributes, context=context
                ), True
            try:
                response = client.send(
                    self._call("wait", name), "POST", name.path(client.api_version) + ":wait",
                    # Rounded down: "0.001s" for 0.0009 s left would ask for more than there is.
                    body={"timeout": f"{math.floor(server_wait * 1000) / 1000:.3f}s"},
                    timeout=left, retry=retry, trace_attributes=attributes, context=context,
                )
                return Operation.from_wire(response.json()), True
            except UnimplementedError:
                pass  # this server or version lacks :wait: poll with get from now on
        op = self.get(
            name, timeout=left, retry=retry, trace_attributes=attributes, context=context
        )
        return op, False

    def cancel_many(
        self,
        names: Iterable[NameLike],
        *,
        max_workers: int = 16,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        on_result: Callable[[CancelResult], object] | None = None,
    ) -> builtins.list[CancelResult]:
        """Cancel many operations concurrently; one :class:`CancelResult` per name, in order.

        Every name is validated first, so a bad one raises :class:`~eemw.InvalidNameError`
        before anything is sent. Each cancel goes through the full stack (retry budget,
        idempotency keys, plugins). One failure never stops the rest: it is reported in its
        result. ``on_result`` is called (from worker threads) as each cancel finishes; an
        exception it raises is logged and changes neither the other cancels nor the results.
        """
        return cancel_many(
            self, names, max_workers=max_workers, timeout=timeout, retry=retry,
            on_result=on_result,
        )

    def wait_many(
        self,
        names: Iterable[NameLike],
        *,
        timeout: float = DEFAULT_TIMEOUTS["wait"],
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        on_update: Callable[[Operation], object] | None = None,
    ) -> builtins.list[WaitResult]:
        """Wait for several operations with one polling schedule, in the calling thread.

        Each round gets every operation not yet settled, then backs off (``poll_interval``
        doubling up to ``max_poll_interval``), never past ``timeout``. Returns one
        :class:`WaitResult` per name, in order, and raises nothing for what happens to one
        operation: a FAILED one is ``done`` with ``operation.failed``; one the server
        refuses definitively (not found, permission denied) carries that ``error`` and is
        not asked for again; a transient failure is recorded and retried next round; and
        at the timeout the rest keep the last state seen (``operation`` is ``None`` if
        none was). ``on_update`` sees every state fetched.
        """
        return wait_many(
            self, names, timeout=timeout, poll_interval=poll_interval,
            max_poll_interval=max_poll_interval, on_update=on_update,
        )

    @property
    def client(self) -> ClientPort:
        """The client this resource sends through."""
        return self._client

    def _call(self, kind: CallKind, name: OperationName) -> Call:
        return Call(kind, name.project, self._client.api_version, name.name)


def _wait_timeout(
    name: OperationName, seconds: float, last: Operation | None
) -> DeadlineExceededError:
    state = f"still {last.state.value}" if last is not None else "no answer from the server"
    return DeadlineExceededError(
        f"operations.wait {name}: {state} after {seconds:g}s; pass a longer timeout= to "
        "wait longer (the operation itself keeps running)",
        timeout=seconds, operation=last,
    )


def _finished(op: Operation) -> Operation:
    if op.failed:
        detail = f": {op.error.message}" if op.error and op.error.message else ""
        raise OperationFailedError(f"operation {op.name} FAILED{detail}", operation=op)
    return op


