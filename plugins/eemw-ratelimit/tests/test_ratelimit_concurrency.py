"""Concurrency slots and deadlines of the limiter, in process, on a fake clock."""

from __future__ import annotations

import threading

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter

import eemw
from eemw.testing import FakeClock, respond


def request(timeout: float | None = None) -> eemw.Request:
    call = eemw.Call("get", "demo", "v1", "projects/demo/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", eemw.Headers(), call,
                        timeout=timeout)


def ok(req: eemw.Request) -> eemw.Response:
    return respond(req, json={})


def hold_a_slot(limiter: RateLimiter) -> tuple[threading.Event, threading.Thread]:
    """Start an attempt that stays in flight until the returned event is set."""
    sent, release = threading.Event(), threading.Event()

    def in_flight(req: eemw.Request) -> eemw.Response:
        sent.set()
        release.wait(10)
        return ok(req)

    holder = threading.Thread(target=limiter, args=(request(), in_flight))
    holder.start()
    assert sent.wait(10)
    return release, holder


def test_a_full_slot_set_refuses_at_once_in_fail_mode() -> None:
    clock = FakeClock()
    rl = RateLimiter(100, max_concurrent=1, mode="fail", clock=clock, sleep=clock.sleep)
    release, holder = hold_a_slot(rl)
    with pytest.raises(RateLimitedError, match="concurrency limit"):
        rl(request(), ok)
    release.set()
    holder.join()
    rl(request(), ok)  # the slot came back with the answer


def test_a_slot_never_given_back_is_free_after_its_lease() -> None:
    clock = FakeClock()
    rl = RateLimiter(100, max_concurrent=1, lease=5, max_wait=30, clock=clock,
                     sleep=clock.sleep)
    release, holder = hold_a_slot(rl)
    rl(request(), ok)  # polls on the fake clock until the holder's lease ran out
    assert 5 <= clock.now < 5.1
    release.set()
    holder.join()


def test_a_failed_attempt_gives_its_slot_back() -> None:
    rl = RateLimiter(100, max_concurrent=1, mode="fail")

    def broken(req: eemw.Request) -> eemw.Response:
        raise eemw.ConnectError("refused")

    with pytest.raises(eemw.ConnectError):
        rl(request(), broken)
    rl(request(), ok)


def test_waiting_for_a_slot_stops_at_the_attempt_timeout() -> None:
    clock = FakeClock()
    rl = RateLimiter(100, max_concurrent=1, lease=60, clock=clock, sleep=clock.sleep)
    release, holder = hold_a_slot(rl)
    with pytest.raises(RateLimitedError, match="only"):
        rl(request(timeout=0.5), ok)
    assert clock.now <= 0.5
    release.set()
    holder.join()


def test_a_caller_never_waits_past_its_calls_deadline() -> None:
    clock = FakeClock()
    rl = RateLimiter(1, burst=1)
    sent: list[float] = []

    def send(req: eemw.Request) -> eemw.Response:
        sent.append(clock.now)
        return ok(req)

    def with_deadline(seconds: float) -> eemw.Request:
        return (request().with_context(eemw.keys.CLOCK, clock.__call__)
                .with_context(eemw.keys.SLEEP, clock.sleep)
                .with_context(eemw.keys.DEADLINE, clock.now + seconds))

    rl(with_deadline(0.5), send)
    with pytest.raises(RateLimitedError, match=r"only 0\.5s left"):
        rl(with_deadline(0.5), send)  # the next token is 1 s away
    rl(with_deadline(2.0), send)
    assert sent == [0, 1.0]


def test_invalid_fleet_settings_are_usage_errors() -> None:
    for kwargs in ({"max_concurrent": 0}, {"max_concurrent": 1.5}, {"lease": 0},
                   {"fleet_size": 0}, {"redis_url": "http://h/0"},
                   {"redis_url": "redis://h/0", "key_prefix": ""},
                   {"redis_url": "redis://h/0", "redis_timeout": 0}):
        with pytest.raises(eemw.UsageError):
            RateLimiter(10, **kwargs)  # type: ignore[arg-type]
