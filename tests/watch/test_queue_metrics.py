"""QueueMetrics: gauges a service exports, read with the SDK's InMemoryMetricReader."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import eemw
from eemw.emulator import Emulator, Fault

ClientFactory = Callable[..., eemw.Client]
ROOT = Path(__file__).resolve().parents[2]


def points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], float]]:
    """Every gauge point collected now: metric name → attributes → value."""
    found: dict[str, dict[tuple[tuple[str, Any], ...], float]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attrs = tuple(sorted((point.attributes or {}).items()))
                    found.setdefault(metric.name, {})[attrs] = point.value
    return found


def key(**attrs: str) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted({"eemw.project": "demo", **attrs}.items()))


def queued(state: str, kind: str) -> tuple[tuple[str, Any], ...]:
    return key(**{"eemw.operation.state": state, "eemw.operation.type": kind})


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def test_gauges_report_the_queue_by_state_and_type(
    emu: Emulator, make_client: ClientFactory, reader: InMemoryMetricReader
) -> None:
    for _ in range(3):
        emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE", start_after=0.0,
                          duration=100.0)
    emu.add_operation("demo", state="PENDING", type="INGEST_TABLE", start_after=50.0)
    emu.add_operation("demo", state="RUNNING", type="INGEST_TABLE", start_after=0.0,
                      duration=20.0, fail_at_end=True)
    emu.add_operation("demo", state="FAILED", type="EXPORT_IMAGE")  # failed before the start
    started = datetime(2030, 1, 1, tzinfo=timezone.utc)
    client = make_client()
    metrics = eemw.QueueMetrics(client, meter_provider=MeterProvider(metric_readers=[reader]),
                                window=60, now=lambda: started + timedelta(seconds=emu.now))
    assert points(reader).get("eemw.queue.operations") is None  # nothing before a round
    metrics.refresh()
    seen = points(reader)
    assert seen["eemw.queue.operations"] == {
        queued("RUNNING", "EXPORT_IMAGE"): 3,
        queued("RUNNING", "INGEST_TABLE"): 1,
        queued("PENDING", "INGEST_TABLE"): 1,
    }
    assert "eemw.queue.failures" not in seen
    emu.advance(30)
    metrics.refresh()
    seen = points(reader)
    assert seen["eemw.queue.operations"] == {
        queued("RUNNING", "EXPORT_IMAGE"): 3,
        queued("PENDING", "INGEST_TABLE"): 1,
    }
    assert seen["eemw.queue.failures"] == {key(**{"eemw.operation.type": "INGEST_TABLE"}): 1}
    emu.advance(61)
    metrics.refresh()
    assert "eemw.queue.failures" not in points(reader)  # out of the window
    requests = [r for r in emu.requests if not r.path.startswith("/token")]
    assert len(requests) == 3  # a page a round; collecting the gauges sent nothing


def test_oldest_running_age_is_measured_from_the_start_time(
    emu: Emulator, make_client: ClientFactory, reader: InMemoryMetricReader
) -> None:
    name = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=1000.0)
    client = make_client()
    op = client.operations.get(name)
    assert op.metadata.start_time is not None
    at = op.metadata.start_time + timedelta(seconds=90)
    metrics = eemw.QueueMetrics(client, meter_provider=MeterProvider(metric_readers=[reader]),
                                now=lambda: at)
    metrics.refresh()
    assert points(reader)["eemw.queue.oldest_running_age"] == {key(): 90.0}


def test_a_failed_round_keeps_the_last_snapshot(
    emu: Emulator, make_client: ClientFactory, reader: InMemoryMetricReader
) -> None:
    emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE", start_after=0.0,
                      duration=100.0)
    client = make_client(retry=eemw.RetryPolicy(max_attempts=1))
    metrics = eemw.QueueMetrics(client, meter_provider=MeterProvider(metric_readers=[reader]))
    metrics.refresh()
    emu.add_fault(Fault(status=403, times=1))
    with pytest.raises(eemw.PermissionDeniedError):
        metrics.refresh()
    assert points(reader)["eemw.queue.operations"] == {queued("RUNNING", "EXPORT_IMAGE"): 1}


def test_start_refreshes_on_a_thread_until_closed(
    emu: Emulator, reader: InMemoryMetricReader
) -> None:
    emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE", start_after=0.0,
                      duration=100.0)
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
        provider = MeterProvider(metric_readers=[reader])
        with eemw.QueueMetrics(client, meter_provider=provider, poll_interval=3600) as metrics:
            metrics.start()  # the first round runs before start returns
            assert points(reader)["eemw.queue.operations"] == {
                queued("RUNNING", "EXPORT_IMAGE"): 1
            }
            thread = next(t for t in threading.enumerate() if t.name == "eemw-queue-metrics")
        # Closing cut the thread's hour-long wait short.
        assert not thread.is_alive()


def test_start_fails_at_once_for_a_project_it_cannot_list(
    emu: Emulator, make_client: ClientFactory
) -> None:
    emu.add_fault(Fault(status=403, times=1))
    client = make_client()
    metrics = eemw.QueueMetrics(client, meter_provider=MeterProvider())
    with pytest.raises(eemw.PermissionDeniedError):
        metrics.start()
    assert not any(t.name == "eemw-queue-metrics" for t in threading.enumerate())


@pytest.mark.parametrize("options", [{"poll_interval": 0}, {"window": "60"}])
def test_bad_settings_fail_before_anything_is_sent(
    emu: Emulator, make_client: ClientFactory, options: dict[str, Any]
) -> None:
    with pytest.raises(eemw.UsageError):
        eemw.QueueMetrics(make_client(), **options)
    assert emu.requests == []


def test_the_example_prints_the_gauges() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "queue_metrics.py")],
                          capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "eemw.queue.operations{state=RUNNING, type=EXPORT_IMAGE} = 6" in done.stdout
    assert "eemw.queue.oldest_running_age{} = 70" in done.stdout
    assert "eemw.queue.failures{type=EXPORT_IMAGE} = 1" in done.stdout
