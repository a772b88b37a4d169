"""``client.operations``: the operations resource (get, list, cancel, delete, wait).

Each method validates its arguments, turns them into one logical call sent through the
client's pipeline with :meth:`ClientPort.send`, and parses the checked body into
:class:`~eemw.Operation` values. The bulk calls (``cancel_many``, ``wait_many``) are
methods here for discoverability; their machinery lives in :mod:`eemw._bulk`.

The resource depends on the client only through :class:`ClientPort`, so it never reaches
into a client's private state.

Cancel and delete survive lost answers. When an earlier attempt of the call may have
reached the server (``maybe_applied`` on the error: a dropped connection, a read timeout,
a 500/502/504) and the retry is answered "already done" (cancel: ``FAILED_PRECONDITION``)
or "not found" (delete: a ``NOT_FOUND`` error envelope), the answer may be about the
lost attempt's own effect. cancel then looks once (``get``): an operation now CANCELLING
or CANCELLED was cancelled, and the call succeeds with ``reconciled=True``; delete
succeeds with ``reconciled=True`` at once (the record is gone, which is what was asked).
Without such an earlier attempt, those answers stay errors.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import (
    EemwError,
    FailedPreconditionError,
    NotFoundError,
    UsageError,
)
from ._http import Call, CallKind, Context, Response
from ._keys import CallContext, CallOptions
from ._models import Operation, OperationName, State, collection_path
from ._results import CancelResult
from ._validate import (
    DEFAULT_TIMEOUTS,
    DEFAULT_WATCH_INTERVAL,
    NameLike,
    check_poll,
    check_timeout,
    is_int,
    matcher,
    operation_name,
    states,
    types,
)
from ._value import frozen
from .middleware.retry import RetryPolicy

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._results import WaitResult
    from ._watch_stream import OperationWatch

__all__ = ["ClientPort", "DeleteResult", "Operations"]

_CANCELLED_OR_CANCELLING = frozenset({State.CANCELLING, State.CANCELLED})


@frozen
class DeleteResult:
    """What :meth:`Operations.delete` did: the record of ``name`` is gone.

    ``reconciled`` is True when the server's answer was "not found" after an earlier
    attempt that may have been applied (its answer was lost): the delete is taken as done.
    """

    name: str
    reconciled: bool = False

    def __init__(self, name: str, reconciled: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "reconciled", reconciled)


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
    ) -> CancelResult:
        """Ask the server to cancel ``name``; returns a :class:`CancelResult` (``outcome``
        ``"cancelled"``). Best effort: the operation may still finish, and the server
        cancels asynchronously (CANCELLING, then CANCELLED).

        Cancelling an operation that is already done raises
        :class:`~eemw.FailedPreconditionError`, unless an earlier attempt of this call
        may have been applied and a ``get`` shows the operation CANCELLING or CANCELLED:
        then the result has ``reconciled=True``. ``timeout`` covers that ``get`` too.
        """
        op = self.name(name)
        client = self._client
        seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["cancel"])
        deadline = client.clock() + seconds
        try:
            client.send(
                self._call("cancel", op), "POST", op.path(client.api_version) + ":cancel",
                timeout=seconds, retry=retry, idempotency_key=idempotency_key,
                trace_attributes=trace_attributes, context=context,
            )
        except FailedPreconditionError as error:
            if not (error.maybe_applied and self._now_cancelled(op, deadline, retry)):
                raise
            return CancelResult(op.name, "cancelled", None, reconciled=True)
        return CancelResult(op.name, "cancelled")

    def _now_cancelled(
        self,
        op: OperationName,
        deadline: float,
        retry: RetryPolicy | None,
    ) -> bool:
        """One look at ``op`` after a refused re-sent cancel: is it cancelled (or going)?"""
        left = deadline - self._client.clock()
        if left <= 0:
            return False
        try:
            current = self.get(op, timeout=left, retry=retry)
        except EemwError:
            return False  # the refusal stands; the failed look is its __context__
        return current.state in _CANCELLED_OR_CANCELLING

    def delete(
        self,
        name: NameLike,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        context: CallContext | None = None,
    ) -> DeleteResult:
        """Delete the record of ``name`` (the task itself is not cancelled).

        Returns a :class:`DeleteResult`. A ``NOT_FOUND`` answer raises
        :class:`~eemw.NotFoundError`, unless an earlier attempt of this call may have been
        applied: then the delete succeeded and the result has ``reconciled=True``.
        """
        op = self.name(name)
        try:
            self._client.send(
                self._call("delete", op), "DELETE", op.path(self._client.api_version),
                timeout=timeout, retry=retry, idempotency_key=idempotency_key,
                trace_attributes=trace_attributes, context=context,
            )
        except NotFoundError as error:
            # Only the service's own envelope says "no such operation"; a bare 404 page
            # from a front end says nothing about it.
            if not (error.maybe_applied and error.from_envelope):
                raise
            return DeleteResult(op.name, reconciled=True)
        return DeleteResult(op.name)

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
        wanted_states, wanted_types = states(state), types(type)
        no_filter = wanted_states is None and wanted_types is None
        keep = None if no_filter else matcher(wanted_states, wanted_types)
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
        keep: Callable[[Operation], bool] | None,
        timeout: float | None,
        retry: RetryPolicy | None,
        attributes: Mapping[str, Any] | None,
        context: CallContext | None,
    ) -> Iterator[Operation]:
        # A client-side filter reads every operation: one decode of the page is cheaper.
        split = context if keep is not None else _with_split_pages(context)

        def send(page_query: Mapping[str, str]) -> Response:
            return self._client.send(
                call, "GET", path, query=page_query, timeout=timeout, retry=retry,
                trace_attributes=attributes, context=split,
            )

        from ._paging import pages

        return pages(send, call, query, limit, keep)

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
        server has no ``:wait`` (a 501, or a 404 that is not the service's own error
        envelope, such as a front end's HTML page). A cancelled operation is returned
        (check ``op.cancelled``); one that FAILED raises :class:`~eemw.OperationFailedError`;
        one that does not exist raises :class:`~eemw.NotFoundError`. Transient failures
        (5xx, 429, lost connections, even once a request's retries ran out) are waited
        through: reaching ``timeout`` always raises :class:`~eemw.DeadlineExceededError`,
        whose ``operation`` is the last state seen (``None`` if no answer came at all) and
        whose ``last_error`` is the last failure, if any. ``retry`` applies to each
        request the wait makes.
        """
        op_name = self.name(name)
        seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
        check_poll(poll_interval, max_poll_interval)
        from ._wait import wait_for

        return wait_for(
            self, op_name, seconds, poll_interval, max_poll_interval, retry, trace_attributes,
            context,
        )

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
        before anything is sent. ``timeout`` (default: ``DEFAULT_TIMEOUTS["cancel"]``) is
        the whole call's deadline, as for every bulk call: each cancel gets the time left
        of it, and a cancel that would start after it is not sent (its result is
        ``"error"`` with a :class:`~eemw.DeadlineExceededError`). Each cancel goes through
        the full stack (retry budget, idempotency keys, plugins) and reconciles a lost
        answer as :meth:`cancel` does. One failure never stops the rest: it is reported in
        its result. ``on_result`` is called (from worker threads) as each cancel finishes; an
        exception it raises is logged and changes neither the other cancels nor the results.
        """
        from ._bulk import cancel_many  # its machinery is loaded by its first use

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

        Each round reads the project's ``list`` pages (1,000 operations a request) until it
        has seen every operation not yet settled, and gets only those no page showed (on
        another project, deleted, behind a failed page); then it backs off
        (``poll_interval`` doubling up to ``max_poll_interval``), never past ``timeout``.
        Returns one :class:`WaitResult` per name, in order, and raises nothing for what
        happens to one operation: a FAILED one is ``done`` with ``operation.failed``; one the server
        refuses definitively (not found, permission denied) carries that ``error`` and is
        not asked for again; a transient failure is recorded and retried next round; and
        at the timeout the rest keep the last state seen (``operation`` is ``None`` if
        none was). One request reaching its own deadline is transient too: only
        ``timeout`` ends the wait. ``on_update`` sees each operation whenever it changed.
        """
        from ._bulk import wait_many

        return wait_many(
            self, names, timeout=timeout, poll_interval=poll_interval,
            max_poll_interval=max_poll_interval, on_update=on_update,
        )

    def watch(
        self,
        names: Iterable[NameLike] | None = None,
        *,
        filter: str | None = None,
        state: State | str | Iterable[State | str] | None = None,
        type: str | Iterable[str] | None = None,
        poll_interval: float = DEFAULT_WATCH_INTERVAL,
        until: float | None = None,
    ) -> OperationWatch:
        """A change stream: an :class:`~eemw.OperationChange` per state change seen.

        Follows ``names``, or with ``names=None`` every operation of the client's project
        (``filter`` is passed to the server; ``state`` and ``type`` select the changes
        yielded by the state and type they lead to). Each round reads ``list`` pages and
        gets only what the pages cannot show, every ``poll_interval`` seconds. The first
        change of each operation has ``before=None``. Ends when every named operation is
        done, after ``until`` seconds (on the client's clock; ``None``: never), or when
        the caller stops iterating or calls ``close()``. See :class:`~eemw.OperationWatch`.
        """
        from ._watch_stream import OperationWatch

        return OperationWatch(
            self, names, filter=filter, state=state, type=type,
            poll_interval=poll_interval, until=until,
        )

    @property
    def client(self) -> ClientPort:
        """The client this resource sends through."""
        return self._client

    def _call(self, kind: CallKind, name: OperationName) -> Call:
        return Call(kind, name.project, self._client.api_version, name.name)


def _with_split_pages(context: CallContext | None) -> CallContext:
    """The caller's context asking the check stage to cut pages (see :mod:`eemw._pagesplit`)."""
    from .middleware.check import SPLIT_PAGES

    if context is None:
        return {SPLIT_PAGES: True}
    if not isinstance(context, (Context, Mapping)):
        return context  # type: ignore[unreachable]  # the client refuses it, with its message
    return {**dict(context.items()), SPLIT_PAGES: True}
