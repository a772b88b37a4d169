"""The limiter's waits, refusals, rate and degraded state as OpenTelemetry metrics."""

from __future__ import annotations

from typing import Any

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter
from eemw_ratelimit.testing import RedisServer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import eemw
from eemw.testing import FakeClock, respond

# Time enough for a loaded test machine: these tests are not about a slow Redis.
SLOW_OK = 2.0


def request() -> eemw.Request:
    call = eemw.Call("get", "demo", "v1", "projects/demo/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", eemw.Headers(), call)


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_waits_refusals_and_rates_are_measured() -> None:
    reader = InMemoryMetricReader()
    clock = FakeClock()
    rl = RateLimiter(10, burst=1, max_wait=0.15, clock=clock, sleep=clock.sleep,
                     meter_provider=MeterProvider(metric_readers=[reader]))
    for _ in range(2):
        rl(request(), lambda r: respond(r, json={}))
    rl.reserve("demo")  # the next free token is now 0.2 s away
    with pytest.raises(RateLimitedError):
        rl(request(), lambda r: respond(r, json={}))
    got = points(reader)
    (waits,) = got["eemw.ratelimit.wait"]
    assert (waits.count, waits.sum) == (2, pytest.approx(0.1))
    (refused,) = got["eemw.ratelimit.rejections"]
    assert refused.value == 1
    assert dict(refused.attributes) == {"eemw.quota_project": "demo",
                                        "eemw.ratelimit.reason": "rate"}
    (rate,) = got["eemw.ratelimit.rate"]
    assert rate.value == 10
    assert rate.attributes["eemw.ratelimit.shared"] is False


def test_degraded_state_and_time_are_measured(redis_server: RedisServer) -> None:
    reader = InMemoryMetricReader()
    rl = RateLimiter(10, redis_url=redis_server.url, redis_timeout=SLOW_OK,
                     meter_provider=MeterProvider(metric_readers=[reader]))
    rl(request(), lambda r: respond(r, json={}))
    got = points(reader)
    assert [p.value for p in got["eemw.ratelimit.degraded"]] == [0]
    assert got["eemw.ratelimit.rate"][0].attributes["eemw.ratelimit.shared"] is True
    redis_server.kill()
    rl(request(), lambda r: respond(r, json={}))
    got = points(reader)
    assert [p.value for p in got["eemw.ratelimit.degraded"]] == [1]
    assert dict(got["eemw.ratelimit.degraded"][0].attributes) == {
        "eemw.ratelimit.store": "ratelimit"}
    (spent,) = got["eemw.ratelimit.degraded.time"]
    assert spent.value > 0
