"""The idempotency stage alone, composed with retry, and in the default client."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw import (
    Call,
    Context,
    Headers,
    InvalidHeaderError,
    Request,
    Response,
    RetryPolicy,
    UsageError,
)
from eemw._errors import mark_exhausted
from eemw.keys import IDEMPOTENCY_KEY
from eemw.middleware import Idempotency, Retry
from eemw.middleware.idempotency import KEY_HONOURED
from eemw.testing import FakeClock as FakeTime
from eemw.testing import MockTransport, respond

NAME = "projects/demo/operations/op-1"
OTHER = "projects/demo/operations/op-2"


def make_request(kind: eemw.CallKind = "cancel", name: str = NAME,
                 key: str | None = None) -> Request:
    context = Context() if key is None else Context().set(IDEMPOTENCY_KEY, key)
    call = Call(kind, "demo", "v1", None if kind == "list" else name)
    return Request("POST", f"https://ee.test/v1/{name}:{kind}", Headers(), call, None, None,
                   context)


def empty_ok(request: Request) -> Response:
    return respond(request, json={})


def not_found(request: Request) -> Response:
    raise eemw.NotFoundError("gone", http_status=404, rpc_status="NOT_FOUND",
                             operation=request.call.name, call=request.call.label)


def unavailable_error() -> eemw.UnavailableError:
    return eemw.UnavailableError("down", http_status=503, rpc_status="UNAVAILABLE")


def flaky(failures: int, *, wire: bool = False) -> MockTransport:
    """A transport that fails with 503 ``failures`` times, then answers ``{}``.

    ``wire``: answer a 503 response (for stacks with the check stage) instead of raising
    the error the check stage would raise.
    """
    left = [failures]

    def handler(request: Request) -> Response:
        if left[0] > 0:
            left[0] -= 1
            if wire:
                return respond(request, 503, json={"error": {
                    "code": 503, "status": "UNAVAILABLE", "message": "down"}})
            raise unavailable_error()
        return empty_ok(request)

    return MockTransport(handler)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


# --- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cancel", "delete"])
def test_mutating_calls_get_a_fresh_uuid4_key(kind: eemw.CallKind) -> None:
    stage, transport = Idempotency(), MockTransport(empty_ok)
    stage(make_request(kind), transport)
    stage(make_request(kind), transport)
    first, second = (r.headers["Idempotency-Key"] for r in transport.requests)
    assert uuid.UUID(first).version == 4 and uuid.UUID(second).version == 4
    assert first != second
    assert transport.requests[0].context.get(IDEMPOTENCY_KEY) == first  # retry can see it


@pytest.mark.parametrize("kind", ["get", "list", "wait"])
def test_reads_get_no_key(kind: eemw.CallKind) -> None:
    transport = MockTransport(empty_ok)
    Idempotency()(make_request(kind), transport)
    (sent,) = transport.requests
    assert "Idempotency-Key" not in sent.headers
    assert sent.context.get(IDEMPOTENCY_KEY) is None


def test_header_name_is_configurable() -> None:
    transport = MockTransport(empty_ok)
    Idempotency(header="X-Request-Id")(make_request("delete"), transport)
    (sent,) = transport.requests
    assert "Idempotency-Key" not in sent.headers
    assert uuid.UUID(sent.headers["x-request-id"])


@pytest.mark.parametrize("header", ["", "Bad Header", "Key:", "Idem\npotency", "Idémpotency"])
def test_bad_header_names_are_usage_errors(header: str) -> None:
    with pytest.raises(UsageError, match="header"):
        Idempotency(header=header)


@pytest.mark.parametrize(("setting", "value"), [("cache_size", -1), ("cache_size", 1.5),
                                                 ("ttl", 0), ("ttl", float("inf")),
                                                 ("cache_bytes", 10), ("cache_bytes", True)])
def test_bad_cache_settings_are_usage_errors(setting: str, value: Any) -> None:
    with pytest.raises(UsageError):
        Idempotency(**{setting: value})


def test_the_callers_key_is_sent_unchanged() -> None:
    transport = MockTransport(empty_ok)
    Idempotency()(make_request("cancel", key="order-42/cancel"), transport)
    assert transport.requests[0].headers["Idempotency-Key"] == "order-42/cancel"


@pytest.mark.parametrize(
    "key",
    ["", " ", "has space", "line\nbreak", "tab\t", "nul\x00", "esc\x1b[0m", "caf\u00e9",
     "x" * 256, 42],
)
def test_invalid_keys_fail_before_any_io(key: Any) -> None:
    transport = MockTransport(empty_ok)
    with pytest.raises(InvalidHeaderError):
        Idempotency()(make_request("delete", key=key), transport)
    assert transport.requests == []


def test_longest_valid_key_is_accepted() -> None:
    transport = MockTransport(empty_ok)
    key = "!" + "~" * 253 + "a"
    Idempotency()(make_request("delete", key=key), transport)
    assert transport.requests[0].headers["Idempotency-Key"] == key


# --- one key for every attempt -------------------------------------------------------------


def composed(fake: FakeTime, transport: MockTransport, stage: Idempotency | None = None
             ) -> Callable[[Request], Response]:
    """Idempotency above Retry above the transport, as in the default stack."""
    retry = Retry(RetryPolicy(max_attempts=5), clock=fake, sleep=fake.sleep, random=lambda: 0.5)
    idem = stage or Idempotency(clock=fake)
    return lambda request: idem(request, lambda r: retry(r, transport))


@pytest.mark.parametrize("own", [None, "caller-key-1"])
def test_every_retry_attempt_carries_the_same_key(fake: FakeTime, own: str | None) -> None:
    transport = flaky(2)
    response = composed(fake, transport)(make_request("cancel", key=own))
    assert response.status == 200
    keys = [r.headers["Idempotency-Key"] for r in transport.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert own is None or keys[0] == own
    assert len(fake.sleeps) == 2


def test_delete_read_errors_are_retried_under_one_generated_key(fake: FakeTime) -> None:
    # Retried because delete reconciles a "not found" answer, not because of the key.
    outcomes: list[Exception] = [eemw.ReadError("reset after sending")]

    def handler(request: Request) -> Response:
        if outcomes:
            raise outcomes.pop()
        return empty_ok(request)

    transport = MockTransport(handler)
    composed(fake, transport)(make_request("delete"))
    assert len(transport.requests) == 2
    assert len({r.headers["Idempotency-Key"] for r in transport.requests}) == 1


def seen_context(stage: Idempotency, request: Request) -> Context:
    seen: list[Request] = []
    stage(request, lambda r: seen.append(r) or empty_ok(r))  # type: ignore[func-returns-value]
    return seen[0].context


def test_only_a_trusted_key_is_marked_honoured(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake)
    assert seen_context(stage, make_request("cancel", key="mine")).get(KEY_HONOURED)
    generated = seen_context(stage, make_request("cancel"))
    assert generated.get(IDEMPOTENCY_KEY) is not None  # sent, and visible to plugins
    assert not generated.get(KEY_HONOURED)  # but it does not make a re-send safe


def test_a_client_told_its_server_honours_keys_trusts_generated_ones(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake, server_honours_keys=True)
    assert seen_context(stage, make_request("cancel")).get(KEY_HONOURED)
    with pytest.raises(UsageError):
        Idempotency(server_honours_keys="yes")  # type: ignore[arg-type]


def test_an_unsafe_call_with_a_generated_key_is_not_resent_after_a_read_error(
    fake: FakeTime,
) -> None:
    create = Call("projects.table.export", "demo", "v1", resource="earthengine")
    request = Request("POST", "https://ee.test/v1/projects/demo/table:export", Headers(), create)
    for honours, sent in ((False, 1), (True, 2)):
        outcomes: list[Exception] = [eemw.ReadError("reset after sending")]

        def handler(r: Request, outcomes: list[Exception] = outcomes) -> Response:
            if outcomes:
                raise outcomes.pop()
            return empty_ok(r)

        transport = MockTransport(handler)
        stage = Idempotency(clock=fake, server_honours_keys=honours)
        try:
            composed(fake, transport, stage)(request)
        except eemw.ReadError as error:
            assert error.maybe_applied and not honours
        assert len(transport.requests) == sent


# --- the replay cache -----------------------------------------------------------------------


def big_ok(size: int) -> Callable[[Request], Response]:
    return lambda request: respond(request, body=b"{" + b" " * size + b"}")


def test_the_cache_is_bounded_in_bytes(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake, cache_bytes=1024 * 1024)
    transport = MockTransport(big_ok(100 * 1024))
    for i in range(30):
        stage(make_request("cancel", name=f"projects/demo/operations/op-{i}", key=f"k{i}"),
              transport)
    assert 0 < stage.cached_bytes <= 1024 * 1024
    # The newest outcomes are still replayed; the oldest made room for them.
    stage(make_request("cancel", name="projects/demo/operations/op-29", key="k29"), transport)
    assert len(transport.requests) == 30
    stage(make_request("cancel", name="projects/demo/operations/op-0", key="k0"), transport)
    assert len(transport.requests) == 31


def test_an_outcome_too_big_for_the_cache_is_not_kept(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake, cache_bytes=1024 * 1024)
    transport = MockTransport(big_ok(8 * 1024 * 1024))
    for _ in range(2):
        stage(make_request("cancel", key="huge"), transport)
    assert len(transport.requests) == 2
    assert stage.cached_bytes == 0


def test_an_error_after_an_attempt_that_may_have_acted_is_not_replayed(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake)

    def refused_after_a_lost_answer(request: Request) -> Response:
        error = eemw.FailedPreconditionError(
            "done", http_status=400, rpc_status="FAILED_PRECONDITION")
        error.maybe_applied = True  # the retry stage saw a lost answer first
        raise error

    transport = MockTransport(refused_after_a_lost_answer)
    for _ in range(2):
        with pytest.raises(eemw.FailedPreconditionError):
            stage(make_request("cancel", key="k1"), transport)
    assert len(transport.requests) == 2



def test_same_key_within_ttl_replays_without_a_request(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake, ttl=60), MockTransport(
        lambda r: respond(r, json={"n": 1})
    )
    first = stage(make_request("cancel", key="k1"), transport)
    fake.now += 59
    again = make_request("cancel", key="k1")
    replayed = stage(again, transport)
    assert len(transport.requests) == 1
    assert (replayed.status, replayed.json()) == (first.status, first.json())
    assert replayed.request is again


def test_after_the_ttl_the_key_goes_to_the_server_again(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake, ttl=60), MockTransport(empty_ok)
    stage(make_request("delete", key="k1"), transport)
    fake.now += 61
    stage(make_request("delete", key="k1"), transport)
    assert len(transport.requests) == 2


def test_a_key_reused_for_another_call_is_a_usage_error(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake), MockTransport(empty_ok)
    stage(make_request("cancel", NAME, key="k1"), transport)
    for kind, name in [("cancel", OTHER), ("delete", NAME)]:
        with pytest.raises(UsageError, match=f"already used for operations.cancel {NAME}"):
            stage(make_request(kind, name, key="k1"), transport)  # type: ignore[arg-type]
    assert len(transport.requests) == 1


def test_definitive_errors_are_replayed(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake), MockTransport(not_found)
    errors = []
    for _ in range(2):
        with pytest.raises(eemw.NotFoundError) as info:
            stage(make_request("delete", key="k1"), transport)
        errors.append(info.value)
    assert len(transport.requests) == 1
    assert str(errors[0]) == str(errors[1])
    assert (errors[1].http_status, errors[1].operation) == (404, NAME)


@pytest.mark.parametrize(
    "error",
    [
        unavailable_error(),
        eemw.ResourceExhaustedError("slow", http_status=429, rpc_status="RESOURCE_EXHAUSTED"),
        eemw.PermissionDeniedError("no", http_status=403, rpc_status="PERMISSION_DENIED"),
        eemw.UnauthenticatedError("no", http_status=401, rpc_status="UNAUTHENTICATED"),
        eemw.ConnectError("refused"),
    ],
    ids=["503", "429", "403", "401", "connect"],
)
def test_outcomes_that_may_change_are_not_replayed(
    fake: FakeTime, error: eemw.EemwError
) -> None:
    def fail(request: Request) -> Response:
        raise error

    stage, transport = Idempotency(clock=fake), MockTransport(fail)
    for _ in range(2):
        with pytest.raises(type(error)):
            stage(make_request("cancel", key="k1"), transport)
    assert len(transport.requests) == 2


def test_generated_keys_are_not_cached(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake), MockTransport(empty_ok)
    stage(make_request("cancel"), transport)
    stage(make_request("cancel"), transport)
    assert len(transport.requests) == 2


def test_the_cache_is_bounded(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake, cache_size=2), MockTransport(empty_ok)
    for key in ("a", "b", "c", "c", "b"):
        stage(make_request("cancel", key=key), transport)
    assert len(transport.requests) == 3
    stage(make_request("cancel", key="a"), transport)  # evicted: sent again
    assert len(transport.requests) == 4


def test_cache_size_zero_turns_replay_off(fake: FakeTime) -> None:
    stage, transport = Idempotency(clock=fake, cache_size=0), MockTransport(empty_ok)
    for _ in range(2):
        stage(make_request("cancel", key="k1"), transport)
    assert [r.headers["Idempotency-Key"] for r in transport.requests] == ["k1", "k1"]


def test_replays_are_thread_safe(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake, cache_size=64)
    names = [f"projects/demo/operations/op-{i}" for i in range(32)]
    record = MockTransport(lambda r: respond(r, json={"for": r.call.name}))
    for i, name in enumerate(names):
        stage(make_request("cancel", name, key=f"key-{i}"), record)

    def refuse(request: Request) -> Response:
        raise AssertionError("a replay reached the transport")

    def replay(i: int) -> Any:
        name = names[i % len(names)]
        return name, stage(make_request("cancel", name, key=f"key-{i % len(names)}"),
                           refuse).json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(replay, range(2000)))
    assert all(data == {"for": name} for name, data in results)
    assert len(record.requests) == len(names)


def test_concurrent_first_use_of_new_keys_records_each_once(fake: FakeTime) -> None:
    stage = Idempotency(clock=fake, cache_size=10_000)
    lock, sent = threading.Lock(), set()

    def handler(request: Request) -> Response:
        with lock:
            sent.add(request.headers["Idempotency-Key"])
        return empty_ok(request)

    transport = MockTransport(handler)

    def call(i: int) -> None:
        stage(make_request("delete", f"projects/demo/operations/op-{i}", key=f"k{i}"), transport)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(500)))
    assert len(sent) == 500
    for i in range(500):  # every outcome was recorded: none goes to the server again
        call(i)
    assert len(transport.requests) == 500


# --- in the default client -------------------------------------------------------------------


def make_client(fake: FakeTime, transport: MockTransport, **kwargs: Any) -> eemw.Client:
    return eemw.Client("demo", transport=transport,
                       credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                       clock=fake, sleep=fake.sleep, random=lambda: 0.5, **kwargs)


def test_client_cancel_retried_twice_sends_one_key_three_times(fake: FakeTime) -> None:
    transport = flaky(2, wire=True)
    make_client(fake, transport).operations.cancel(NAME)
    keys = [r.headers.get("Idempotency-Key") for r in transport.requests]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0] is not None
    assert uuid.UUID(keys[0]).version == 4
    assert [r.method for r in transport.requests] == ["POST"] * 3


def test_client_delete_with_own_key_replays_the_second_time(fake: FakeTime) -> None:
    transport = MockTransport(empty_ok)
    client = make_client(fake, transport, idempotency_header="X-Idem", replay_ttl=30)
    client.operations.delete(NAME, idempotency_key="delete-op-1")
    client.operations.delete(NAME, idempotency_key="delete-op-1")
    assert len(transport.requests) == 1
    assert transport.requests[0].headers["X-Idem"] == "delete-op-1"
    fake.now += 31
    client.operations.delete(NAME, idempotency_key="delete-op-1")
    assert len(transport.requests) == 2


def test_client_rejects_a_bad_key_before_any_io(fake: FakeTime) -> None:
    transport = MockTransport(empty_ok)
    with pytest.raises(InvalidHeaderError):
        make_client(fake, transport).operations.cancel(NAME, idempotency_key="bad key\r\n")
    assert transport.requests == []


def test_client_get_sends_no_key(fake: FakeTime) -> None:
    transport = MockTransport(lambda r: respond(r, json={"name": NAME}))
    make_client(fake, transport).operations.get(NAME)
    assert "Idempotency-Key" not in transport.requests[0].headers


def test_a_replayed_error_keeps_its_own_class_and_facts(fake: FakeTime) -> None:
    # A caller's policy may retry a 400; the error that ends it carries the marker.
    stage = Idempotency(clock=fake)

    def refused(request: Request) -> Response:
        error = eemw.FailedPreconditionError(
            "done", http_status=400, rpc_status="FAILED_PRECONDITION", retry_after=3.0)
        raise mark_exhausted(error, "attempts", "done; gave up after 2 attempt(s)")

    transport = MockTransport(refused)
    for _ in range(2):
        with pytest.raises(eemw.FailedPreconditionError) as info:
            stage(make_request("cancel", key="k1"), transport)
    assert len(transport.requests) == 1  # the second was replayed
    assert info.value.retry_after == 3.0
