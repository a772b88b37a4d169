"""The tracing stage alone (MockTransport, no network): spans, trace headers, metrics, cost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util._once import Once

import eemw
from eemw import (
    Call,
    ConnectError,
    Context,
    Entry,
    Headers,
    NotFoundError,
    Request,
    Response,
    RetryPolicy,
    Stack,
)
from eemw._metrics import Metrics
from eemw.keys import TRACE_ATTRIBUTES
from eemw.middleware import Tracing
from eemw.middleware import tracing as tracing_module
from eemw.testing import MockTransport, respond

NAME = "projects/demo/operations/op-1"
URL = "https://earthengine.googleapis.com/v1/" + NAME
GET = Call("get", "demo", "v1", NAME)


def ok(request: Request) -> Response:
    return respond(request, json={"name": NAME, "done": False})


def unavailable(request: Request) -> Response:
    envelope = {"code": 503, "message": "down", "status": "UNAVAILABLE"}
    return respond(request, 503, json={"error": envelope})


def sequence(*handlers: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A handler answering the n-th request with the n-th handler (the last one repeats)."""
    sent: list[Request] = []

    def handler(request: Request) -> Response:
        sent.append(request)
        return handlers[min(len(sent), len(handlers)) - 1](request)

    return handler


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    # Every attach must be matched by a detach, on success and on failure alike.
    before = otel_context.get_current()
    yield
    assert otel_context.get_current() == before


@pytest.fixture
def no_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """No global tracer provider for this test, whatever ran before; restored afterwards."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.delenv("OTEL_PYTHON_TRACER_PROVIDER", raising=False)


def client(handler: Callable[[Request], Response], **options: Any) -> eemw.Client:
    settings: dict[str, Any] = {
        "transport": MockTransport(handler),
        "credentials": AnonymousCredentials(),
        "retry": RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
        "sleep": lambda seconds: None,
    }
    settings.update(options)
    return eemw.Client("demo", **settings)


def pipeline(tracing: Tracing, transport: Callable[[Request], Response]) -> eemw.Pipeline:
    return Stack([
        Entry("tracing", tracing, "call"), Entry("http-tracing", tracing.http(), "attempt"),
    ]).build(transport)


def request(url: str = URL, method: str = "GET", context: Context | None = None) -> Request:
    return Request(method, url, Headers({"accept": "application/json"}), GET,
                   context=context or Context())


def by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


def only(spans: list[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def traceparent(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def points(reader: InMemoryMetricReader, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
    """The data points of metric ``name``, keyed by their attributes."""
    data = reader.get_metrics_data()
    found: dict[frozenset[tuple[str, Any]], Any] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        found[frozenset((point.attributes or {}).items())] = point
    return found


# -- the call span -------------------------------------------------------------------------


def test_one_internal_span_per_call_named_after_it_with_project_and_operation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client(ok, tracer_provider=provider).operations.get(NAME)
    span = only(by_kind(exporter, SpanKind.INTERNAL))
    assert span.name == "eemw operations.get"
    assert span.attributes == {
        "eemw.call": "operations.get",
        "eemw.project": "demo",
        "eemw.api_version": "v1",
        "eemw.operation.name": NAME,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "eemw"
    assert span.instrumentation_scope.version == eemw.__version__


def test_a_list_call_span_has_the_project_but_no_operation_name(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    page = sequence(lambda r: respond(r, json={"operations": []}))
    assert list(client(page, tracer_provider=provider).operations.list()) == []
    span = only(by_kind(exporter, SpanKind.INTERNAL))
    assert span.name == "eemw operations.list"
    assert span.attributes is not None
    assert span.attributes["eemw.project"] == "demo"
    assert "eemw.operation.name" not in span.attributes


def test_caller_trace_attributes_are_added_and_eemw_names_win(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    extra = {"team": "maps", "eemw.project": "spoofed", "batch.size": 3}
    send = pipeline(Tracing(tracer_provider=provider), ok)
    send(request(context=Context().set(TRACE_ATTRIBUTES, extra)))
    span = only(by_kind(exporter, SpanKind.INTERNAL))
    assert span.attributes is not None
    assert span.attributes["team"] == "maps"
    assert span.attributes["batch.size"] == 3
    assert span.attributes["eemw.project"] == "demo"
    assert "team" not in (only(by_kind(exporter, SpanKind.CLIENT)).attributes or {})


def test_the_call_span_is_a_child_of_the_callers_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("app").start_as_current_span("handle request") as outer:
        client(ok, tracer_provider=provider).operations.get(NAME)
    span = only([s for s in by_kind(exporter, SpanKind.INTERNAL) if s.name.startswith("eemw")])
    assert span.parent is not None
    assert span.parent.span_id == outer.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == outer.get_span_context().trace_id


def test_a_failed_call_marks_the_call_span_with_the_error_class(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    def missing(request: Request) -> Response:
        envelope = {"code": 404, "message": "no such operation", "status": "NOT_FOUND"}
        return respond(request, 404, json={"error": envelope})

    with pytest.raises(NotFoundError) as raised:
        client(missing, tracer_provider=provider).operations.get(NAME)
    span = only(by_kind(exporter, SpanKind.INTERNAL))
    assert span.attributes is not None
    assert span.attributes["error.type"] == "NotFoundError"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == str(raised.value)
    assert [e.name for e in span.events] == ["exception"]
    attempt = only(by_kind(exporter, SpanKind.CLIENT))
    assert attempt.attributes is not None
    assert attempt.attributes["error.type"] == "404"
    assert attempt.attributes["http.response.status_code"] == 404
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.status.description is None


def test_an_unexpected_exception_is_recorded_without_copying_its_message_to_the_status(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    def broken(request: Request) -> Response:
        raise KeyError("something private")

    send = pipeline(Tracing(tracer_provider=provider), broken)
    with pytest.raises(KeyError):
        send(request())
    for span in exporter.get_finished_spans():
        assert span.attributes is not None
        assert span.attributes["error.type"] == "KeyError"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description is None


# -- the attempt spans ---------------------------------------------------------------------


def test_each_attempt_is_a_client_span_following_the_http_conventions(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client(ok, tracer_provider=provider).operations.get(NAME)
    call = only(by_kind(exporter, SpanKind.INTERNAL))
    attempt = only(by_kind(exporter, SpanKind.CLIENT))
    assert attempt.name == "GET"
    assert attempt.attributes == {
        "http.request.method": "GET",
        "url.full": URL,
        "server.address": "earthengine.googleapis.com",
        "server.port": 443,
        "http.response.status_code": 200,
        "eemw.call": "operations.get",
    }
    assert attempt.status.status_code is StatusCode.UNSET
    assert attempt.parent is not None and call.context is not None
    assert attempt.parent.span_id == call.context.span_id


def test_a_cancel_attempt_is_named_after_its_method(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client(lambda r: respond(r, json={}), tracer_provider=provider).operations.cancel(NAME)
    assert only(by_kind(exporter, SpanKind.INTERNAL)).name == "eemw operations.cancel"
    attempt = only(by_kind(exporter, SpanKind.CLIENT))
    assert attempt.name == "POST"
    assert attempt.attributes is not None
    assert attempt.attributes["url.full"] == URL + ":cancel"


def test_url_full_has_credentials_redacted(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    url = "https://alice:hunter2@ee.example:8443/v1/x?pageSize=5&access_token=ya29.secret#key=k"
    pipeline(Tracing(tracer_provider=provider), ok)(request(url))
    attributes = only(by_kind(exporter, SpanKind.CLIENT)).attributes
    assert attributes is not None
    assert attributes["url.full"] == (
        "https://REDACTED:REDACTED@ee.example:8443/v1/x?pageSize=5&access_token=REDACTED"
        "#key=REDACTED"
    )
    assert attributes["server.address"] == "ee.example"
    assert attributes["server.port"] == 8443
    for value in attributes.values():
        assert "hunter2" not in str(value) and "ya29" not in str(value)


def test_the_default_port_follows_the_scheme(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    pipeline(Tracing(tracer_provider=provider), ok)(request("http://[::1]/v1/x"))
    attributes = only(by_kind(exporter, SpanKind.CLIENT)).attributes
    assert attributes is not None
    assert attributes["server.address"] == "::1"
    assert attributes["server.port"] == 80


def test_a_malformed_port_leaves_server_port_out_and_the_call_goes_on(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    pipeline(Tracing(tracer_provider=provider), ok)(request("https://ee.example:99999/v1/x"))
    attributes = only(by_kind(exporter, SpanKind.CLIENT)).attributes
    assert attributes is not None
    assert attributes["server.address"] == "ee.example"
    assert "server.port" not in attributes


def test_an_unknown_method_is_reported_as_other(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    pipeline(Tracing(tracer_provider=provider), ok)(request(method="PROPFIND"))
    attempt = only(by_kind(exporter, SpanKind.CLIENT))
    assert attempt.name == "HTTP"
    assert attempt.attributes is not None
    assert attempt.attributes["http.request.method"] == "_OTHER"
    assert attempt.attributes["http.request.method_original"] == "PROPFIND"


def test_retried_attempts_carry_the_resend_count_and_the_call_span_the_retry_events(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    handler = sequence(unavailable, unavailable, ok)
    client(handler, tracer_provider=provider).operations.get(NAME)
    call = only(by_kind(exporter, SpanKind.INTERNAL))
    attempts = by_kind(exporter, SpanKind.CLIENT)
    assert len(attempts) == 3
    resends = [(a.attributes or {}).get("http.request.resend_count") for a in attempts]
    assert resends == [None, 1, 2]
    for failed in attempts[:2]:
        assert failed.attributes is not None
        assert failed.attributes["http.response.status_code"] == 503
        assert failed.attributes["error.type"] == "503"
        assert failed.status.status_code is StatusCode.ERROR
    assert "error.type" not in (attempts[2].attributes or {})
    assert attempts[2].status.status_code is StatusCode.UNSET
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id
               for a in attempts if call.context is not None)
    retries = [e for e in call.events if e.name == "eemw.retry"]
    assert [(e.attributes or {}).get("error.type") for e in retries] == ["503", "503"]
    assert call.status.status_code is StatusCode.UNSET


def test_every_resend_counts_even_one_the_retry_stage_did_not_make(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # As the auth stage does after a 401: the same attempt sent again, ATTEMPT unchanged.
    def send_twice(request: Request, call_next: eemw.Handler) -> Response:
        call_next(request)
        return call_next(request)

    tracing = Tracing(tracer_provider=provider)
    stack = Stack([
        Entry("tracing", tracing, "call"), Entry("twice", send_twice, "attempt"),
        Entry("http-tracing", tracing.http(), "attempt"),
    ])
    stack.build(ok)(request())
    attempts = by_kind(exporter, SpanKind.CLIENT)
    assert [(a.attributes or {}).get("http.request.resend_count") for a in attempts] == [None, 1]


def test_a_transport_failure_sets_the_error_class_and_no_status_code(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    def refused(request: Request) -> Response:
        raise ConnectError("GET https://earthengine.googleapis.com/...: could not connect")

    with pytest.raises(ConnectError):
        client(refused, tracer_provider=provider, retry=RetryPolicy.none()).operations.get(NAME)
    attempt = only(by_kind(exporter, SpanKind.CLIENT))
    assert attempt.attributes is not None
    assert attempt.attributes["error.type"] == "ConnectError"
    assert "http.response.status_code" not in attempt.attributes
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.status.description is not None
    assert "could not connect" in attempt.status.description
    call = only(by_kind(exporter, SpanKind.INTERNAL))
    assert call.attributes is not None
    assert call.attributes["error.type"] == "ConnectError"


# -- trace context and auto-instrumentation ------------------------------------------------


def test_each_attempt_sends_its_own_client_span_as_traceparent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    c = client(sequence(unavailable, ok), tracer_provider=provider)
    c.operations.get(NAME)
    sent = [r.headers.get("traceparent") for r in c.transport.requests]  # type: ignore[attr-defined]
    assert sent == [traceparent(a) for a in by_kind(exporter, SpanKind.CLIENT)]
    assert len(set(sent)) == 2


def test_http_auto_instrumentation_is_suppressed_only_inside_the_attempt(
    provider: TracerProvider,
) -> None:
    seen: list[bool] = []

    def transport(request: Request) -> Response:
        seen.append(is_http_instrumentation_enabled())
        return ok(request)

    client(transport, tracer_provider=provider).operations.get(NAME)
    assert seen == [False]
    assert is_http_instrumentation_enabled()


def test_a_sampled_out_call_still_propagates_its_decision(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    c = client(ok, tracer_provider=provider)
    c.operations.get(NAME)
    assert exporter.get_finished_spans() == ()
    header = c.transport.requests[0].headers["traceparent"]  # type: ignore[attr-defined]
    version, _, _, flags = header.split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01 == 0  # the sampled flag is off, so the server won't sample


def test_spans_stay_with_their_own_call_across_threads(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    c = client(ok, tracer_provider=provider)
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        for _ in range(5):
            c.operations.get(NAME)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = {s.context.span_id: s for s in by_kind(exporter, SpanKind.INTERNAL) if s.context}
    attempts = by_kind(exporter, SpanKind.CLIENT)
    assert len(calls) == len(attempts) == 40
    parents = [a.parent.span_id for a in attempts if a.parent is not None]
    assert sorted(parents) == sorted(calls)
    for a in attempts:
        assert a.parent is not None and a.context is not None
        assert calls[a.parent.span_id].context.trace_id == a.context.trace_id  # type: ignore[union-attr]


# -- without an SDK ------------------------------------------------------------------------


def test_a_traced_call_needs_only_the_opentelemetry_api() -> None:
    # A process that never imports OpenTelemetry does not pay for it: nothing could have
    # configured it. Once the application imports the API, calls use it, and only it.
    script = """
import json, sys
from google.auth.credentials import AnonymousCredentials
import eemw
from eemw.testing import MockTransport, respond
name = "projects/demo/operations/op-1"
client = eemw.Client("demo", credentials=AnonymousCredentials(),
                     transport=MockTransport(lambda r: respond(r, json={"name": name})))
def loaded():
    return sorted(m for m in sys.modules if m.startswith("opentelemetry"))
client.operations.get(name)
before = loaded()
import opentelemetry.trace
client.operations.get(name)
print(json.dumps([before, loaded()]))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    before, after = json.loads(run.stdout)
    assert before == []
    assert "opentelemetry.trace" in after
    assert [m for m in after if m.startswith(("opentelemetry.sdk", "opentelemetry.instr"))] == []


def forbidden(*args: object) -> Any:
    raise AssertionError("called while tracing is a no-op")


def _no_op_providers() -> list[Any]:
    return [None, trace.NoOpTracerProvider()]


@pytest.mark.parametrize("tracer_provider", _no_op_providers(), ids=["global-proxy", "no-op"])
@pytest.mark.usefixtures("no_global_provider")
def test_without_an_sdk_no_attribute_is_built_and_no_context_attached(
    monkeypatch: pytest.MonkeyPatch, tracer_provider: Any
) -> None:
    monkeypatch.setattr(tracing_module, "_call_attributes", forbidden)
    monkeypatch.setattr(tracing_module, "_attempt_attributes", forbidden)
    monkeypatch.setattr(otel_context, "attach", forbidden)
    c = client(sequence(unavailable, ok), tracer_provider=tracer_provider)
    assert c.operations.get(NAME).name == NAME
    assert len(c.transport.requests) == 2  # type: ignore[attr-defined]


def test_a_disabled_sdk_counts_as_no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = TracerProvider()
    monkeypatch.setattr(tracing_module, "_call_attributes", forbidden)
    monkeypatch.setattr(tracing_module, "_attempt_attributes", forbidden)
    assert client(ok, tracer_provider=provider).operations.get(NAME).name == NAME


@pytest.mark.usefixtures("no_global_provider")
def test_without_an_sdk_the_callers_trace_context_still_reaches_the_server() -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = otel_context.attach(TraceContextTextMapPropagator().extract({"traceparent": incoming}))
    try:
        c = client(ok)
        c.operations.get(NAME)
    finally:
        otel_context.detach(token)
    assert c.transport.requests[0].headers["traceparent"] == incoming  # type: ignore[attr-defined]


@pytest.mark.usefixtures("no_global_provider")
def test_without_an_sdk_and_no_caller_trace_no_trace_header_is_sent() -> None:
    c = client(ok)
    c.operations.get(NAME)
    assert "traceparent" not in c.transport.requests[0].headers  # type: ignore[attr-defined]


@pytest.mark.usefixtures("no_global_provider")
def test_tracing_starts_as_soon_as_a_global_provider_is_set(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    c = client(ok)
    c.operations.get(NAME)
    assert exporter.get_finished_spans() == ()
    trace.set_tracer_provider(provider)
    c.operations.get(NAME)
    assert [s.name for s in exporter.get_finished_spans()] == ["GET", "eemw operations.get"]


# -- metrics -------------------------------------------------------------------------------


def test_metrics_after_a_call_that_retried_once() -> None:
    reader = InMemoryMetricReader()
    c = client(sequence(unavailable, ok), meter_provider=MeterProvider(metric_readers=[reader]))
    c.operations.get(NAME)
    get = ("eemw.call", "operations.get")
    attempts = points(reader, "eemw.client.attempts")
    assert {k: p.value for k, p in attempts.items()} == {
        frozenset({get, ("error.type", "503")}): 1,
        frozenset({get}): 1,
    }
    retries = points(reader, "eemw.client.retries")
    assert {k: p.value for k, p in retries.items()} == {frozenset({get, ("error.type", "503")}): 1}
    durations = points(reader, "eemw.client.call.duration")
    assert list(durations) == [frozenset({get})]
    assert durations[frozenset({get})].count == 1
    for name in ("eemw.client.attempts", "eemw.client.retries", "eemw.client.call.duration"):
        for key in points(reader, name):
            assert all("op-1" not in str(value) for _, value in key), key


def test_a_failed_call_is_measured_with_its_error_class() -> None:
    reader = InMemoryMetricReader()
    refuse = sequence(unavailable)
    c = client(refuse, meter_provider=MeterProvider(metric_readers=[reader]),
               retry=RetryPolicy.none())
    with pytest.raises(eemw.UnavailableError):
        c.operations.get(NAME)
    durations = points(reader, "eemw.client.call.duration")
    assert list(durations) == [
        frozenset({("eemw.call", "operations.get"), ("error.type", "UnavailableError")})
    ]


def test_call_and_attempt_durations_are_measured_on_the_injected_clock() -> None:
    reader = InMemoryMetricReader()
    # Read in order: call starts, attempt starts, attempt ends, call ends.
    ticks = iter([100.0, 100.5, 102.0, 102.5])
    tracing = Tracing(metrics=Metrics(MeterProvider(metric_readers=[reader])),
                      clock=lambda: next(ticks))
    pipeline(tracing, ok)(request())
    (point,) = points(reader, "eemw.client.call.duration").values()
    assert (point.count, point.sum) == (1, 2.5)
    (point,) = points(reader, "http.client.request.duration").values()
    assert (point.count, point.sum) == (1, 1.5)

