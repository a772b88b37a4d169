"""``http.client.request.duration`` through the real transport to the emulator, read back
with the OpenTelemetry SDK's in-memory reader as an HTTP dashboard would see it; and the
schema URL of eemw's instrumentation scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.emulator import Emulator, Fault

SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def get_with_metrics(emu: Emulator, reader: InMemoryMetricReader) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), sleep=emu.advance,
        retry=eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as client:
        client.operations.get(name)


def http_metric(reader: InMemoryMetricReader) -> tuple[Any, Any]:
    """The scope and the metric ``http.client.request.duration`` were recorded in."""
    data = reader.get_metrics_data()
    assert data is not None
    (found,) = [
        (scope.scope, metric)
        for resource in data.resource_metrics for scope in resource.scope_metrics
        for metric in scope.metrics if metric.name == "http.client.request.duration"
    ]
    return found


def test_one_data_point_per_attempt_of_a_503_then_200_call(emu: Emulator) -> None:
    reader = InMemoryMetricReader()
    emu.add_fault(Fault(status=503, times=1))
    get_with_metrics(emu, reader)
    _, metric = http_metric(reader)
    assert metric.unit == "s"
    url = urlsplit(emu.url)
    common = {"http.request.method": "GET", "server.address": url.hostname,
              "server.port": url.port, "url.scheme": "http"}
    points = sorted(
        ((dict(p.attributes or {}), p.count) for p in metric.data.data_points),
        key=lambda item: item[0]["http.response.status_code"],
    )
    assert points == [
        ({**common, "http.response.status_code": 200}, 1),
        ({**common, "http.response.status_code": 503, "error.type": "503"}, 1),
    ]


def test_the_scope_is_eemw_with_the_semantic_conventions_schema_url(emu: Emulator) -> None:
    reader = InMemoryMetricReader()
    get_with_metrics(emu, reader)
    scope, _ = http_metric(reader)
    assert (scope.name, scope.version, scope.schema_url) == ("eemw", eemw.__version__, SCHEMA_URL)


def test_spans_come_from_the_same_scope_and_schema_url(emu: Emulator) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = emu.add_operation("demo", state="RUNNING")
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                     tracer_provider=provider) as client:
        client.operations.get(name)
    scopes = {(s.instrumentation_scope.name, s.instrumentation_scope.schema_url)
              for s in exporter.get_finished_spans() if s.instrumentation_scope}
    assert scopes == {("eemw", SCHEMA_URL)}


def test_a_dropped_connection_has_an_error_type_and_no_status(emu: Emulator) -> None:
    reader = InMemoryMetricReader()
    emu.add_fault(Fault(kind="drop_before", times=1))
    get_with_metrics(emu, reader)
    _, metric = http_metric(reader)
    failed = [dict(p.attributes or {}) for p in metric.data.data_points
              if "error.type" in (p.attributes or {})]
    assert len(failed) == 1
    assert "http.response.status_code" not in failed[0]
    assert failed[0]["error.type"] in {"ConnectError", "ReadError"}  # eemw's class, no status
