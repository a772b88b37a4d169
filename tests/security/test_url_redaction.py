"""URLs in spans, log lines and error messages never show credentials.

tests/integration/test_secrets.py proves that bearer tokens never leak from the default
stack. This covers the URLs themselves: a stage that puts an API key or a token in the
query string, or user:password in the authority (as some proxies and API-key plugins
do), must not see it copied into ``url.full``, an exception event, a log record or an
error message, while the server still receives the URL unchanged.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
from google.auth.credentials import AnonymousCredentials
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import eemw
from eemw.emulator import Emulator, Fault
from eemw.testing import MockTransport, respond

API_KEY = "AIzaSyD-api-key-canary-0001"
ACCESS_TOKEN = "ya29.access-token-canary-0002"
PASSWORD = "proxy-password-canary-0003"
SECRETS = (API_KEY, ACCESS_TOKEN, PASSWORD)


def add_credentials_to_url(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """An attempt stage that authenticates through the URL, as API-key plugins do."""
    parts = urlsplit(request.url)
    netloc = f"proxy-user:{PASSWORD}@{parts.netloc}"
    query = f"key={API_KEY}&access_token={ACCESS_TOKEN}&alt=json"
    url = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return call_next(eemw.Request(
        request.method, url, request.headers, request.call, request.body, request.timeout,
        request.context,
    ))


@pytest.fixture
def tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def span_texts(span: ReadableSpan) -> list[str]:
    texts = [span.name, str(span.status.description or "")]
    texts += [f"{k}={v}" for k, v in (span.attributes or {}).items()]
    for event in span.events:
        texts += [f"{k}={v}" for k, v in (event.attributes or {}).items()]
    return texts


@dataclass
class Run:
    """What one run through a URL-authenticating stage exposed, and what went on the wire."""

    spans: list[ReadableSpan]
    records: list[logging.LogRecord]
    errors: list[BaseException]
    wire: list[str]


@pytest.fixture
def run(
    tracing: tuple[TracerProvider, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> Run:
    provider, exporter = tracing
    errors: list[BaseException] = []
    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        client = eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            middleware=[eemw.Entry("url-key", add_credentials_to_url, "attempt")],
            retry=eemw.RetryPolicy(initial_backoff=0.0, max_backoff=0.0, max_attempts=2),
            tracer_provider=provider,
        )
        with caplog.at_level(logging.DEBUG):
            # A retried 503, a lost answer, then two that fail for good: every path that
            # reports a URL (spans, retry logs, transport errors, error chains) runs.
            emu.add_fault(Fault(status=503))
            client.operations.get(name)
            emu.add_fault(Fault(kind="drop_after"))
            client.operations.get(name)
            emu.add_fault(Fault(kind="drop_before", times=2))
            emu.add_fault(Fault(status=503, times=2))
            for _ in range(2):
                try:
                    client.operations.get(name)
                except eemw.EemwError as error:
                    errors.append(error)
        client.close()
        wire = [r.path for r in emu.requests if r.path.startswith("/v1/")]
    return Run(list(exporter.get_finished_spans()), list(caplog.records), errors, wire)


def leaks(texts: list[str]) -> dict[str, list[str]]:
    return {s: [t for t in texts if s in t] for s in SECRETS if any(s in t for t in texts)}


def test_url_full_shows_the_url_with_its_credentials_redacted(run: Run) -> None:
    attempts = [s for s in run.spans if s.kind == SpanKind.CLIENT]
    assert len(attempts) == len(run.wire) == 8
    for span in attempts:
        url = str((span.attributes or {})["url.full"])
        assert url.startswith("http://REDACTED:REDACTED@127.0.0.1:")
        assert url.endswith("?key=REDACTED&access_token=REDACTED&alt=json")
    assert leaks([text for span in run.spans for text in span_texts(span)]) == {}
    # Redaction is for display only: the server got the URL the stage built.
    assert all(f"key={API_KEY}" in path for path in run.wire)


def test_eemw_logs_and_errors_never_show_url_credentials(run: Run) -> None:
    assert len(run.errors) == 2
    texts = [line for error in run.errors for line in traceback.format_exception(error)]
    assert any("ReadError" in text and "REDACTED" in text for text in texts)
    texts += [r.getMessage() for r in run.records if not r.name.startswith("urllib3")]
    assert leaks(texts) == {}


def test_the_http_library_debug_log_never_shows_url_credentials(run: Run) -> None:
    urllib3_lines = [r.getMessage() for r in run.records if r.name.startswith("urllib3")]
    assert any("GET /v1/projects/demo/operations/" in line for line in urllib3_lines)
    assert leaks(urllib3_lines) == {}


def test_a_redirect_location_is_quoted_without_its_credentials() -> None:
    location = f"https://evil.example/cb?code=abc&access_token={ACCESS_TOKEN}#id_token={API_KEY}"
    transport = MockTransport(lambda request: respond(request, 302, headers={"Location": location}))
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    with pytest.raises(eemw.ApiError) as caught:
        client.operations.get("op-1")
    message = str(caught.value)
    assert "evil.example/cb?code=REDACTED&access_token=REDACTED#id_token=REDACTED" in message
    assert ACCESS_TOKEN not in message and API_KEY not in message
