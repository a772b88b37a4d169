"""The shipped plugins against the emulator, through the real transport over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter
from google.oauth2 import service_account
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.emulator import Emulator, Fault

NO_BACKOFF = eemw.RetryPolicy(initial_backoff=0.0, max_backoff=0.0)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def api_requests(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if not r.path.startswith("/token")]


class Timeline:
    """One fake clock for the client and the limiter; records when attempts are sent."""

    def __init__(self) -> None:
        self.now = 0.0
        self.limiter_sleeps: list[float] = []
        self.sent: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def limiter_sleep(self, seconds: float) -> None:
        self.limiter_sleeps.append(seconds)
        self.now += seconds

    def stamp(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        self.sent.append(self.now)
        return call_next(request)


def limited_client(emu: Emulator, timeline: Timeline, limiter: RateLimiter) -> eemw.Client:
    return eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), retry=NO_BACKOFF,
        clock=timeline.clock, sleep=timeline.sleep,
        middleware=[
            eemw.Entry("ratelimit", limiter, "attempt", after="auth"),
            eemw.Entry("stamp", timeline.stamp, "attempt", before="check"),
        ],
    )


def test_the_limiter_spreads_a_burst_at_its_rate(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    timeline = Timeline()
    limiter = RateLimiter(10, burst=3, clock=timeline.clock, sleep=timeline.limiter_sleep)
    client = limited_client(emu, timeline, limiter)

    for _ in range(12):
        client.operations.get(name)

    assert len(api_requests(emu)) == 12
    # Three go at once, then one every 1/10 s.
    assert timeline.limiter_sleeps == pytest.approx([0.1] * 9)
    sent = timeline.sent
    for i in range(len(sent)):
        for j in range(i, len(sent)):
            assert j - i + 1 <= 3 + 10 * (sent[j] - sent[i]) + 1e-9


def test_the_limiter_backs_off_on_429_and_recovers(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    timeline = Timeline()
    limiter = RateLimiter(
        10, burst=1, increase=1, clock=timeline.clock, sleep=timeline.limiter_sleep
    )
    client = limited_client(emu, timeline, limiter)
    emu.add_fault(Fault(status=429, times=2))

    client.operations.get(name)  # 429, 429, then success: retried through the limiter

    assert [r.method for r in api_requests(emu)] == ["GET"] * 3
    # The first 429 halved the rate (10 -> 5); the second came 0.2 s later, within the
    # one-second cool-down, so it emptied the bucket without cutting the rate again.
    assert timeline.limiter_sleeps == pytest.approx([1 / 5, 1 / 5])
    assert limiter.rate("demo") == 6  # the success added one request/s back
    for _ in range(3):
        client.operations.get(name)
    assert limiter.rate("demo") == 9
    timeline.now += 1.0
    emu.add_fault(Fault(status=429, times=1))
    client.operations.get(name)  # a 429 after the cool-down cuts again: 9 -> 4.5, +1
    assert limiter.rate("demo") == 5.5


def test_fail_mode_refuses_without_sending_and_the_client_recovers(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    timeline = Timeline()
    limiter = RateLimiter(1, mode="fail", clock=timeline.clock, sleep=timeline.limiter_sleep)
    client = limited_client(emu, timeline, limiter)

    client.operations.get(name)
    with pytest.raises(RateLimitedError) as caught:
        client.operations.get(name)
    assert caught.value.project == "demo"
    assert len(api_requests(emu)) == 1
    timeline.now += 1.0
    client.operations.get(name)
    assert len(api_requests(emu)) == 2


def test_the_installed_plugin_limits_per_quota_project(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    client = eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), quota_project="billing-demo",
        retry=NO_BACKOFF, plugins=["ratelimit"],
        plugin_settings={"ratelimit": {"qps": "1000", "burst": "10"}},
    )
    limiter = next(e.middleware for e in client.stack.entries if e.name == "ratelimit")
    assert isinstance(limiter, RateLimiter)
    emu.add_fault(Fault(status=429, times=1))

    client.operations.get(name)

    assert api_requests(emu)[0].headers["X-Goog-User-Project"] == "billing-demo"
    assert limiter.rate("billing-demo") == 500 + 10  # halved, then one success (+qps/100)
    assert limiter.rate("demo") == 1000


def test_the_audit_log_records_a_cancel_with_key_trace_and_identity(
    emu: Emulator, tmp_path: Path
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    info = emu.service_account_info()
    credentials = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = tmp_path / "audit.jsonl"
    client = eemw.Client(
        "demo", endpoint=emu.url, credentials=credentials, tracer_provider=provider,
        retry=NO_BACKOFF, plugins=["audit"], plugin_settings={"audit": {"path": str(path)}},
    )
    emu.add_fault(Fault(status=503, times=1))

    client.operations.cancel(name)

    text = path.read_text()
    [record] = [json.loads(line) for line in text.splitlines()]
    attempts = [r for r in api_requests(emu) if r.path.endswith(":cancel")]
    assert len(attempts) == 2  # one record per call, not per attempt
    keys = {r.headers["Idempotency-Key"] for r in attempts}
    assert keys == {record["idempotency_key"]}
    [call_span] = [s for s in exporter.get_finished_spans() if s.name == "eemw operations.cancel"]
    assert record["trace_id"] == format(call_span.context.trace_id, "032x")
    assert attempts[-1].headers["traceparent"].split("-")[1] == record["trace_id"]
    assert record["identity"] == info["client_email"]
    assert (record["call"], record["operation"], record["project"]) == (
        "operations.cancel", name, "demo")
    assert (record["outcome"], record["error_code"]) == ("ok", None)
    assert emu.cancel_effects(name) == 1
    token = client.credentials.token
    assert token and token not in text
    assert attempts[-1].headers["Authorization"] == f"Bearer {token}"


def test_the_audit_log_records_a_refused_cancel(emu: Emulator, tmp_path: Path) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    path = tmp_path / "audit.jsonl"
    client = eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), retry=NO_BACKOFF,
        plugins=["audit"], plugin_settings={"audit": {"path": str(path)}},
    )
    with pytest.raises(eemw.FailedPreconditionError):
        client.operations.cancel(name, idempotency_key="ticket-1")
    [record] = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["outcome"] == "error"
    assert record["error_code"] == "FAILED_PRECONDITION"
    assert record["idempotency_key"] == "ticket-1"


def test_an_audit_log_that_cannot_be_written_fails_the_call_loudly(
    emu: Emulator, tmp_path: Path
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    folder = tmp_path / "logs"
    folder.mkdir()
    client = eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), retry=NO_BACKOFF,
        plugins=["audit"], plugin_settings={"audit": {"path": str(folder / "audit.jsonl")}},
    )
    (folder / "audit.jsonl").unlink()
    folder.rmdir()
    with pytest.raises(eemw.PluginError) as caught:
        client.operations.cancel(name)
    assert (caught.value.plugin, caught.value.distribution) == ("audit", "eemw-audit")
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    client.operations.get(name)  # reads are not audited: the client still works
