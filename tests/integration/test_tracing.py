"""Tracing through the real requests transport to the emulator over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import eemw
from eemw.emulator import Emulator, Fault, RecordedRequest


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def instrumented_requests(provider: TracerProvider) -> Iterator[None]:
    """The requests auto-instrumentation on, recording to the same provider as eemw."""
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


class SessionTransport:
    """A user's own transport sending through ``requests.Session.send``, the method the
    requests auto-instrumentation hooks (eemw's own transport goes below it)."""

    def __init__(self) -> None:
        self.session = requests.Session()

    def __call__(self, request: eemw.Request) -> eemw.Response:
        answer = self.session.request(
            request.method, request.url, headers=dict(request.headers), data=request.body,
            timeout=request.timeout, allow_redirects=False,
        )
        return eemw.Response(answer.status_code, eemw.Headers(answer.headers), answer.content,
                             request)

    def google_auth_request(self) -> Any:
        from google.auth.transport.requests import Request

        return Request(self.session)


def make_client(emu: Emulator, **options: Any) -> eemw.Client:
    settings: dict[str, Any] = {
        "endpoint": emu.url,
        "credentials": emu.credentials(),
        "retry": eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
        "sleep": emu.advance,
    }
    settings.update(options)
    return eemw.Client("demo", **settings)


def api_requests(emu: Emulator) -> list[RecordedRequest]:
    return [r for r in emu.requests if not r.path.startswith("/token")]


def eemw_spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [
        s for s in exporter.get_finished_spans()
        if s.kind is kind and s.instrumentation_scope is not None
        and s.instrumentation_scope.name == "eemw"
    ]


def traceparent(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def url_of(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("url.full") or attributes.get("http.url"))


def test_a_retried_call_has_one_client_span_per_attempt_and_each_sends_its_own(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=503, times=1))
    with make_client(emu, tracer_provider=provider) as client:
        client.operations.get(name)
    (call,) = eemw_spans(exporter, SpanKind.INTERNAL)
    attempts = eemw_spans(exporter, SpanKind.CLIENT)
    wire = api_requests(emu)
    assert len(attempts) == len(wire) == 2
    assert [r.headers["traceparent"] for r in wire] == [traceparent(a) for a in attempts]
    assert call.name == "eemw operations.get"
    assert call.attributes is not None
    assert call.attributes["eemw.operation.name"] == name
    assert [e.name for e in call.events] == ["eemw.retry"]
    for attempt in attempts:
        assert attempt.name == "GET"
        assert attempt.parent is not None and call.context is not None
        assert attempt.parent.span_id == call.context.span_id
        assert attempt.attributes is not None
        assert attempt.attributes["url.full"] == f"{emu.url}/v1/{name}"
        assert attempt.attributes["server.address"] == "127.0.0.1"
        assert attempt.attributes["server.port"] == emu.port
    first, second = (a.attributes or {} for a in attempts)
    assert (first["http.response.status_code"], first["error.type"]) == (503, "503")
    assert "http.request.resend_count" not in first
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert second["http.response.status_code"] == 200
    assert second["http.request.resend_count"] == 1
    assert "error.type" not in second


@pytest.mark.usefixtures("instrumented_requests")
def test_with_requests_instrumented_each_attempt_still_has_exactly_one_client_span(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=503, times=1))
    with make_client(emu, tracer_provider=provider) as client:
        client.operations.get(name)
    clients = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    api = [s for s in clients if "/operations/" in url_of(s)]
    assert len(api) == len(api_requests(emu)) == 2
    assert api == eemw_spans(exporter, SpanKind.CLIENT)
    # The token fetch is not an eemw attempt: it keeps its own span, inside the call.
    (token,) = [s for s in clients if s not in api]
    assert url_of(token).endswith("/token")
    (call,) = eemw_spans(exporter, SpanKind.INTERNAL)
    assert token.parent is not None and call.context is not None
    assert token.parent.span_id == call.context.span_id


@pytest.mark.usefixtures("instrumented_requests")
def test_a_transport_on_requests_sessions_is_not_traced_twice(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=503, times=1))
    with make_client(emu, tracer_provider=provider, transport=SessionTransport()) as client:
        client.operations.get(name)
    api = [s for s in exporter.get_finished_spans()
           if s.kind is SpanKind.CLIENT and "/operations/" in url_of(s)]
    assert api == eemw_spans(exporter, SpanKind.CLIENT)
    assert [r.headers["traceparent"] for r in api_requests(emu)] == [traceparent(a) for a in api]
    assert len(api) == 2


def test_a_resend_after_a_401_is_counted_as_a_resend(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with make_client(emu, tracer_provider=provider) as client:
        client.operations.get(name)
        emu.expire_tokens()
        exporter.clear()
        client.operations.get(name)
    attempts = eemw_spans(exporter, SpanKind.CLIENT)
    summary = [((a.attributes or {}).get("http.response.status_code"),
                (a.attributes or {}).get("http.request.resend_count")) for a in attempts]
    assert summary == [(401, None), (200, 1)]
    assert (attempts[0].attributes or {})["error.type"] == "401"


def test_a_refused_connection_is_an_error_without_a_status_code(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with Emulator() as gone:
        url = gone.url
    client = eemw.Client(
        "demo", endpoint=url, credentials=AnonymousCredentials(), tracer_provider=provider,
        retry=eemw.RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.002),
        sleep=lambda seconds: None,
    )
    with client, pytest.raises(eemw.ConnectError):
        client.operations.get("projects/demo/operations/x")
    attempts = eemw_spans(exporter, SpanKind.CLIENT)
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt.attributes is not None
        assert attempt.attributes["error.type"] == "ConnectError"
        assert "http.response.status_code" not in attempt.attributes
        assert attempt.status.status_code is StatusCode.ERROR
    (call,) = eemw_spans(exporter, SpanKind.INTERNAL)
    assert call.attributes is not None
    assert call.attributes["error.type"] == "ConnectError"  # the last attempt's own type
    assert call.status.status_code is StatusCode.ERROR


def test_metrics_after_a_call_that_retried_once(emu: Emulator) -> None:
    reader = InMemoryMetricReader()
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=503, times=1))
    with make_client(emu, meter_provider=MeterProvider(metric_readers=[reader])) as client:
        client.operations.get(name)
    data = reader.get_metrics_data()
    assert data is not None
    found = {
        metric.name: {frozenset((p.attributes or {}).items()): p for p in metric.data.data_points}
        for resource in data.resource_metrics for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    get = ("eemw.call", "operations.get")
    failed = frozenset({get, ("error.type", "503")})
    assert {k: p.value for k, p in found["eemw.client.attempts"].items()} == {
        failed: 1, frozenset({get}): 1,
    }
    assert {k: p.value for k, p in found["eemw.client.retries"].items()} == {failed: 1}
    (duration,) = found["eemw.client.call.duration"].items()
    assert duration[0] == frozenset({get})
    assert duration[1].count == 1 and duration[1].sum > 0
    op_id = name.rsplit("/", 1)[1]
    for points in found.values():
        for key in points:
            assert all(op_id not in str(value) for _, value in key)
