"""The retry stage alone (direct calls, MockTransport) and composed in the default client."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw import (
    ApiError,
    Call,
    ConnectError,
    Context,
    DeadlineExceededError,
    Headers,
    MalformedResponseError,
    ReadError,
    Request,
    Response,
    RetryBudget,
    RetryExhaustedError,
    RetryPolicy,
    UsageError,
)
from eemw._errors import api_error_class, rpc_code_for_status
from eemw._metrics import Metrics
from eemw.keys import ATTEMPT, DEADLINE, IDEMPOTENCY_KEY, RETRY_POLICY
from eemw.middleware import Check, Retry, RetryState
from eemw.middleware.idempotency import KEY_HONOURED
from eemw.middleware.retry import decide
from eemw.testing import FakeClock, MockTransport, respond

NAME = "projects/demo/operations/op-1"


class FakeTime(FakeClock):
    """eemw's fake clock, starting well away from zero."""

    def __init__(self, now: float = 1000.0) -> None:
        super().__init__(now)


def make_call(kind: eemw.CallKind = "get") -> Call:
    return Call(kind, "demo", "v1", None if kind == "list" else NAME)


def make_request(
    kind: eemw.CallKind = "get",
    *,
    deadline: float | None = None,
    key: str | None = None,
    honoured: bool = True,
    policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Request:
    context = Context()
    if deadline is not None:
        context = context.set(DEADLINE, deadline)
    if key is not None:
        context = context.set(IDEMPOTENCY_KEY, key).set(KEY_HONOURED, honoured)
    if policy is not None:
        context = context.set(RETRY_POLICY, policy)
    return Request("GET", "https://ee.test/v1/" + NAME, Headers(), make_call(kind), None,
                   timeout, context)


def api_error(status: int, retry_after: float | None = None) -> ApiError:
    rpc = rpc_code_for_status(status)
    return api_error_class(rpc)("boom", http_status=status, rpc_status=rpc, retry_after=retry_after)


def ok(request: Request) -> Response:
    return Response(200, Headers(), b"{}", request)


def script(*outcomes: BaseException | None, then_ok: bool = True) -> Callable[[Request], Response]:
    """A ``call_next`` that raises each outcome in turn (``None``: answer 200)."""
    queue = list(outcomes)

    def call_next(request: Request) -> Response:
        if queue:
            outcome = queue.pop(0)
            if outcome is not None:
                raise outcome
            return ok(request)
        if then_ok:
            return ok(request)
        raise api_error(503)

    return call_next


def make_retry(fake: FakeTime, policy: RetryPolicy | None = None, *, jitter: float = 0.5,
               budget: RetryBudget | None = None, metrics: Metrics | None = None) -> Retry:
    return Retry(policy, budget=budget, clock=fake, sleep=fake.sleep, random=lambda: jitter,
                 metrics=metrics)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


# --- decide(): the pure transition -----------------------------------------------------

POLICY = RetryPolicy(initial_backoff=1.0, multiplier=2.0, max_backoff=5.0, max_attempts=6,
                     max_retry_after=10.0)

# (error, call kind, has key, attempts so far, time left, jitter) -> (retry, delay, reason, asked)
DECIDE_CASES: list[tuple[str, BaseException, str, bool, int, float | None, float,
                         tuple[bool, float, str, float | None]]] = [
    ("503 first retry", api_error(503), "get", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("429 retried", api_error(429), "get", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("500 retried", api_error(500), "list", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("502 retried", api_error(502), "cancel", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("504 retried", api_error(504), "delete", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("backoff doubles", api_error(503), "get", False, 2, None, 0.5, (True, 2.0, "", None)),
    ("backoff capped", api_error(503), "get", False, 3, None, 0.999, (True, 4.995, "", None)),
    ("400 never", api_error(400), "get", False, 0, None, 0.5, (False, 0.0, "not-retryable", None)),
    ("401 never", api_error(401), "get", False, 0, None, 0.5, (False, 0.0, "not-retryable", None)),
    ("403 never", api_error(403), "get", False, 0, None, 0.5, (False, 0.0, "not-retryable", None)),
    ("404 never", api_error(404), "get", False, 0, None, 0.5, (False, 0.0, "not-retryable", None)),
    ("409 never", api_error(409), "cancel", False, 0, None, 0.5,
     (False, 0.0, "not-retryable", None)),
    ("501 never", api_error(501), "get", False, 0, None, 0.5, (False, 0.0, "not-retryable", None)),
    ("connect error on delete", ConnectError("refused"), "delete", False, 0, None, 0.5,
     (True, 0.5, "", None)),
    ("read error on get", ReadError("reset"), "get", False, 0, None, 0.5, (True, 0.5, "", None)),
    ("read error on list", ReadError("reset"), "list", False, 0, None, 0.5,
     (True, 0.5, "", None)),
    ("read error on wait", ReadError("reset"), "wait", False, 0, None, 0.5,
     (True, 0.5, "", None)),
    ("read error on cancel", ReadError("reset"), "cancel", False, 0, None, 0.5,
     (True, 0.5, "", None)),
    # delete is reconcilable: a repeat answered NOT_FOUND is checked, not blindly trusted.
    ("read error on delete without key", ReadError("reset"), "delete", False, 0, None, 0.5,
     (True, 0.5, "", None)),
    ("read error on delete with key", ReadError("reset"), "delete", True, 0, None, 0.5,
     (True, 0.5, "", None)),
    ("malformed body never", MalformedResponseError("bad"), "get", False, 0, None, 0.5,
     (False, 0.0, "not-retryable", None)),
    ("usage error never", UsageError("bad"), "get", False, 0, None, 0.5,
     (False, 0.0, "not-retryable", None)),
    ("last attempt", api_error(503), "get", False, 5, None, 0.5, (False, 0.0, "attempts", None)),
    ("deadline already passed", api_error(503), "get", False, 0, 0.0, 0.5,
     (False, 0.0, "deadline-passed", None)),
    ("jittered delay reaches deadline", api_error(503), "get", False, 2, 1.5, 0.9,
     (False, 0.0, "deadline", None)),
    ("jittered delay fits", api_error(503), "get", False, 2, 1.5, 0.3, (True, 1.2, "", None)),
    ("server delay honoured", api_error(503, retry_after=3.0), "get", False, 0, None, 0.5,
     (True, 3.0, "", 3.0)),
    ("server delay clamped", api_error(429, retry_after=3600.0), "get", False, 0, None, 0.5,
     (True, 10.0, "", 3600.0)),
    ("jitter above server delay", api_error(503, retry_after=0.5), "get", False, 2, None, 0.9,
     (True, 3.6, "", 0.5)),
    ("server delay beyond time left", api_error(429, retry_after=30.0), "get", False, 0, 20.0,
     0.5, (False, 0.0, "server-delay", 30.0)),
    ("server delay within time left", api_error(429, retry_after=3.0), "get", False, 0, 20.0,
     0.5, (True, 3.0, "", 3.0)),
]


@pytest.mark.parametrize(
    ("error", "kind", "has_key", "attempts", "left", "jitter", "expected"),
    [case[1:] for case in DECIDE_CASES],
    ids=[case[0] for case in DECIDE_CASES],
)
def test_decide_table(
    error: BaseException, kind: eemw.CallKind, has_key: bool, attempts: int,
    left: float | None, jitter: float, expected: tuple[bool, float, str, float | None],
) -> None:
    state, decision = decide(POLICY, RetryState(attempts), error, call=make_call(kind),
                             has_key=has_key, time_left=left, jitter=jitter)
    assert state == RetryState(attempts + 1)
    retry, delay, reason, asked = expected
    assert (decision.retry, decision.reason, decision.retry_after) == (retry, reason, asked)
    assert decision.delay == pytest.approx(delay)


@given(
    attempts=st.integers(0, 2000),
    jitter=st.floats(0, 1, exclude_max=True),
    left=st.none() | st.floats(0.001, 1e6),
    asked=st.none() | st.floats(0, 1e7),
)
@settings(max_examples=200, deadline=None)
def test_decide_never_plans_a_sleep_past_the_deadline_or_the_caps(
    attempts: int, jitter: float, left: float | None, asked: float | None
) -> None:
    policy = RetryPolicy(max_attempts=10_000, max_backoff=20.0, max_retry_after=60.0)
    _, decision = decide(policy, RetryState(attempts), api_error(503, asked), call=make_call(),
                         has_key=False, time_left=left, jitter=jitter)
    if decision.retry:
        assert 0 <= decision.delay <= max(policy.max_backoff, policy.max_retry_after)
        assert left is None or decision.delay < left
    elif decision.reason == "server-delay":
        assert asked is not None and left is not None and asked > left


def test_backoff_ceiling_grows_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.25, multiplier=3.0, max_backoff=5.0)
    assert [policy.backoff_ceiling(n) for n in range(5)] == [0.25, 0.75, 2.25, 5.0, 5.0]
    huge = RetryPolicy(initial_backoff=1.0, multiplier=1e300, max_backoff=7.0)
    assert huge.backoff_ceiling(10_000) == 7.0


# --- RetryPolicy and RetryBudget values -------------------------------------------------


@pytest.mark.parametrize(
    "settings_",
    [
        {"initial_backoff": -1.0},
        {"initial_backoff": float("nan")},
        {"max_backoff": float("inf")},
        {"initial_backoff": 5.0, "max_backoff": 1.0},
        {"multiplier": 0.5},
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"max_attempts": True},
        {"max_retry_after": -1.0},
        {"attempt_timeout": 0.0},
        {"retry_statuses": frozenset({200})},
        {"retry_statuses": 503},
    ],
)
def test_invalid_policy_settings_are_usage_errors(settings_: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="RetryPolicy"):
        RetryPolicy(**settings_)


def test_policy_is_frozen_and_keeps_statuses_as_a_frozenset() -> None:
    policy = RetryPolicy(retry_statuses={503, 429})  # type: ignore[arg-type]
    assert policy.retry_statuses == frozenset({503, 429})
    assert isinstance(policy.retry_statuses, frozenset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 9  # type: ignore[misc]
    assert RetryPolicy.none().max_attempts == 1


@pytest.mark.parametrize(
    "settings_",
    [{"capacity": 0}, {"retry_cost": 0}, {"throttle_cost": -1}, {"refund": float("nan")}],
)
def test_invalid_budget_settings_are_usage_errors(settings_: dict[str, float]) -> None:
    with pytest.raises(UsageError, match="RetryBudget"):
        RetryBudget(**settings_)


def test_budget_charges_throttles_less_and_refunds_successes() -> None:
    budget = RetryBudget(10, retry_cost=4, throttle_cost=1, refund=2)
    assert budget.try_spend(throttled=False)
    assert budget.tokens == 6
    assert budget.try_spend(throttled=True)
    assert budget.tokens == 5
    assert budget.try_spend(throttled=False)
    assert not budget.try_spend(throttled=False)  # 1 token left, a retry costs 4
    assert budget.tokens == 1
    assert budget.try_spend(throttled=True)
    budget.record_success()
    assert budget.tokens == 2
    for _ in range(10):
        budget.record_success()
    assert budget.tokens == 10  # never above capacity


# --- the middleware ----------------------------------------------------------------------


def test_retries_with_full_jitter_backoff_then_succeeds(fake: FakeTime) -> None:
    seen: list[Request] = []
    outcomes = script(api_error(503), api_error(502), ConnectError("refused"))

    def call_next(request: Request) -> Response:
        seen.append(request)
        return outcomes(request)

    policy = RetryPolicy(initial_backoff=0.25, multiplier=2.0, max_backoff=20.0)
    response = make_retry(fake, policy, jitter=0.5)(make_request(), call_next)
    assert response.status == 200
    assert fake.sleeps == [0.125, 0.25, 0.5]
    assert [r.context.get(ATTEMPT) for r in seen] == [0, 1, 2, 3]


def test_backoff_is_capped_by_max_backoff(fake: FakeTime) -> None:
    policy = RetryPolicy(initial_backoff=1.0, multiplier=10.0, max_backoff=3.0, max_attempts=5)
    make_retry(fake, policy, jitter=0.9)(make_request(), script(*[api_error(503)] * 4))
    assert fake.sleeps == pytest.approx([0.9, 2.7, 2.7, 2.7])


def test_each_attempt_timeout_is_the_time_left(fake: FakeTime) -> None:
    timeouts: list[float | None] = []

    def slow_failure(request: Request) -> Response:
        timeouts.append(request.timeout)
        fake.now += 3
        raise api_error(503)

    retry = make_retry(fake, RetryPolicy(max_attempts=10), jitter=0.0)
    with pytest.raises(DeadlineExceededError) as info:
        retry(make_request(deadline=fake.now + 10, timeout=60.0), slow_failure)
    assert timeouts == [10, 7, 4, 1]
    assert isinstance(info.value.__cause__, eemw.UnavailableError)
    assert info.value.timeout == 60.0 and "attempt 4" in str(info.value)


def test_attempt_timeout_caps_each_attempt(fake: FakeTime) -> None:
    timeouts: list[float | None] = []

    def record(request: Request) -> Response:
        timeouts.append(request.timeout)
        return ok(request)

    make_retry(fake, RetryPolicy(attempt_timeout=2.0))(
        make_request(deadline=fake.now + 10, timeout=10.0), record
    )
    assert timeouts == [2.0]


def test_a_passed_deadline_sends_nothing(fake: FakeTime) -> None:
    transport = MockTransport(ok)
    with pytest.raises(DeadlineExceededError, match="timeout="):
        make_retry(fake)(make_request(deadline=fake.now - 1), transport)
    assert transport.requests == []


@given(
    jitters=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=8),
    budget_s=st.floats(0.01, 30),
    work=st.floats(0, 2),
)
@settings(max_examples=100, deadline=None)
def test_never_sleeps_past_the_deadline(jitters: list[float], budget_s: float, work: float) -> None:
    fake = FakeTime()
    deadline = fake.now + budget_s
    draws = iter(jitters * 100)
    sleep_ends: list[float] = []

    def failing(request: Request) -> Response:
        fake.now += work
        raise api_error(503)

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        sleep_ends.append(fake.now)

    retry = Retry(RetryPolicy(initial_backoff=0.5, max_attempts=20), clock=fake,
                  sleep=sleep, random=lambda: next(draws))
    with pytest.raises((RetryExhaustedError, DeadlineExceededError)):
        retry(make_request(deadline=deadline), failing)
    assert all(end < deadline for end in sleep_ends)


def test_server_delay_is_honoured_and_clamped(fake: FakeTime) -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    make_retry(fake, policy, jitter=0.0)(
        make_request(), script(api_error(429, retry_after=7.0), api_error(503, retry_after=900.0))
    )
    assert fake.sleeps == [7.0, 30.0]


def test_server_asking_beyond_the_deadline_fails_at_once(fake: FakeTime) -> None:
    asked = api_error(429, retry_after=120.0)
    sent: list[Request] = []

    def throttled(request: Request) -> Response:
        sent.append(request)
        raise asked

    with pytest.raises(eemw.ResourceExhaustedError) as info:
        make_retry(fake)(make_request(deadline=fake.now + 60), throttled)
    assert info.value is asked  # the last attempt's own error, never a wrapper
    assert isinstance(info.value, RetryExhaustedError)
    assert info.value.gave_up == "server-delay"
    assert info.value.retry_after == 120.0
    assert info.value.last_error is asked
    assert "120s" in str(info.value)
    assert len(sent) == 1 and fake.sleeps == []


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (503, {"Retry-After": "4"}, b"", 4.0),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT"}, b"", 5.0),
        (429, {}, b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow",'
                  b' "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",'
                  b' "retryDelay": "2.5s"}]}}', 2.5),
    ],
    ids=["retry-after seconds", "retry-after http date", "RetryInfo"],
)
def test_server_delays_parsed_by_check_drive_the_sleep(
    fake: FakeTime, status: int, headers: dict[str, str], body: bytes, expected: float
) -> None:
    answers = [respond(make_request(), status, body=body, headers=headers)]

    def handler(request: Request) -> Response:
        if answers:
            return dataclasses.replace(answers.pop(), request=request)
        return respond(request, json={"name": NAME})

    transport = MockTransport(handler)
    check = Check(wall_clock=lambda: 1445412480.0)  # 07:28:00 GMT that day
    make_retry(fake, jitter=0.0)(make_request(), lambda r: check(r, transport))
    assert fake.sleeps == [expected]
    assert len(transport.requests) == 2


def test_read_error_on_an_unsafe_call_surfaces_unchanged(fake: FakeTime) -> None:
    root = ConnectionResetError("reset by peer")
    error = ReadError("connection reset after sending")
    error.__cause__ = root
    create = Call("projects.image.export", "demo", "v1", resource="earthengine")
    request = dataclasses.replace(make_request(), call=create)
    with pytest.raises(ReadError) as info:
        make_retry(fake)(request, script(error))
    assert info.value is error
    assert info.value.__cause__ is root  # the transport's own cause is kept
    assert fake.sleeps == []


def test_a_generated_key_does_not_make_an_unsafe_call_repeatable(fake: FakeTime) -> None:
    create = Call("projects.image.export", "demo", "v1", resource="earthengine")
    generated = dataclasses.replace(make_request(key="gen-1", honoured=False), call=create)
    calls = MockTransport(script(ReadError("reset")))
    with pytest.raises(ReadError) as info:
        make_retry(fake)(generated, calls)
    assert info.value.maybe_applied and info.value.gave_up == ""
    assert len(calls.requests) == 1
    trusted = dataclasses.replace(make_request(key="mine-1"), call=create)
    calls = MockTransport(script(ReadError("reset")))
    assert make_retry(fake)(trusted, calls).status == 200
    assert len(calls.requests) == 2


@pytest.mark.parametrize(
    ("error", "applied"),
    [
        (ReadError("reset"), True), (api_error(500), True), (api_error(502), True),
        (api_error(504), True), (api_error(503), False), (api_error(429), False),
        (ConnectError("refused"), False),
    ],
    ids=["read", "500", "502", "504", "503", "429", "connect"],
)
def test_an_attempt_that_may_have_acted_marks_the_final_error(
    fake: FakeTime, error: eemw.EemwError, applied: bool
) -> None:
    final = api_error(400)
    with pytest.raises(ApiError) as info:
        make_retry(fake)(make_request("cancel"), script(error, final))
    assert info.value is final
    assert info.value.maybe_applied is applied
    assert info.value.attempts == 2 and info.value.history == (error,)


@pytest.mark.parametrize(
    ("kind", "key"),
    [("delete", "key-1"), ("cancel", None), ("get", None), ("list", None), ("wait", None)],
)
def test_read_error_retried_when_safe_to_repeat(
    fake: FakeTime, kind: eemw.CallKind, key: str | None
) -> None:
    calls = MockTransport(script(ReadError("reset")))
    assert make_retry(fake)(make_request(kind, key=key), calls).status == 200
    assert len(calls.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_other_errors_are_never_retried(fake: FakeTime, status: int) -> None:
    error = api_error(status)
    calls = MockTransport(script(error))
    with pytest.raises(ApiError) as info:
        make_retry(fake)(make_request("cancel"), calls)
    assert info.value is error
    assert len(calls.requests) == 1


def test_max_attempts_exhausted_raises_the_last_error_with_its_history(fake: FakeTime) -> None:
    errors = [api_error(503), api_error(502), api_error(500)]
    with pytest.raises(eemw.InternalError) as info:
        make_retry(fake, RetryPolicy(max_attempts=3))(make_request(), script(*errors))
    assert info.value is errors[-1]
    assert isinstance(info.value, RetryExhaustedError)
    assert type(info.value).__name__ == "InternalError"
    assert info.value.attempts == 3
    assert info.value.history == (errors[0], errors[1])
    assert info.value.last_error is errors[-1]
    assert info.value.gave_up == "attempts"
    assert "gave up after 3 attempt(s)" in str(info.value)


def test_history_keeps_no_traceback(fake: FakeTime) -> None:
    # An attempt's frames hold its request, bearer token included.
    with pytest.raises(eemw.UnavailableError) as info:
        make_retry(fake, RetryPolicy(max_attempts=2))(make_request(), script(then_ok=False))
    (earlier,) = info.value.history
    assert earlier.__traceback__ is None


def test_policy_none_surfaces_the_original_error(fake: FakeTime) -> None:
    error = api_error(503)
    calls = MockTransport(script(error))
    with pytest.raises(eemw.UnavailableError) as info:
        make_retry(fake, RetryPolicy.none())(make_request(), calls)
    assert info.value is error
    assert info.value.attempts == 1 and info.value.history == ()
    assert len(calls.requests) == 1


@pytest.mark.parametrize("policy", [RetryPolicy(), RetryPolicy.none()], ids=["default", "none"])
def test_one_storm_raises_one_type_under_every_policy(fake: FakeTime, policy: RetryPolicy) -> None:
    with pytest.raises(eemw.UnavailableError) as info:
        make_retry(fake, policy)(make_request(), script(then_ok=False))
    assert type(info.value).__name__ == "UnavailableError"
    assert isinstance(info.value, RetryExhaustedError)  # retrying stopped, for both
    assert info.value.gave_up == "attempts"
    assert info.value.attempts == policy.max_attempts


@pytest.mark.parametrize("policy", [RetryPolicy(), RetryPolicy.none()], ids=["default", "none"])
def test_a_passed_deadline_is_a_deadline_error_under_every_policy(
    fake: FakeTime, policy: RetryPolicy
) -> None:
    error = api_error(503)

    def slow(request: Request) -> Response:
        fake.sleep(61)
        raise error

    with pytest.raises(DeadlineExceededError) as info:
        make_retry(fake, policy)(make_request(deadline=fake.now + 60), slow)
    assert isinstance(info.value, eemw.TimedOutError)
    assert info.value.last_error is error and info.value.__cause__ is error
    assert info.value.attempts == 1


def test_a_not_retryable_error_is_not_marked_exhausted(fake: FakeTime) -> None:
    error = api_error(404)
    with pytest.raises(eemw.NotFoundError) as info:
        make_retry(fake)(make_request(), script(error))
    assert not isinstance(info.value, RetryExhaustedError)
    assert info.value.gave_up == "" and info.value.attempts == 1


def test_per_call_policy_overrides_the_client_policy(fake: FakeTime) -> None:
    retry = make_retry(fake, RetryPolicy(max_attempts=5))
    calls = MockTransport(script(then_ok=False))
    with pytest.raises(eemw.UnavailableError):
        retry(make_request(policy=RetryPolicy.none()), calls)
    assert len(calls.requests) == 1
    with pytest.raises(RetryExhaustedError):
        retry(make_request(policy=RetryPolicy(max_attempts=2)), calls)
    assert len(calls.requests) == 3


def test_empty_budget_surfaces_the_original_error_saying_so(fake: FakeTime) -> None:
    budget = RetryBudget(10, retry_cost=5, throttle_cost=1)
    retry = make_retry(fake, RetryPolicy(max_attempts=10), budget=budget)
    calls = MockTransport(script(then_ok=False))
    with pytest.raises(eemw.UnavailableError, match="retry budget is empty") as info:
        retry(make_request(), calls)
    assert isinstance(info.value, RetryExhaustedError) and info.value.gave_up == "budget"
    assert info.value.attempts == 3
    assert len(calls.requests) == 3  # two retries paid for, the third not
    # The budget is client-wide: the next call gets no retry at all.
    with pytest.raises(eemw.UnavailableError, match="retry budget is empty"):
        retry(make_request(), calls)
    assert len(calls.requests) == 4


def test_throttling_retries_cost_less(fake: FakeTime) -> None:
    budget = RetryBudget(20, retry_cost=5, throttle_cost=1)
    retry = make_retry(fake, RetryPolicy(max_attempts=3), budget=budget, jitter=0.0)
    with pytest.raises(eemw.ResourceExhaustedError):
        retry(make_request(), script(api_error(429), api_error(429), api_error(429)))
    assert budget.tokens == 20 - 2
    with pytest.raises(eemw.UnavailableError):
        retry(make_request(), script(api_error(503), api_error(503), api_error(503)))
    assert budget.tokens == 20 - 2 - 10


def test_a_success_gives_back_what_its_retries_spent(fake: FakeTime) -> None:
    budget = RetryBudget(30, retry_cost=5, throttle_cost=1, refund=0.5)
    retry = make_retry(fake, budget=budget, jitter=0.0)
    with pytest.raises(eemw.UnavailableError):
        retry(make_request(), script(*[api_error(503)] * 5))
    assert budget.tokens == 30 - 4 * 5
    retry(make_request(), script(api_error(503), api_error(429)))  # spends 6, gives 6 back
    assert budget.tokens == 10
    retry(make_request(), script())  # a clean success earns ``refund``
    assert budget.tokens == 10.5


def test_default_budget_outlasts_a_test_suite_of_retries(fake: FakeTime) -> None:
    budget = RetryBudget()
    retry = make_retry(fake, RetryPolicy(max_attempts=2), budget=budget)
    for _ in range(50):  # 50 calls, each failing for good after one retry
        with pytest.raises(eemw.UnavailableError) as info:
            retry(make_request(), script(then_ok=False))
        assert info.value.gave_up == "attempts"
    assert budget.tokens == 500 - 50 * 5


def test_each_retry_is_logged_traced_and_counted(
    fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    retry = make_retry(fake, metrics=Metrics(MeterProvider(metric_readers=[reader])))
    caplog.set_level(logging.DEBUG, logger="eemw.retry")
    with provider.get_tracer("test").start_as_current_span("call"):
        retry(make_request("cancel"), script(api_error(503), ConnectError("refused")))

    records = [r for r in caplog.records if r.name == "eemw.retry" and r.levelno == logging.DEBUG]
    assert len(records) == 2
    assert "operations.cancel" in records[0].getMessage()
    assert "503" in records[0].getMessage()
    (span,) = exporter.get_finished_spans()
    events = [e for e in span.events if e.name == "eemw.retry"]
    assert [e.attributes["error.type"] for e in events] == ["503", "ConnectError"]  # type: ignore[index]
    assert [e.attributes["eemw.attempt"] for e in events] == [1, 2]  # type: ignore[index]
    data: Any = reader.get_metrics_data()
    points = {
        (p.attributes["eemw.call"], p.attributes["error.type"]): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "eemw.client.retries"
        for p in m.data.data_points
    }
    assert points == {("operations.cancel", "503"): 1, ("operations.cancel", "ConnectError"): 1}


def test_one_instance_serves_many_threads(fake: FakeTime) -> None:
    retry = Retry(RetryPolicy(max_attempts=3), clock=fake, sleep=lambda s: None,
                  random=lambda: 0.5, budget=RetryBudget(1e9))
    lock = threading.Lock()
    attempts: dict[str, int] = {}

    def flaky(request: Request) -> Response:
        with lock:
            n = attempts[request.url] = attempts.get(request.url, 0) + 1
        if n == 1:
            raise api_error(503)
        return Response(200, Headers(), request.url.encode(), request)

    def one(i: int) -> tuple[str, bytes]:
        url = f"https://ee.test/v1/projects/demo/operations/op-{i}"
        request = dataclasses.replace(make_request(deadline=fake.now + 60), url=url)
        return url, retry(request, flaky).body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(200)))
    assert all(body == url.encode() for url, body in results)
    assert set(attempts.values()) == {2}


# --- composed in the default client ------------------------------------------------------


def make_client(fake: FakeTime, handler: Callable[[Request], Response],
                **kwargs: Any) -> eemw.Client:
    return eemw.Client("demo", transport=MockTransport(handler),
                       credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                       clock=fake, sleep=fake.sleep,
                       random=lambda: 0.5, **kwargs)


def transport_of(client: eemw.Client) -> MockTransport:
    assert isinstance(client.transport, MockTransport)
    return client.transport


def operation(request: Request) -> Response:
    return respond(request, json={"name": request.call.name, "done": False})


def unavailable(request: Request) -> Response:
    return respond(request, 503, json={"error": {"code": 503, "status": "UNAVAILABLE",
                                                 "message": "try later"}})


def test_client_get_retries_503_then_returns_the_operation(fake: FakeTime) -> None:
    answers = [unavailable, unavailable]

    def handler(request: Request) -> Response:
        return (answers.pop() if answers else operation)(request)

    client = make_client(fake, handler)
    assert client.operations.get(NAME).name == NAME
    assert len(transport_of(client).requests) == 3
    assert len(fake.sleeps) == 2


def test_client_timeout_bounds_the_whole_call_on_the_clock(fake: FakeTime) -> None:
    def slow_unavailable(request: Request) -> Response:
        # Each answer takes 1s; an attempt given less time than that times out.
        assert request.timeout is not None
        if request.timeout < 1.0:
            fake.now += request.timeout
            raise ReadError("no response within the attempt timeout")
        fake.now += 1.0
        return unavailable(request)

    started = fake.now
    client = make_client(fake, slow_unavailable,
                         retry=RetryPolicy(initial_backoff=1.0, max_attempts=100))
    with pytest.raises((RetryExhaustedError, DeadlineExceededError)):
        client.operations.get(NAME, timeout=5.0)
    assert fake.now - started <= 5.0 + 1e-9
    timeouts = [r.timeout or 0.0 for r in transport_of(client).requests]
    assert timeouts[0] == 5.0
    assert all(0 < t <= 5.0 for t in timeouts)
    assert timeouts == sorted(timeouts, reverse=True)


def test_client_per_call_retry_none_surfaces_the_503(fake: FakeTime) -> None:
    client = make_client(fake, unavailable)
    with pytest.raises(eemw.UnavailableError) as info:
        client.operations.get(NAME, retry=RetryPolicy.none())
    assert info.value.http_status == 503 and info.value.operation == NAME
    assert len(transport_of(client).requests) == 1


def test_client_does_not_retry_a_malformed_success(fake: FakeTime) -> None:
    client = make_client(fake, lambda r: respond(r, json={"name": "projects/demo/operations/x"}))
    with pytest.raises(MalformedResponseError, match=r"operations\.get"):
        client.operations.get(NAME)
    assert len(transport_of(client).requests) == 1


def test_client_retry_budget_is_shared_across_calls(fake: FakeTime) -> None:
    client = make_client(fake, unavailable, retry_budget=RetryBudget(5, retry_cost=5))
    with pytest.raises(RetryExhaustedError, match="budget"):
        client.operations.get(NAME)
    with pytest.raises(RetryExhaustedError, match="budget"):
        client.operations.get(NAME)
    assert len(transport_of(client).requests) == 3
