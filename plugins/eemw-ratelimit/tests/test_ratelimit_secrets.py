"""The Redis password never shows: not in reprs, logs, span events, errors or metrics."""

from __future__ import annotations

import logging

import pytest
from eemw_ratelimit import RateLimiter, SharedRetryBudget, factory
from eemw_ratelimit.testing import RedisServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.testing import respond

SECRET = "pa55-w0rd-xyzzy"

# Time enough for a loaded test machine: these tests are not about a slow Redis.
SLOW_OK = 2.0


def request() -> eemw.Request:
    call = eemw.Call("get", "demo", "v1", "projects/demo/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", eemw.Headers(), call)


def test_a_password_protected_redis_is_shared_without_showing_the_password() -> None:
    with RedisServer(password=SECRET) as server:
        limiter = RateLimiter(10, redis_url=server.url, redis_timeout=SLOW_OK)
        limiter(request(), lambda r: respond(r, json={}))
        assert not limiter.degraded
        budget = SharedRetryBudget(server.url, redis_timeout=SLOW_OK, capacity=10, retry_cost=5)
        assert budget.try_spend(throttled=False)
        for shown in (repr(limiter), repr(budget), str(limiter.__dict__)):
            assert SECRET not in shown
        assert ":***@127.0.0.1" in repr(limiter)


def test_a_wrong_password_degrades_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with RedisServer(password="the-right-one") as server:
        url = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
        limiter = RateLimiter(10, redis_url=url)
        with caplog.at_level(logging.DEBUG), provider.get_tracer("t").start_as_current_span("c"):
            limiter(request(), lambda r: respond(r, json={}))
    assert limiter.degraded
    assert caplog.records, "the degraded mode was not logged"
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    spans = exporter.get_finished_spans()
    assert SECRET not in str([(e.name, dict(e.attributes or {})) for s in spans for e in s.events])


@pytest.mark.parametrize("url", [
    f"http://user:{SECRET}@redis.internal:6379/0",
    f"redis://user:{SECRET}@redis.internal:notaport/0",
])
def test_a_bad_url_is_refused_before_any_io_without_the_password(url: str) -> None:
    with pytest.raises(eemw.UsageError) as caught:
        RateLimiter(10, redis_url=url)
    assert SECRET not in str(caught.value)
    with pytest.raises(eemw.PluginSettingError) as setting:
        factory({"redis_url": url})
    assert SECRET not in str(setting.value)
    assert "EEMW_PLUGIN_RATELIMIT_REDIS_URL" in str(setting.value)
