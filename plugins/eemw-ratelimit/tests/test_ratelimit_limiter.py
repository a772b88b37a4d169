"""The limiter's maths on a fake clock: bucket, queueing, bounds, AIMD, thread safety,
and whose clock and sleep it uses."""

from __future__ import annotations

import threading

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter, factory, quota_project
from google.auth.credentials import AnonymousCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

import eemw
from eemw.testing import FakeClock, MockTransport, respond


def limiter(clock: FakeClock, qps: float = 10, **kwargs: object) -> RateLimiter:
    return RateLimiter(qps, clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def request(project: str = "demo", quota: str | None = None, timeout: float | None = None
            ) -> eemw.Request:
    headers = eemw.Headers({"X-Goog-User-Project": quota} if quota else {})
    call = eemw.Call("get", project, "v1", f"projects/{project}/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", headers, call, timeout=timeout)


def ok(req: eemw.Request) -> eemw.Response:
    return respond(req, json={})


def throttled(req: eemw.Request) -> eemw.Response:
    raise eemw.ResourceExhaustedError("slow down", http_status=429, rpc_status="RESOURCE_EXHAUSTED")


def test_a_burst_goes_at_once_then_requests_queue_at_the_rate() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=3)
    waits = [rl.reserve("p") for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=3)
    for _ in range(3):
        rl.reserve("p")
    clock.now += 0.15  # 1.5 tokens back
    assert rl.reserve("p") == 0
    assert rl.reserve("p") == pytest.approx(0.05)
    clock.now += 100  # a long pause refills to the burst, not beyond
    assert [rl.reserve("p") for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_projects_have_their_own_buckets() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=1)
    assert rl.reserve("a") == 0
    assert rl.reserve("b") == 0
    assert rl.reserve("a") == pytest.approx(0.1)


def test_fail_mode_never_waits_and_takes_nothing() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=1, mode="fail")
    rl.reserve("p")
    with pytest.raises(RateLimitedError) as caught:
        rl.reserve("p")
    assert (caught.value.project, caught.value.rate) == ("p", 10)
    assert caught.value.wait == pytest.approx(0.1)
    assert isinstance(caught.value, eemw.EemwError)
    clock.now += 0.1
    assert rl.reserve("p") == 0  # the refused call did not use up the next token


def test_a_wait_longer_than_max_wait_is_refused() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=1, burst=1, max_wait=1.5)
    assert rl.reserve("p") == 0
    assert rl.reserve("p") == pytest.approx(1.0)
    with pytest.raises(RateLimitedError, match="longer than max_wait"):
        rl.reserve("p")  # would be 2s


def test_a_wait_past_the_attempt_timeout_is_refused() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=1, burst=1)
    rl.reserve("p")
    with pytest.raises(RateLimitedError, match=r"only 0\.5s left"):
        rl.reserve("p", timeout=0.5)


def test_a_429_halves_the_rate_and_empties_the_bucket() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=5)
    rl.throttled("p")
    assert rl.rate("p") == 5
    assert rl.reserve("p") == pytest.approx(1 / 5)
    clock.now += 1.0  # past the cool-down
    rl.throttled("p")
    assert rl.rate("p") == 2.5
    assert rl.rate("other") == 10


def test_the_rate_never_drops_below_min_qps() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, min_qps=2)
    for _ in range(10):
        rl.throttled("p")
        clock.now += 1.0
    assert rl.rate("p") == 2


def test_concurrent_429s_cut_the_rate_once_per_cooldown() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=100)
    in_flight = threading.Barrier(16)

    def answered_together(req: eemw.Request) -> eemw.Response:
        in_flight.wait()  # all 16 were sent before the first 429 comes back
        return throttled(req)

    def attempt() -> None:
        with pytest.raises(eemw.ResourceExhaustedError):
            rl(request(), answered_together)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rl.rate("demo") == 50
    clock.now += 0.99
    rl.throttled("demo")
    assert rl.rate("demo") == 50
    clock.now += 0.01  # one cool-down (1 s) after the cut
    rl.throttled("demo")
    assert rl.rate("demo") == 25


def test_a_429_within_the_cooldown_still_empties_the_bucket() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=10)
    rl.throttled("p")
    clock.now += 0.5  # 2.5 tokens back at 5/s
    rl.throttled("p")
    assert rl.rate("p") == 5
    assert rl.reserve("p") == pytest.approx(1 / 5)


def test_a_zero_cooldown_cuts_on_every_429() -> None:
    rl = limiter(FakeClock(), qps=16, cooldown=0)
    for _ in range(3):
        rl.throttled("p")
    assert rl.rate("p") == 2


def test_successes_recover_the_rate_additively_up_to_qps() -> None:
    rl = limiter(FakeClock(), qps=10, increase=1)
    rl.throttled("p")
    rates = []
    for _ in range(7):
        rl.succeeded("p")
        rates.append(rl.rate("p"))
    assert rates == [6, 7, 8, 9, 10, 10, 10]


def test_the_burst_shrinks_with_the_rate() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=10)
    rl.throttled("p")  # 5/s: a burst of 5
    clock.now += 100
    waits = [rl.reserve("p") for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 0.2])


def test_the_middleware_sleeps_and_shrinks_the_attempt_timeout() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=10, burst=1)
    seen: list[float | None] = []

    def send(req: eemw.Request) -> eemw.Response:
        seen.append(req.timeout)
        return ok(req)

    rl(request(timeout=5.0), send)
    rl(request(timeout=5.0), send)
    assert clock.sleeps == pytest.approx([0.1])
    assert seen == pytest.approx([5.0, 4.9])


def test_the_middleware_backs_off_on_429_and_reraises() -> None:
    rl = limiter(FakeClock(), qps=10)
    with pytest.raises(eemw.ResourceExhaustedError):
        rl(request(), throttled)
    assert rl.rate("demo") == 5


def ok_client(clock: FakeClock, **kwargs: object) -> eemw.Client:
    return eemw.Client(
        "demo", transport=MockTransport(lambda r: respond(r, json={"name": r.call.name})),
        credentials=AnonymousCredentials(), clock=clock, sleep=clock.sleep,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_plugin_waits_on_the_clients_clock_and_sleep() -> None:
    clock = FakeClock()
    client = ok_client(clock, plugins=["ratelimit"],
                       plugin_settings={"ratelimit": {"qps": "1", "burst": "1"}})
    for _ in range(3):
        client.operations.get("op-1")
    # Two one-second waits, taken on the fake sleep: nothing really slept.
    assert clock.sleeps == pytest.approx([1.0, 1.0])
    assert clock.now == pytest.approx(2.0)


def test_a_limiter_built_with_its_own_clock_and_sleep_keeps_them() -> None:
    client_clock, own = FakeClock(), FakeClock()
    rl = RateLimiter(1, burst=1, clock=own, sleep=own.sleep)
    client = ok_client(client_clock,
                       middleware=[eemw.Entry("ratelimit", rl, "attempt", after="auth")])
    for _ in range(2):
        client.operations.get("op-1")
    assert own.sleeps == pytest.approx([1.0])
    assert client_clock.sleeps == []


def test_without_a_client_the_limiter_uses_the_request_context() -> None:
    clock = FakeClock()
    rl = RateLimiter(1, burst=1)
    req = request().with_context(eemw.keys.CLOCK, clock.__call__)
    req = req.with_context(eemw.keys.SLEEP, clock.sleep)
    rl(req, ok)
    rl(req, ok)
    assert clock.sleeps == pytest.approx([1.0])


def test_the_bucket_is_the_quota_project_header_else_the_call_project() -> None:
    assert quota_project(request("demo", quota="billing")) == "billing"
    assert quota_project(request("demo")) == "demo"
    rl = limiter(FakeClock(), qps=10)
    with pytest.raises(eemw.ResourceExhaustedError):
        rl(request("demo", quota="billing"), throttled)
    assert (rl.rate("billing"), rl.rate("demo")) == (5, 10)


def test_concurrent_reservations_queue_without_losing_any() -> None:
    clock = FakeClock()
    rl = limiter(clock, qps=100, burst=4)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(25):
            wait = rl.reserve("p")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each of the 200 reservations got its own slot: the burst, then one per 1/qps.
    expected = [0.0] * 4 + [k / 100 for k in range(1, 197)]
    assert sorted(waits) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    qps=st.floats(min_value=0.5, max_value=200),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_sends_never_outrun_the_bucket(qps: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    rl = RateLimiter(qps, burst=burst, max_wait=1e9, clock=clock, sleep=clock.sleep)
    sent: list[float] = []

    def send(req: eemw.Request) -> eemw.Response:
        sent.append(clock.now)
        return ok(req)

    for gap in gaps:
        clock.now += gap
        rl(request(), send)
    for i in range(len(sent)):
        for j in range(i, len(sent)):
            assert j - i + 1 <= burst + qps * (sent[j] - sent[i]) + 1e-6


def test_invalid_arguments_are_usage_errors() -> None:
    for kwargs in ({"qps": 0}, {"burst": 0.5}, {"decrease": 1.0}, {"mode": "maybe"},
                   {"min_qps": 50}, {"max_wait": -1}, {"cooldown": -1},
                   {"cooldown": float("nan")}):
        with pytest.raises(eemw.UsageError):
            RateLimiter(**{"qps": 10, **kwargs})  # type: ignore[arg-type]


def test_the_factory_places_the_limiter_after_auth_in_the_attempt_phase() -> None:
    entry = factory({})
    assert (entry.name, entry.phase, entry.after) == ("ratelimit", "attempt", "auth")
    assert isinstance(entry.middleware, RateLimiter)
    assert (entry.middleware.qps, entry.middleware.burst) == (100, 100)
    assert entry.middleware.mode == "block"


def test_the_factory_reads_every_setting() -> None:
    entry = factory({"qps": "20", "burst": "4", "max_wait": "2.5", "mode": "fail",
                     "decrease": "0.25", "increase": "3", "min_qps": "0.5", "cooldown": "2"})
    rl = entry.middleware
    assert isinstance(rl, RateLimiter)
    assert (rl.qps, rl.burst, rl.max_wait, rl.mode) == (20, 4, 2.5, "fail")
    assert (rl.decrease, rl.increase, rl.min_qps, rl.cooldown) == (0.25, 3, 0.5, 2)
