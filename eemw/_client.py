"""The client and its operations API.

``Client`` owns one transport and one built pipeline; ``client.operations`` turns method
calls into frozen :class:`Request` values, runs them through the pipeline, and parses the
checked bodies into :class:`Operation` values. Every argument is validated before any
network I/O.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import os
import platform
import random as _random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from ._errors import (
    ApiError,
    DeadlineExceededError,
    EemwError,
    FailedPreconditionError,
    InvalidHeaderError,
    MalformedResponseError,
    NotFoundError,
    OperationFailedError,
    UnimplementedError,
    UsageError,
)
from ._http import Call, CallKind, Context, Headers, Request, Response
from ._keys import CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES
from ._metrics import Metrics
from ._models import Operation, OperationName, State, collection_path
from ._pipeline import Entry, Handler, Pipeline, Stack
from ._plugins import CALLER_IDENTITY, caller_identity, plugin_entries
from ._version import __version__
from .middleware.auth import EARTHENGINE_SCOPE, Auth
from .middleware.check import Check
from .middleware.idempotency import Idempotency, validate_key
from .middleware.retry import RETRY_POLICY, Retry, RetryBudget, RetryPolicy
from .middleware.tracing import Tracing

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "API_VERSIONS",
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUTS",
    "CancelOutcome",
    "CancelResult",
    "Client",
    "Operations",
    "WaitResult",
]

DEFAULT_ENDPOINT = "https://earthengine.googleapis.com"
API_VERSIONS = ("v1", "v1beta", "v1alpha")
DEFAULT_TIMEOUTS: Mapping[CallKind, float] = MappingProxyType({
    "get": 60.0, "list": 60.0, "cancel": 60.0, "delete": 60.0, "wait": 600.0,
})
"""The default deadline of each kind of call, in seconds (``wait``: the whole wait)."""

logger = logging.getLogger("eemw.client")

_MAX_SERVER_WAIT = 60.0
_MIN_SERVER_WAIT = 0.5
_MAX_TIMEOUT = 864_000.0
_HEADER_SAFE = frozenset(map(chr, range(0x20, 0x7F)))


class Client:
    """A client for the Earth Engine operations API.

    ``project`` defaults to the credentials' project, then ``GOOGLE_CLOUD_PROJECT``.
    ``credentials`` default to ``google.auth.default()``. ``quota_project`` (sent as
    ``X-Goog-User-Project``) defaults to the credentials' quota project, then ``project``.
    ``transport`` is any ``Request -> Response`` callable: a
    :class:`~eemw.RequestsTransport` by default, or :class:`eemw.testing.MockTransport`.
    ``middleware`` adds your own :class:`~eemw.Entry` stages; ``plugins`` enables installed
    plugins by name (also ``EEMW_PLUGINS``). ``clock``, ``sleep`` and ``random`` are
    injectable so tests never really sleep.

    Use it as a context manager, or call :meth:`close`, to release pooled connections.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        api_version: str = "v1",
        credentials: ga_credentials.Credentials | None = None,
        quota_project: str | None = None,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        transport: Handler | None = None,
        middleware: Sequence[Entry] = (),
        plugins: Sequence[str] | None = None,
        plugin_settings: Mapping[str, Mapping[str, object]] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        idempotency_header: str = "Idempotency-Key",
        replay_cache_size: int = 1024,
        replay_ttl: float = 600.0,
        user_agent: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.endpoint = _check_endpoint(endpoint)
        if api_version not in API_VERSIONS:
            raise UsageError(f"api_version must be one of {API_VERSIONS}, not {api_version!r}")
        self.api_version = api_version
        credentials, found_project = _credentials(credentials)
        self.project = project or found_project or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if self.project is not None:
            collection_path(self.project, api_version)  # validates the project id
        self.quota_project = _header_value(
            "quota_project",
            quota_project or getattr(credentials, "quota_project_id", None) or self.project,
        )
        self._clock = clock
        self._sleep = sleep
        # Built once: every request starts from it, so plugins see the injected time.
        self._context = Context().set(CLOCK, clock).set(SLEEP, sleep)
        self._headers = _base_headers(user_agent)
        self._owns_transport = transport is None
        if transport is None:
            from ._transport import RequestsTransport

            transport = RequestsTransport()
        self.transport = transport
        metrics = Metrics(meter_provider)
        tracing = Tracing(tracer_provider=tracer_provider, metrics=metrics, clock=clock)
        stack = Stack([
            Entry("tracing", tracing, "call"),
            Entry("idempotency", Idempotency(
                header=idempotency_header, cache_size=replay_cache_size, ttl=replay_ttl,
                clock=clock,
            ), "call"),
            Entry("retry", Retry(
                retry, budget=retry_budget, clock=clock, sleep=sleep, random=random,
                metrics=metrics,
            ), "call", closing=True),
            Entry("auth", self._auth(credentials, transport), "attempt"),
            Entry("check", Check(), "attempt", closing=True),
        ])
        for entry in (*plugin_entries(plugins, plugin_settings), *middleware):
            stack = stack.add_entry(entry)
        self.stack: Pipeline = stack.build(tracing.attempts(transport))
        self._auth_credentials = self.credentials
        self.operations = Operations(self)

    def _auth(self, credentials: ga_credentials.Credentials, transport: Handler) -> Auth:
        refresh = getattr(transport, "google_auth_request", None) or _LazyRefreshRequest()
        return Auth(credentials, refresh_request=refresh, quota_project=self.quota_project)

    @property
    def credentials(self) -> ga_credentials.Credentials:
        """The credentials in use (scoped for Earth Engine when they could be)."""
        auth = next(e.middleware for e in self.stack.entries if e.name == "auth")
        return auth.credentials  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        """Release the transport's pooled connections (when the client created it)."""
        close = getattr(self.transport, "close", None)
        if self._owns_transport and close is not None:
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client(project={self.project!r}, endpoint={self.endpoint!r}, "
            f"api_version={self.api_version!r})"
        )

    # The one place requests are built: every operations method comes through here.
    def _send(
        self,
        call: Call,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None,
        retry: RetryPolicy | None,
        idempotency_key: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Response:
        seconds = _check_timeout(timeout, DEFAULT_TIMEOUTS[call.kind])
        context = (
            self._context
            .set(DEADLINE, self._clock() + seconds)
            .set(CALLER_IDENTITY, caller_identity(self._auth_credentials))
        )
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise UsageError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
            context = context.set(RETRY_POLICY, retry)
        if idempotency_key is not None:
            context = context.set(IDEMPOTENCY_KEY, validate_key(idempotency_key))
        if attributes:
            context = context.set(TRACE_ATTRIBUTES, dict(attributes))
        url = self.endpoint + path
        if query:
            url += "?" + urlencode(query)
        headers = self._headers
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers = headers.set("Content-Type", "application/json")
        return self.stack(Request(method, url, headers, call, data, seconds, context))

    def _name(self, name: str | OperationName | Operation) -> OperationName:
        if isinstance(name, OperationName):
            return name
        if isinstance(name, Operation):
            return OperationName.parse(name.name)
        return OperationName.parse(name, self.project)


class Operations:
    """``client.operations``: get, list, cancel, delete and wait on operations."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(
        self,
        name: str | OperationName | Operation,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
    ) -> Operation:
        """The operation ``name`` (a full name, or an id in the client's project)."""
        op = self._client._name(name)
        response = self._client._send(
            self._call("get", op), "GET", op.path(self._client.api_version),
            timeout=timeout, retry=retry, attributes=trace_attributes,
        )
        return Operation.from_wire(response.json())

    def cancel(
        self,
        name: str | OperationName | Operation,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Ask the server to cancel ``name``. Best effort: it may still finish.

        Cancelling an operation that is already done raises
        :class:`~eemw.FailedPreconditionError`.
        """
        op = self._client._name(name)
        self._client._send(
            self._call("cancel", op), "POST", op.path(self._client.api_version) + ":cancel",
            timeout=timeout, retry=retry, idempotency_key=idempotency_key,
            attributes=trace_attributes,
        )

    def delete(
        self,
        name: str | OperationName | Operation,
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Delete the record of ``name`` (the task itself is not cancelled)."""
        op = self._client._name(name)
        self._client._send(
            self._call("delete", op), "DELETE", op.path(self._client.api_version),
            timeout=timeout, retry=retry, idempotency_key=idempotency_key,
            attributes=trace_attributes,
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
    ) -> Iterator[Operation]:
        """Iterate over a project's operations, fetching pages lazily, only as needed.

        ``filter`` is passed to the server as is. ``state`` and ``type`` filter on the
        client, after it. ``limit`` stops after that many matching operations.
        ``timeout`` applies to each page request.

        ``trace_attributes`` (on every method) are added to the call's span.
        """
        client = self._client
        project = project or client.project
        if project is None:
            raise UsageError("list needs a project: pass project= or give the client one")
        path = collection_path(project, client.api_version)
        if page_size is not None and not (_is_int(page_size) and 0 < page_size <= 1000):
            raise UsageError(f"page_size must be an integer from 1 to 1000, not {page_size!r}")
        if limit is not None and not (_is_int(limit) and limit >= 0):
            raise UsageError(f"limit must be a non-negative integer or None, not {limit!r}")
        if filter is not None and (not isinstance(filter, str) or not filter.isprintable()):
            raise UsageError("filter must be a string without line breaks or control characters")
        _check_timeout(timeout, DEFAULT_TIMEOUTS["list"])
        keep = _matcher(_states(state), _types(type))
        call = Call("list", project, client.api_version)
        query: dict[str, str] = {}
        if filter:
            query["filter"] = filter
        if page_size:
            query["pageSize"] = str(page_size)
        return self._pages(call, path, query, limit, keep, timeout, retry, trace_attributes)

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
    ) -> Iterator[Operation]:
        found = 0
        seen_tokens: set[str] = set()
        while limit is None or found < limit:
            response = self._client._send(
                call, "GET", path, query=query, timeout=timeout, retry=retry,
                attributes=attributes,
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
        name: str | OperationName | Operation,
        *,
        timeout: float = DEFAULT_TIMEOUTS["wait"],
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        retry: RetryPolicy | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
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
        op_name = client._name(name)
        seconds = _check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
        _check_poll(poll_interval, max_poll_interval)
        deadline = client._clock() + seconds
        delay = poll_interval
        use_wait = True
        last: Operation | None = None
        while True:
            started = client._clock()
            left = deadline - started
            if left <= 0:
                raise _wait_timeout(op_name, seconds, last)
            try:
                last, use_wait = self._wait_once(op_name, left, use_wait, retry, trace_attributes)
            except DeadlineExceededError as error:
                raise _wait_timeout(op_name, seconds, last) from error
            if last.done:
                return _finished(last)
            now = client._clock()
            if not use_wait or now - started < min(left, _MAX_SERVER_WAIT) / 2:
                # The server answered early (best effort): back off before asking again.
                client._sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, max_poll_interval)

    def _wait_once(
        self,
        name: OperationName,
        left: float,
        use_wait: bool,
        retry: RetryPolicy | None,
        attributes: Mapping[str, Any] | None,
    ) -> tuple[Operation, bool]:
        client = self._client
        if use_wait:
            # Ask the server to answer well before our own deadline, so its reply (and the
            # network) fits in the time left instead of racing the read timeout.
            server_wait = min(left - min(1.0, left / 10), _MAX_SERVER_WAIT)
            if server_wait < _MIN_SERVER_WAIT:
                # Too little time left to ask the server to hold: one last look instead.
                return self.get(name, timeout=left, retry=retry, trace_attributes=attributes), True
            try:
                response = client._send(
                    self._call("wait", name), "POST", name.path(client.api_version) + ":wait",
                    # Rounded down: "0.001s" for 0.0009 s left would ask for more than there is.
                    body={"timeout": f"{math.floor(server_wait * 1000) / 1000:.3f}s"},
                    timeout=left, retry=retry, attributes=attributes,
                )
                return Operation.from_wire(response.json()), True
            except UnimplementedError:
                pass  # this server or version lacks :wait: poll with get from now on
        op = self.get(name, timeout=left, retry=retry, trace_attributes=attributes)
        return op, False

    def cancel_many(
        self,
        names: Iterable[str | OperationName | Operation],
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
        targets = _names(self._client, names)
        if not _is_int(max_workers) or max_workers < 1:
            raise UsageError("max_workers must be a positive integer")
        _check_timeout(timeout, DEFAULT_TIMEOUTS["cancel"])

        def one(name: OperationName) -> CancelResult:
            result = self._cancel_result(name, timeout, retry)
            if on_result is not None:
                try:
                    on_result(result)
                except Exception:
                    logger.exception("cancel_many: on_result raised for %s", name)
            return result

        if not targets:
            return []
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(max_workers, len(targets)), "eemw-cancel") as pool:
            futures = [pool.submit(one, name) for name in targets]
            try:
                return [f.result() for f in futures]
            except BaseException:
                # Ctrl-C: stop what has not started; what already ran is reported by on_result.
                for f in futures:
                    f.cancel()
                raise

    def _cancel_result(
        self, name: OperationName, timeout: float | None, retry: RetryPolicy | None
    ) -> CancelResult:
        try:
            self.cancel(name, timeout=timeout, retry=retry)
        except FailedPreconditionError as error:
            return CancelResult(name.name, "already_done", error)
        except NotFoundError as error:
            return CancelResult(name.name, "not_found", error)
        except Exception as error:
            # Even a bug in a caller's own stage must not cost the other names their results.
            return CancelResult(name.name, "error", error)
        return CancelResult(name.name, "cancelled", None)

    def wait_many(
        self,
        names: Iterable[str | OperationName | Operation],
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
        client = self._client
        targets = _names(client, names)
        seconds = _check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
        _check_poll(poll_interval, max_poll_interval)
        deadline = client._clock() + seconds
        states = {t.name: _Waiting() for t in targets}
        delay = poll_interval
        while self._poll_round(states, deadline, on_update):
            left = deadline - client._clock()
            if left <= 0:
                break
            client._sleep(min(delay, left))
            delay = min(delay * 2, max_poll_interval)
        return [states[t.name].result(t.name) for t in targets]

    def _poll_round(
        self,
        states: dict[str, _Waiting],
        deadline: float,
        on_update: Callable[[Operation], object] | None,
    ) -> bool:
        """Get every unsettled operation once; False when none is left or time ran out."""
        clock = self._client._clock
        for name, state in states.items():
            if state.settled:
                continue
            left = deadline - clock()
            if left <= 0:
                return False
            try:
                state.operation = self.get(name, timeout=min(left, DEFAULT_TIMEOUTS["get"]))
                state.error = None
            except DeadlineExceededError:
                return False
            except EemwError as error:
                state.error = error
                state.final = _definitive(error)
                continue
            if on_update is not None:
                on_update(state.operation)
        return any(not s.settled for s in states.values())

    def _call(self, kind: CallKind, name: OperationName) -> Call:
        return Call(kind, name.project, self._client.api_version, name.name)


CancelOutcome = Literal["cancelled", "already_done", "not_found", "error"]


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The outcome of one cancel in :meth:`Operations.cancel_many`.

    ``outcome`` is ``"cancelled"`` (the server accepted the cancel), ``"already_done"``,
    ``"not_found"`` or ``"error"``; ``error`` is the error for all but the first (an
    :class:`~eemw.EemwError`, or whatever a caller's own stage raised).
    """

    name: str
    outcome: CancelOutcome
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the operation is cancelled or was already done."""
        return self.outcome in ("cancelled", "already_done")


@dataclass(frozen=True, slots=True)
class WaitResult:
    """What :meth:`Operations.wait_many` learned about one operation.

    ``operation`` is the last state seen (``None`` if no answer came); ``error`` the error
    of the last request for it, when that failed.
    """

    name: str
    operation: Operation | None
    error: EemwError | None = None

    @property
    def done(self) -> bool:
        """True when the operation finished (succeeded, failed or cancelled)."""
        return self.operation is not None and self.operation.done


class _Waiting:
    """Mutable per-operation bookkeeping inside one ``wait_many`` call (never shared)."""

    __slots__ = ("error", "final", "operation")

    def __init__(self) -> None:
        self.operation: Operation | None = None
        self.error: EemwError | None = None
        self.final = False

    @property
    def settled(self) -> bool:
        return self.final or (self.operation is not None and self.operation.done)

    def result(self, name: str) -> WaitResult:
        return WaitResult(name, self.operation, self.error)


def _definitive(error: EemwError) -> bool:
    # Asking again will not change a 4xx other than throttling or an expired token.
    return isinstance(error, ApiError) and 400 <= error.http_status < 500 and (
        error.http_status not in (401, 408, 429)
    )


def _names(
    client: Client, names: Iterable[str | OperationName | Operation]
) -> builtins.list[OperationName]:
    if isinstance(names, (str, bytes, OperationName, Operation)):
        raise UsageError("names must be a list of operation names, not a single name")
    if not isinstance(names, Iterable):
        raise UsageError(f"names must be a list of operation names, not {type(names).__name__}")
    return [client._name(n) for n in names]


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


def _states(state: State | str | Iterable[State | str] | None) -> frozenset[State] | None:
    if state is None:
        return None
    items = [state] if isinstance(state, (str, State)) else _iterable("state", state)
    out = set()
    for item in items:
        try:
            out.add(State(item))
        except (ValueError, TypeError):
            raise UsageError(
                f"unknown state {item!r}: use one of {[s.value for s in State]}"
            ) from None
    return frozenset(out)


def _types(kind: str | Iterable[str] | None) -> frozenset[str] | None:
    if kind is None:
        return None
    kinds = [kind] if isinstance(kind, str) else _iterable("type", kind)
    if not all(isinstance(k, str) for k in kinds):
        raise UsageError(f"type must be a task type string or a list of them, not {kind!r}")
    return frozenset(kinds)


def _iterable(what: str, value: object) -> list[Any]:
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        return list(value)
    raise UsageError(f"{what} must be a string or a list of strings, not {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _matcher(
    states: frozenset[State] | None, types: frozenset[str] | None
) -> Callable[[Operation], bool]:
    def keep(op: Operation) -> bool:
        if states is not None and op.state not in states:
            return False
        return types is None or op.metadata.type in types

    return keep


def _check_timeout(timeout: float | None, default: float) -> float:
    if timeout is None:
        return default
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (0 < timeout <= _MAX_TIMEOUT):
        raise UsageError(
            f"timeout must be a number of seconds above 0 and at most {_MAX_TIMEOUT:g} "
            f"(ten days, as long as a task lives), not {timeout!r}"
        )
    return float(timeout)


def _check_poll(poll_interval: object, max_poll_interval: object) -> None:
    for value in (poll_interval, max_poll_interval):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError("poll_interval and max_poll_interval must be numbers of seconds")
    assert isinstance(poll_interval, (int, float)) and isinstance(max_poll_interval, (int, float))
    if not (0 < poll_interval <= max_poll_interval <= _MAX_TIMEOUT):
        raise UsageError("poll_interval must be > 0 and <= max_poll_interval")


def _check_endpoint(endpoint: str) -> str:
    if not isinstance(endpoint, str):
        raise UsageError(f"endpoint must be a string URL, not {type(endpoint).__name__}")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:
        raise UsageError(f"endpoint is not a valid URL: {endpoint!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"endpoint must be an http(s) URL, not {endpoint!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("endpoint must not carry credentials, a query or a fragment")
    if parts.path not in ("", "/"):
        raise UsageError(f"endpoint must be a scheme and host only, not {endpoint!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _header_value(what: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or not set(value) <= _HEADER_SAFE:
        raise InvalidHeaderError(
            f"{what} must be non-empty printable ASCII without line breaks or control characters"
        )
    return value


def _base_headers(user_agent: str | None) -> Headers:
    product = f"eemw/{__version__} python/{platform.python_version()}"
    extra = _header_value("user_agent", user_agent)
    agent = product if extra is None else f"{extra} {product}"
    return Headers({
        "User-Agent": agent,
        "X-Goog-Api-Client": product,
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
    })


def _credentials(
    credentials: ga_credentials.Credentials | None,
) -> tuple[ga_credentials.Credentials, str | None]:
    if credentials is not None:
        from google.auth.credentials import Credentials

        if not isinstance(credentials, Credentials):
            raise UsageError(
                f"credentials must be google-auth credentials, not {type(credentials).__name__}"
            )
        return credentials, getattr(credentials, "project_id", None)
    return default_credentials()


def default_credentials() -> tuple[ga_credentials.Credentials, str | None]:
    """``google.auth.default()`` with the Earth Engine scope, and the project it names.

    Raises :class:`UsageError` (its ``__cause__`` google-auth's error) when none are found.
    """
    import google.auth
    from google.auth import exceptions

    try:
        found, project = google.auth.default(scopes=[EARTHENGINE_SCOPE])
    except exceptions.DefaultCredentialsError as exc:
        raise UsageError(
            "no credentials given and none found by google.auth.default(): pass "
            "credentials=..., or run 'gcloud auth application-default login'"
        ) from exc
    return found, project


class _LazyRefreshRequest:
    """Token refreshes for a transport that has no session of its own (e.g. MockTransport).

    One requests-based transport is made on the first refresh and reused after, so a client
    does not open a new connection pool per refresh.
    """

    def __init__(self) -> None:
        self._request: Any = None

    def __call__(self) -> Any:
        if self._request is None:
            from ._transport import RequestsTransport

            self._request = RequestsTransport().google_auth_request()
        return self._request
