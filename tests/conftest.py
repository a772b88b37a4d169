"""Fixtures shared across the suite."""

from __future__ import annotations

import signal

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# A shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
# every `eemw` process a test starts would then ignore the Ctrl-C the test sends it. With a
# handler of our own here, children start with SIGINT at its default, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Finished spans of the test, in memory."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """An SDK tracer provider that exports every span to ``exporter`` at once."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
