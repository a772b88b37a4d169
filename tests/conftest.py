"""Fixtures shared across the suite."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# A shell starts background jobs with SIGINT ignored, and an ignored signal survives exec:
# every `eemw` process a test starts would then ignore the Ctrl-C the test sends it. With a
# handler of our own here, children start with SIGINT at its default, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)



def _load_clitools() -> None:
    # Tests run with --import-mode=importlib, so no test directory is on sys.path: load the
    # CLI test helpers once, by path, so any test module can `import clitools`.
    path = Path(__file__).with_name("cli") / "clitools.py"
    spec = importlib.util.spec_from_file_location("clitools", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["clitools"] = module
    spec.loader.exec_module(module)


if "clitools" not in sys.modules:
    _load_clitools()


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
