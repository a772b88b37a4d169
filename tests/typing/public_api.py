"""Static checks of the public API, run by `mypy --strict tests/typing` in `make test`.

Not collected by pytest: it is never executed. Every `assert_type` pins a type users rely
on, and every `# type: ignore[code]` pins a misuse that must stay a type error (mypy's
warn_unused_ignores, on under --strict, fails the build if one stops being an error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from google.auth.credentials import AnonymousCredentials, Credentials
from typing_extensions import assert_type

import eemw
from eemw.testing import FakeClock, MockTransport, google_error, operation_json, respond


def handler(request: eemw.Request) -> eemw.Response:
    return respond(request, json={"name": request.call.name})


def stamp(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    return call_next(request.with_header("X-Source", "typing"))


def usage() -> None:
    client = eemw.Client(
        "demo",
        transport=MockTransport(handler),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        retry=eemw.RetryPolicy(max_attempts=3),
        middleware=[eemw.Entry("stamp", stamp, "attempt", after="auth")],
    )
    op = client.operations.get("ABC", timeout=5.0)
    assert_type(op, eemw.Operation)
    assert_type(op.state, eemw.State)
    assert_type(op.done, bool)
    assert_type(op.metadata.create_time, datetime | None)
    assert_type(op.error, eemw.Status | None)
    assert_type(client.operations.list(state="RUNNING"), Iterator[eemw.Operation])
    assert_type(client.operations.cancel(op), eemw.CancelResult)
    assert_type(client.operations.delete(op), eemw.DeleteResult)
    assert_type(client.operations.cancel(op).reconciled, bool)
    assert_type(client.operations.cancel_many(["A", "B"]), list[eemw.CancelResult])
    assert_type(client.operations.wait_many(["A"]), list[eemw.WaitResult])
    assert_type(client.stack, eemw.Stack)
    assert_type(client.pipeline, eemw.Pipeline)
    assert_type(client.credentials, Credentials | None)

    key: eemw.ContextKey[int] = eemw.ContextKey("my.key", 0)
    request = client.stack.entries[0]
    assert_type(request, eemw.Entry)
    assert_type(eemw.Context().set(key, 3).get(key), int)

    # A plugin's own key, set per call; eemw's keys from their module, typed.
    tenant: eemw.ContextKey[str] = eemw.ContextKey("acme.tenant", "")
    client.operations.get("ABC", context={tenant: "acme"})
    client.operations.cancel("ABC", context=eemw.Context().set(tenant, "acme"))
    assert_type(eemw.Context().get(eemw.keys.CLOCK), Callable[[], float])
    assert_type(eemw.Context().get(eemw.keys.DEADLINE), float | None)
    options: eemw.CallOptions = {"timeout": 5.0, "context": {tenant: "acme"}}
    assert_type(options.get("timeout"), float | None)

    # Stages replaced, removed, and plain functions; a fake timeline wires the sleep.
    eemw.Client(
        "demo", transport=MockTransport(), middleware=[stamp], clock=FakeClock(),
        replace={"retry": stamp}, without=["tracing", "http-tracing"],
    )
    mock = MockTransport()
    mock.route("get", "ABC").respond(operation_json("ABC"), google_error(503))
    assert_type(mock.requests[0].path, str)
    assert_type(mock.requests[0].body, bytes)
    error: type[eemw.errors.NotFoundError] = eemw.NotFoundError
    assert_type(eemw.middleware.Retry, type[eemw.middleware.Retry])
    del error

    # Misuses that must stay type errors.
    op.done = True  # type: ignore[misc]
    client.operations.get(42)  # type: ignore[arg-type]
    client.operations.list(page_size="10")  # type: ignore[arg-type]
    eemw.Context().set(key, "three")  # type: ignore[misc]
    eemw.RetryPolicy(max_attempts="5")  # type: ignore[arg-type]
    eemw.Entry("x", stamp, "sometimes")  # type: ignore[arg-type]
    client.operations.get("ABC", context=42)  # type: ignore[arg-type]
    eemw.Client(replace={"retry": 42})  # type: ignore[dict-item]
    eemw.Client(clock="now")  # type: ignore[arg-type]
