"""Static checks of the public API, run by `mypy --strict tests/typing` in `make test`.

Not collected by pytest: it is never executed. Every `assert_type` pins a type users rely
on, and every `# type: ignore[code]` pins a misuse that must stay a type error (mypy's
warn_unused_ignores, on under --strict, fails the build if one stops being an error).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from google.auth.credentials import AnonymousCredentials
from typing_extensions import assert_type

import eemw
from eemw.testing import MockTransport, respond


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
    assert_type(client.stack, eemw.Pipeline)

    key: eemw.ContextKey[int] = eemw.ContextKey("my.key", 0)
    request = client.stack.entries[0]
    assert_type(request, eemw.Entry)
    assert_type(eemw.Context().set(key, 3).get(key), int)

    # Misuses that must stay type errors.
    op.done = True  # type: ignore[misc]
    client.operations.get(42)  # type: ignore[arg-type]
    client.operations.list(page_size="10")  # type: ignore[arg-type]
    eemw.Context().set(key, "three")  # type: ignore[misc]
    eemw.RetryPolicy(max_attempts="5")  # type: ignore[arg-type]
    eemw.Entry("x", stamp, "sometimes")  # type: ignore[arg-type]
