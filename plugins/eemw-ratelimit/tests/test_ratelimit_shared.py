"""The limiter shared through a real redis-server, and its degraded mode when Redis is
down, slow or restarted: calls never fail because of Redis."""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter, factory
from eemw_ratelimit._algorithm import Policy
from eemw_ratelimit._link import RedisLink
from eemw_ratelimit._redis import FleetStore, RedisStore
from eemw_ratelimit.testing import RedisServer
from google.auth.credentials import AnonymousCredentials
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.testing import FakeClock, MockTransport, respond

# Time enough for a loaded test machine: these tests are not about a slow Redis.
SLOW_OK = 2.0


def request(project: str = "demo") -> eemw.Request:
    call = eemw.Call("get", project, "v1", f"projects/{project}/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", eemw.Headers(), call)


def ok(req: eemw.Request) -> eemw.Response:
    return respond(req, json={})


def shared(server: RedisServer, qps: float, **settings: Any) -> RateLimiter:
    return RateLimiter(qps, redis_url=server.url, redis_timeout=SLOW_OK, **settings)


def sent_through(limiter: RateLimiter, project: str = "demo") -> bool:
    """One attempt through the limiter: True if it was sent, False if refused."""
    try:
        limiter(request(project), ok)
    except RateLimitedError:
        return False
    return True


def test_two_processes_draw_from_one_bucket(redis_server: RedisServer) -> None:
    # Two limiters with their own connections stand for two processes.
    one, two = (shared(redis_server, 0.01, burst=2, mode="fail") for _ in range(2))
    assert [sent_through(one), sent_through(two), sent_through(one), sent_through(two)] == [
        True, True, False, False]
    assert sent_through(one, "other-project")


def test_a_429_anywhere_slows_every_process(redis_server: RedisServer) -> None:
    one, two = (shared(redis_server, 10) for _ in range(2))

    def throttled(req: eemw.Request) -> eemw.Response:
        raise eemw.ResourceExhaustedError("slow down", http_status=429,
                                          rpc_status="RESOURCE_EXHAUSTED")

    with pytest.raises(eemw.ResourceExhaustedError):
        one(request(), throttled)
    two(request(), ok)  # reads the shared state, and its success adds 0.1/s back
    assert two.rate("demo") == pytest.approx(5.1)


def test_a_key_prefix_isolates_a_fleet(redis_server: RedisServer) -> None:
    blue = shared(redis_server, 0.01, burst=1, mode="fail", key_prefix="blue")
    green = shared(redis_server, 0.01, burst=1, mode="fail", key_prefix="green")
    assert sent_through(blue)
    assert not sent_through(blue)
    assert sent_through(green)


def test_max_concurrent_is_fleet_wide(redis_server: RedisServer) -> None:
    one, two = (shared(redis_server, 100, max_concurrent=1, mode="fail") for _ in range(2))
    refusals: list[RateLimitedError] = []

    def while_in_flight(req: eemw.Request) -> eemw.Response:
        with pytest.raises(RateLimitedError) as caught:
            two(request(), ok)
        refusals.append(caught.value)
        return ok(req)

    one(request(), while_in_flight)
    assert "concurrency limit" in str(refusals[0])
    assert sent_through(two)  # the slot was given back


def test_the_plugin_reads_redis_url_from_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EEMW_PLUGIN_RATELIMIT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("EEMW_PLUGIN_RATELIMIT_KEY_PREFIX", "env-fleet")
    client = eemw.Client("demo", transport=MockTransport(
        lambda r: respond(r, json={"name": r.call.name})),
        credentials=AnonymousCredentials(), plugins=["ratelimit"])
    with client:
        client.operations.get("op-1")
    keys = RedisLink(redis_server.url, timeout=SLOW_OK).call(lambda c: c.keys("env-fleet:*"))
    assert sorted(keys) == [b"env-fleet:{demo}:bucket", b"env-fleet:{demo}:peers"]


def test_without_redis_url_the_limiter_is_in_process() -> None:
    limiter = factory({"qps": "5"}).middleware
    assert isinstance(limiter, RateLimiter)
    assert "redis" not in repr(limiter)
    assert not limiter.degraded


# -- degraded mode -----------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers: a stuck Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_redis_down_falls_back_to_this_process_share(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis_server.kill()
    limiter = RateLimiter(8, burst=4, mode="fail", fleet_size=4, redis_url=url)
    # One share of four: 2 requests/s and a burst of 1, served from memory.
    assert [sent_through(limiter), sent_through(limiter)] == [True, False]
    assert limiter.degraded
    assert limiter.rate("demo") == 2


def test_without_fleet_size_the_share_comes_from_the_peers_seen(
    redis_server: RedisServer,
) -> None:
    fleet = [shared(redis_server, 12, burst=12) for _ in range(3)]
    for limiter in fleet:
        assert sent_through(limiter)  # each says "I am here" with its first call
    assert sent_through(fleet[0])  # and hears how many are there
    redis_server.kill()
    sent_through(fleet[0])
    assert fleet[0].degraded
    assert fleet[0].rate("demo") == 4  # a third of the quota: three processes were seen


def test_a_stuck_redis_costs_one_timeout_then_nothing(silent_server: str) -> None:
    limiter = RateLimiter(100, redis_url=silent_server, redis_timeout=0.05)
    for _ in range(20):
        assert sent_through(limiter)  # never fails, never waits on Redis again
    assert limiter.degraded


def test_degraded_mode_is_logged_once_and_traced(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_server.url
    redis_server.kill()
    limiter = RateLimiter(100, redis_url=url)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with caplog.at_level(logging.WARNING, logger="eemw_ratelimit"):
        for _ in range(10):
            with tracer.start_as_current_span("call"):
                assert sent_through(limiter)
    assert len(caplog.records) == 1
    assert "falls back to its in-process state" in caplog.records[0].getMessage()
    events = [e for s in exporter.get_finished_spans() for e in s.events]
    assert [e.name for e in events] == ["eemw.ratelimit.degraded"]


def test_a_restarted_redis_is_used_again_after_a_probe(redis_server: RedisServer) -> None:
    clock = FakeClock()
    link = RedisLink(redis_server.url, timeout=SLOW_OK, clock=clock)
    store = FleetStore(RedisStore(link, "t"), parts=2)
    policy = Policy(qps=10, burst=10, decrease=0.5, increase=1, min_qps=1, cooldown=1)

    def admit() -> float:
        return store.admit("p", policy, now=clock(), max_wait=0, timeout=None, slots=0,
                           ttl=1).rate

    assert admit() == 10
    redis_server.kill()
    assert admit() == 5  # this process's half, from memory
    redis_server.start()
    assert admit() == 5  # no probe before the backoff is over: no round trip per call
    assert link.degraded
    clock.now += 0.1
    assert admit() == 10  # the probe answered: shared again (a new, full bucket)
    assert not link.degraded
    assert link.degraded_seconds() == pytest.approx(0.1)


def test_a_failed_probe_doubles_the_backoff(redis_server: RedisServer) -> None:
    clock = FakeClock()
    url = redis_server.url
    redis_server.kill()
    link = RedisLink(url, clock=clock)
    store = FleetStore(RedisStore(link, "t"))
    policy = Policy(qps=10, burst=10, decrease=0.5, increase=1, min_qps=1, cooldown=1)

    def admit() -> None:
        store.admit("p", policy, now=clock(), max_wait=0, timeout=None, slots=0, ttl=1)

    admit()  # fails: degraded, next probe at 0.1
    clock.now = 0.1
    admit()  # the probe fails: the next one waits twice as long, until 0.3
    redis_server.start()
    clock.now = 0.29
    admit()
    assert link.degraded
    clock.now = 0.31
    admit()
    assert not link.degraded


def test_a_flapping_redis_warns_once_a_minute(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    link = RedisLink(redis_server.url, timeout=SLOW_OK, clock=clock)
    store = FleetStore(RedisStore(link, "t"))
    policy = Policy(qps=10, burst=10, decrease=0.5, increase=1, min_qps=1, cooldown=1)

    def outage() -> None:
        redis_server.kill()
        store.admit("p", policy, now=clock(), max_wait=0, timeout=None, slots=0, ttl=1)
        redis_server.start()
        clock.now += 1  # past the probe's backoff
        store.admit("p", policy, now=clock(), max_wait=0, timeout=None, slots=0, ttl=1)
        assert not link.degraded

    with caplog.at_level(logging.DEBUG, logger="eemw_ratelimit"):
        for _ in range(3):
            outage()
        clock.now += 60
        outage()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [("not answering" in w, "answers again" in w) for w in warnings] == [
        (True, False), (False, True), (True, False), (False, True)]
    assert "2 shorter spells since the last warning" in warnings[2]
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 4


def test_a_threads_connection_goes_with_the_thread(redis_server: RedisServer) -> None:
    admin = RedisLink(redis_server.url, timeout=SLOW_OK)

    def server_sees(count: int) -> bool:
        # The server drops a closed connection on its own time: poll it, bounded.
        deadline, tick = time.monotonic() + 10, threading.Event()
        while len(admin.call(lambda c: c.client_list())) != count:
            if time.monotonic() > deadline:
                return False
            tick.wait(0.01)
        return True

    limiter = shared(redis_server, 1000)
    sent_through(limiter)
    before = len(admin.call(lambda c: c.client_list()))
    for _ in range(5):  # a thread per request, as some servers do
        thread = threading.Thread(target=sent_through, args=(limiter,))
        thread.start()
        thread.join()
    gc.collect()  # redis-py's connections hold reference cycles
    assert server_sees(before)
    limiter.close()
    assert server_sees(before - 1)
