"""The tracing stage: OpenTelemetry spans and metrics, through opentelemetry-api only.

Two halves:

* :class:`Tracing`, the outermost stage, opens one INTERNAL span per logical call, named
  after it (``eemw operations.cancel``), and records the call duration histogram.
* :class:`HttpTracing` (``Tracing.http()``), the ``http-tracing`` stage right above the
  transport, gives each HTTP send one CLIENT span that measures exactly the exchange, per
  the stable HTTP client semantic conventions, and records the standard
  ``http.client.request.duration`` histogram for it. It injects the trace context into the
  request's headers and suppresses HTTP auto-instrumentation (requests, urllib3)
  underneath, so no send gets a second span. Being a stage, it shows in ``describe()``.

Spans and their attributes
--------------------------
Call span ``eemw operations.<kind>`` (INTERNAL): ``eemw.call`` (``operations.get``),
``eemw.project``, ``eemw.api_version``, ``eemw.operation.name`` (the full operation name;
not on ``list``), then the caller's :data:`~eemw.keys.TRACE_ATTRIBUTES` (eemw's own names win).
A raised error sets status ERROR, ``error.type`` (the exception class name, e.g.
``NotFoundError``) and an ``exception`` event. The retry stage adds an ``eemw.retry`` event.

Attempt span ``{method}`` (CLIENT), e.g. ``GET``: ``http.request.method``, ``url.full``
(user:password and credential query values replaced by ``REDACTED``), ``server.address``,
``server.port``, ``eemw.call``, ``http.request.resend_count`` on every send after the first
(retries and the auth stage's re-send after a 401 alike), ``http.response.status_code``.
A status >= 400 sets status ERROR and ``error.type`` to the status code (``"503"``); a
failure without a response sets ``error.type`` to the exception class (``ConnectError``,
``ReadError``). The name is the bare method, not ``{method} {url.template}``:
``url.template`` is still a development-stage convention and the parent call span already
names the call, so the stable name keeps HTTP dashboards grouping eemw with other clients.

Attributes are given when a span starts, as the conventions ask, so samplers can use them.

Metric ``http.client.request.duration`` (seconds, per send): ``http.request.method``,
``server.address``, ``server.port``, ``url.scheme``, ``http.response.status_code`` when
there is a response, and ``error.type`` as on the attempt span. No ``url.full``: a metric
attribute must not grow with every operation name.

Cost without an SDK
-------------------
While no real tracer provider is in use (none passed and none set globally, a
``NoOpTracerProvider``, or the SDK disabled), no span is started, no context attached and no
attribute built: each call only asks the API which provider is current and injects the
caller's own trace context, if any, into the attempt's headers. Tracing starts on the next
call once a provider is set globally. A process that has not imported OpenTelemetry at all
(and names no provider in ``OTEL_PYTHON_TRACER_PROVIDER``) cannot have set a provider or
attached a context, so until it does eemw does not import OpenTelemetry either.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.util.types import AttributeValue

from .._errors import ApiError, EemwError
from .._http import ContextKey, Request, Response
from .._keys import ATTEMPT, TRACE_ATTRIBUTES
from .._metrics import SCHEMA_URL, Metrics, error_name, error_type
from .._pipeline import Handler
from .._redact import redact_url
from .._version import __version__

__all__ = ["HttpTracing", "Tracing"]

if TYPE_CHECKING:
    Attributes = dict[str, AttributeValue]

# OpenTelemetry is imported only once something in the process could have configured it:
# until then no tracer provider can have been set and no trace context attached, so there
# is nothing to record or propagate, and a cold start does not pay for the import.
_LOADED = False
_ENV_PROVIDER = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))
_SUPPRESS_HTTP: Any = None


def _load_otel() -> bool:
    """Import OpenTelemetry if the process uses it; True once it is imported here."""
    global _LOADED, _SUPPRESS_HTTP, otel_context, trace, SpanKind, Status, StatusCode  # noqa: PLW0603
    if _LOADED:
        return True
    if "opentelemetry.trace" not in sys.modules and not _ENV_PROVIDER:
        return False
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    # Private in opentelemetry-api, but it is the key every HTTP instrumentation (requests,
    # urllib3, urllib, httpx) checks; without it there is nothing to suppress with.
    _SUPPRESS_HTTP = getattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
    _LOADED = True
    return True

# Methods the HTTP conventions call "known"; any other is reported as _OTHER.
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

_SENDS: ContextKey[Iterator[int] | None] = ContextKey("eemw.tracing.sends", None)
"""Counts the sends of one logical call, whatever caused the resend (retry or auth)."""


class Tracing:
    """Spans and metrics for every call and attempt (call phase, outermost).

    ``tracer_provider``: the provider to use; ``None`` (the default) follows the global
    provider, so tracing starts once the application sets one. ``metrics``: the
    instruments to record to (none by default). ``clock``: seconds, for the duration
    histogram. One instance serves any number of threads and stacks.
    """

    __slots__ = ("_clock", "_metrics", "_tracers")

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._tracers = _Tracers(tracer_provider)
        self._metrics = metrics or Metrics.disabled()
        self._clock = clock

    def __call__(self, request: Request, call_next: Handler) -> Response:
        tracer = self._tracers.current()
        started = self._clock()
        try:
            if tracer is None:
                response = call_next(request)
            else:
                response = _call_traced(tracer, request, call_next)
        except BaseException as error:
            self._metrics.call(request.call, self._clock() - started, error_name(error))
            raise
        self._metrics.call(request.call, self._clock() - started, None)
        return response

    def http(self) -> HttpTracing:
        """The attempt-phase half: the ``http-tracing`` stage, sharing this stage's tracer
        and metrics."""
        return HttpTracing(self._tracers, self._metrics, self._clock)

    def __repr__(self) -> str:
        return "Tracing()"


class HttpTracing:
    """One CLIENT span and one attempt metric per HTTP send (attempt phase, innermost).

    Placed right above the transport (``http-tracing``, after ``check``), so it measures
    exactly the exchange and sees the raw status. It injects the trace context into the
    request's headers and suppresses HTTP auto-instrumentation underneath, so no send gets
    a second span. Made by :meth:`Tracing.http`.
    """

    __slots__ = ("_clock", "_metrics", "_tracers")

    def __init__(
        self, tracers: _Tracers, metrics: Metrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._tracers = tracers
        self._metrics = metrics
        self._clock = clock

    def __call__(self, request: Request, call_next: Handler) -> Response:
        tracer = self._tracers.current()
        started = self._clock()
        try:
            if tracer is None:
                response = call_next(_with_trace_headers(request, None))
            else:
                response = _send_traced(tracer, call_next, request)
        except BaseException as error:
            kind = error_type(error)
            self._metrics.attempt(request.call, kind)
            status = error.http_status if isinstance(error, ApiError) else None
            self._record_duration(request, started, status, kind)
            raise
        status = response.status
        failed = str(status) if status >= 400 else None
        self._metrics.attempt(request.call, failed)
        self._record_duration(request, started, status, failed)
        return response

    def _record_duration(
        self, request: Request, started: float, status: int | None, error: str | None
    ) -> None:
        if self._metrics.recording:
            seconds = self._clock() - started
            self._metrics.http_request(seconds, _metric_attributes(request, status, error))

    def __repr__(self) -> str:
        return "HttpTracing()"


class _Tracers:
    """Which tracer to use for the next call: ``None`` while tracing is a no-op.

    An explicit provider is resolved once. Without one, the global provider is asked on
    every call (it changes at most once, from the API's proxy to the application's
    provider), and the tracer it gives is kept until it changes.
    """

    __slots__ = ("_fixed", "_follow", "_resolved")

    def __init__(self, provider: trace.TracerProvider | None) -> None:
        if provider is not None:
            import opentelemetry.trace  # noqa: F401  (a caller with a provider uses it)

            _load_otel()
        self._follow = provider is None or isinstance(provider, trace.ProxyTracerProvider)
        self._fixed = None if provider is None or self._follow else _real_tracer(provider)
        # One tuple, replaced whole, so a thread never sees a provider with another's tracer.
        self._resolved: tuple[object, trace.Tracer | None] = (None, None)

    def current(self) -> trace.Tracer | None:
        if not self._follow:
            return self._fixed
        if not _LOADED and not _load_otel():
            return None
        provider = trace.get_tracer_provider()
        seen, tracer = self._resolved
        if provider is seen:
            return tracer
        tracer = None if isinstance(provider, trace.ProxyTracerProvider) else _real_tracer(provider)
        self._resolved = (provider, tracer)
        return tracer


def _real_tracer(provider: trace.TracerProvider) -> trace.Tracer | None:
    tracer = provider.get_tracer("eemw", __version__, schema_url=SCHEMA_URL)
    return None if isinstance(tracer, trace.NoOpTracer) else tracer


def _call_traced(tracer: trace.Tracer, request: Request, call_next: Handler) -> Response:
    span = tracer.start_span(
        "eemw " + request.call.label, kind=SpanKind.INTERNAL,
        attributes=_call_attributes(request),
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        return call_next(request.with_context(_SENDS, itertools.count()))
    except BaseException as error:
        if span.is_recording():
            span.set_attribute("error.type", error_name(error))
            # Only eemw's messages are secret-free by contract, so only they become the
            # description; for anything else error.type and the exception event suffice.
            detail = str(error) if isinstance(error, EemwError) else None
            span.set_status(Status(StatusCode.ERROR, detail))
            span.record_exception(error, escaped=True)
        raise
    finally:
        otel_context.detach(token)
        span.end()


def _send_traced(tracer: trace.Tracer, call_next: Handler, request: Request) -> Response:
    sends = request.context.get(_SENDS)
    resend = next(sends) if sends is not None else request.context.get(ATTEMPT)
    method = request.method
    span = tracer.start_span(
        method if method in _KNOWN_METHODS else "HTTP", kind=SpanKind.CLIENT,
        attributes=_attempt_attributes(request, resend),
    )
    context = trace.set_span_in_context(span)
    request = _with_trace_headers(request, context)
    if _SUPPRESS_HTTP is not None:
        context = otel_context.set_value(_SUPPRESS_HTTP, True, context)
    token = otel_context.attach(context)
    try:
        response = call_next(request)
    except BaseException as error:
        if span.is_recording():
            span.set_attribute("error.type", error_type(error))
            detail = str(error) if isinstance(error, EemwError) else None
            span.set_status(Status(StatusCode.ERROR, detail))
        raise
    else:
        if span.is_recording():
            _record_status(span, response.status)
        return response
    finally:
        otel_context.detach(token)
        span.end()


def _record_status(span: trace.Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        # The status code says it all: no description, as the HTTP conventions ask.
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))


def _with_trace_headers(request: Request, context: otel_context.Context | None) -> Request:
    """``request`` carrying the trace context (the current one when ``context`` is None)."""
    if context is None and "opentelemetry.context" not in sys.modules:
        return request  # nothing in the process could have attached a context to send
    carrier: dict[str, str] = {}
    from opentelemetry import propagate  # deferred: its propagators cost `import eemw` 2 ms

    propagate.inject(carrier, context=context)
    return request.with_headers(carrier) if carrier else request


def _call_attributes(request: Request) -> Attributes:
    call = request.call
    extra = request.context.get(TRACE_ATTRIBUTES)
    attributes: Attributes = dict(extra)
    attributes["eemw.call"] = call.label
    attributes["eemw.project"] = call.project
    attributes["eemw.api_version"] = call.api_version
    if call.name:
        attributes["eemw.operation.name"] = call.name
    return attributes


def _attempt_attributes(request: Request, resend: int) -> Attributes:
    method = request.method
    attributes: Attributes = {"url.full": redact_url(request.url)}
    if method in _KNOWN_METHODS:
        attributes["http.request.method"] = method
    else:
        attributes["http.request.method"] = "_OTHER"
        attributes["http.request.method_original"] = method
    host, port = _server(request.url)
    if host:
        attributes["server.address"] = host
    if port is not None:
        attributes["server.port"] = port
    attributes["eemw.call"] = request.call.label
    if resend:
        attributes["http.request.resend_count"] = resend
    return attributes


_METRIC_ATTRIBUTES: dict[tuple[str, str, int | None, str | None], dict[str, str | int]] = {}


def _metric_attributes(
    request: Request, status: int | None, error: str | None
) -> dict[str, str | int]:
    # A handful of distinct values per client: build each attribute dict once.
    origin = _origin(request.url)
    key = (request.method, origin, status, error)
    attributes = _METRIC_ATTRIBUTES.get(key)
    if attributes is None:
        attributes = _build_metric_attributes(request.method, origin, status, error)
        if len(_METRIC_ATTRIBUTES) < 512:
            _METRIC_ATTRIBUTES[key] = attributes
    return attributes


def _build_metric_attributes(
    method: str, origin: str, status: int | None, error: str | None
) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
    }
    host, port = _server(origin)
    if host:
        attributes["server.address"] = host
    if port is not None:
        attributes["server.port"] = port
    scheme = origin.partition(":")[0].lower()
    if scheme in _DEFAULT_PORTS:
        attributes["url.scheme"] = scheme
    if status is not None:
        attributes["http.response.status_code"] = status
    if error is not None:
        attributes["error.type"] = error
    return attributes


def _origin(url: str) -> str:
    """``scheme://authority`` of ``url``, without its path, query or fragment."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


def _server(url: str) -> tuple[str | None, int | None]:
    """Host and port of ``url``, the port defaulting to the scheme's; never raises."""
    # Only the origin is parsed: urlsplit keeps its last 128 inputs, and a whole URL can
    # carry a page token of a megabyte.
    try:
        parts = urlsplit(_origin(url))
    except ValueError:
        return None, None
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # out of range or not a number: telemetry must not fail the call
        port = None
    return parts.hostname, port
