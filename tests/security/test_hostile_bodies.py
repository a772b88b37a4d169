"""Hostile server answers (property-based): any status, headers and bytes the server sends
become either a parsed value or a typed :class:`eemw.EemwError`, never another exception,
and never a hang.

The transport answers with whatever hypothesis draws: random bytes, truncated or deeply
nested JSON, error envelopes and operations whose every field has the wrong type, any
status, content type and ``Retry-After``. Every call kind runs through the full default
stack (retries included, on an injected clock), so the check stage, the retry stage, the
idempotency stage and the Operation parser all meet the same input. A transport that is
called more often than a bounded call could need fails the example instead of hanging.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import eemw
from eemw.middleware.check import same_operation
from eemw.testing import MockTransport, respond

MAX_ATTEMPTS = 3
WAIT_TIMEOUT = 30.0
# wait polls (doubling from 1 s) until its timeout; every other call makes <= MAX_ATTEMPTS.
MAX_REQUESTS = 64


class Clock:
    """Time that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@st.composite
def json_values(draw: st.DrawFn) -> Any:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
        st.sampled_from(["", "2024-13-45T25:61:61Z", "1e999s", "-1s", "NaN", "\x1b[31m"]),
    )
    return draw(st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=12,
    ))


@st.composite
def shaped(draw: st.DrawFn) -> Any:
    """JSON shaped like what the API sends, with hostile values in every field."""
    value = json_values()
    kind = draw(st.sampled_from(["error", "operation", "page", "any"]))
    if kind == "error":
        return {"error": draw(st.fixed_dictionaries({}, optional={
            "code": value, "message": value, "status": st.one_of(
                value, st.sampled_from(["NOT_FOUND", "UNAVAILABLE", "CANCELLED", "nope"])),
            "details": st.one_of(value, st.lists(st.fixed_dictionaries({}, optional={
                "@type": st.sampled_from([
                    "type.googleapis.com/google.rpc.RetryInfo",
                    "type.googleapis.com/google.rpc.ErrorInfo",
                    "type.googleapis.com/google.rpc.QuotaFailure",
                ]),
                "retryDelay": st.one_of(value, st.sampled_from(["2.5s", "1e400s", "-3s"])),
                "reason": value, "metadata": value,
            }), max_size=3)),
        }))}
    if kind == "operation":
        return draw(st.fixed_dictionaries({}, optional={
            "done": value, "metadata": st.one_of(value, st.fixed_dictionaries({}, optional={
                "state": value, "createTime": value, "progress": value, "stages": value,
                "priority": value, "attempt": value, "notifications": value,
            })),
            "error": value, "response": value,
        }))
    if kind == "page":
        return draw(st.fixed_dictionaries({}, optional={
            "operations": st.one_of(value, st.lists(st.one_of(
                value, st.fixed_dictionaries({"name": st.one_of(
                    value, st.just("projects/demo/operations/x"))}),
            ), max_size=3)),
        }))
    return draw(value)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A body, and whether an object body should carry the operation name asked for."""
    form = draw(st.sampled_from(["bytes", "json", "truncated", "nested"]))
    if form == "bytes":
        return draw(st.binary(max_size=200)), False
    if form == "nested":
        depth = draw(st.integers(1, 100_000))
        return b"[" * depth + b"]" * draw(st.integers(0, depth)), False
    encoded = json.dumps(draw(shaped()), allow_nan=True).encode()
    if form == "truncated":
        return encoded[: draw(st.integers(0, max(0, len(encoded) - 1)))], False
    return encoded, draw(st.booleans())


STATUSES = st.one_of(
    st.sampled_from([200, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504]),
    st.integers(100, 599),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from([
        "application/json", "application/json; charset=utf-8", "text/html", "text/plain",
        "", "APPLICATION/JSON", "application/problem+json",
    ]),
    st.text(max_size=30),
)
RETRY_AFTER = st.one_of(
    st.none(),
    st.sampled_from(["0", "1", "-1", "1e309", "99999999999", "nan", "inf",
                     "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"]),
    st.text(max_size=20),
)


def hostile_server(
    status: int, content_type: str, retry_after: str | None, body: bytes, add_name: bool
) -> MockTransport:
    def handler(request: eemw.Request) -> eemw.Response:
        if len(transport.requests) > MAX_REQUESTS:
            raise AssertionError("the client keeps calling: it would hang")
        payload = body
        if add_name:
            data = json.loads(body)
            if isinstance(data, dict):
                payload = json.dumps({**data, "name": request.call.name}).encode()
        headers = {"Content-Type": content_type}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return eemw.Response(status, eemw.Headers(headers), payload, request)

    transport = MockTransport(handler)
    return transport


def call(kind: str, transport: MockTransport) -> Any:
    clock = Clock()
    client = eemw.Client(
        "demo", transport=transport, credentials=AnonymousCredentials(), clock=clock,
        sleep=clock.sleep, retry=eemw.RetryPolicy(max_attempts=MAX_ATTEMPTS),
    )
    ops = client.operations
    if kind == "list":
        return list(ops.list())
    if kind == "wait":
        return ops.wait("op-1", timeout=WAIT_TIMEOUT)
    return getattr(ops, kind)("op-1")


@pytest.mark.parametrize("kind", ["get", "cancel", "delete", "list", "wait"])
@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(status=STATUSES, content_type=CONTENT_TYPES, retry_after=RETRY_AFTER, body=bodies())
@example(status=200, content_type="application/json", retry_after=None,
         body=(b"[" * 100_000, False))
@example(status=503, content_type="text/html", retry_after="1e309",
         body=(b"<html><script>alert(1)</script>\x1b[2J", False))
@example(status=200, content_type="application/json", retry_after=None,
         body=(b'{"metadata": {"progress": "1e999", "createTime": "9999-12-31T23:59:60Z"}}', True))
def test_any_answer_is_a_value_or_a_typed_error(
    kind: str, status: int, content_type: str, retry_after: str | None,
    body: tuple[bytes, bool],
) -> None:
    transport = hostile_server(status, content_type, retry_after, *body)
    try:
        value = call(kind, transport)
    except eemw.EemwError as error:
        str(error)  # the message itself must be buildable
        return
    assert 200 <= status < 300, "only a 2xx answer may become a value"
    if kind in ("get", "wait"):
        asked = "projects/demo/operations/op-1"
        # The same operation under the project's number is the same operation.
        assert isinstance(value, eemw.Operation)
        assert value.name == asked or same_operation(value.name, asked)
    elif kind == "list":
        assert all(isinstance(op, eemw.Operation) for op in value)
    elif kind == "cancel":
        assert isinstance(value, eemw.CancelResult) and value.outcome == "cancelled"
    else:
        assert isinstance(value, eemw.DeleteResult)


def test_a_repeated_page_token_ends_the_listing_with_a_typed_error() -> None:
    def same_page_forever(request: eemw.Request) -> eemw.Response:
        if len(transport.requests) > MAX_REQUESTS:
            raise AssertionError("list() kept fetching the same page: it would never end")
        return respond(request, json={"nextPageToken": "again"})

    transport = MockTransport(same_page_forever)
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    with pytest.raises(eemw.MalformedResponseError, match="repeated a page token"):
        list(client.operations.list())
    assert len(transport.requests) == 2
