"""OpenTelemetry traces of a retried call, printed to the console.

Shows what eemw's tracing stage records: one INTERNAL span per logical call
(``eemw operations.get``) and, under it, one CLIENT span per HTTP attempt with the
stable HTTP client attributes (``http.request.method``, ``url.full`` with secrets
redacted, ``http.response.status_code``, ``error.type``, ``http.request.resend_count``).
The emulator answers the first attempt with a 503, so the tree has two attempts.

Needs the OpenTelemetry SDK (eemw itself only depends on the API):

    pip install opentelemetry-sdk
    python examples/tracing_console.py

Each span is printed by the SDK's ``ConsoleSpanExporter`` as it ends (children first),
then the whole tree is drawn from the same spans.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.emulator import Emulator, Fault

SHOWN = ("http.request.method", "url.full", "http.response.status_code", "error.type",
         "http.request.resend_count")


def one_line(span: ReadableSpan) -> str:
    """A compact ConsoleSpanExporter format: name, kind, status and the parent link."""
    status = (span.attributes or {}).get("http.response.status_code")
    parts = [f"exported: {span.name} [{span.kind.name}]", str(status or "")]
    if span.context:
        parts.append(f"span {span.context.span_id:016x}")
    parts.append(f"parent {span.parent.span_id:016x}" if span.parent else "(root)")
    return " ".join(p for p in parts if p) + "\n"


def draw(spans: Sequence[ReadableSpan]) -> None:
    def children(parent_id: int | None) -> list[ReadableSpan]:
        found = [s for s in spans if (s.parent.span_id if s.parent else None) == parent_id]
        return sorted(found, key=lambda s: s.start_time or 0)

    def show(span: ReadableSpan, depth: int) -> None:
        took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        print(f"{'    ' * depth}{span.name} [{span.kind.name}] {took:.1f} ms")
        for key in SHOWN:
            if span.attributes and key in span.attributes:
                print(f"{'    ' * depth}  {key} = {span.attributes[key]!s}")
        for child in children(span.context.span_id if span.context else None):
            show(child, depth + 1)

    for root in children(None):
        show(root, 0)


def main() -> int:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    provider.add_span_processor(SimpleSpanProcessor(memory))

    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING", description="Export NDVI composite")
        emu.add_fault(Fault(status=503, times=1))
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            tracer_provider=provider,
            retry=eemw.RetryPolicy(initial_backoff=0.01, max_backoff=0.05),
        ) as client:
            op = client.operations.get(name)
    provider.shutdown()

    print(f"\nget {op.id} -> {op.state.value}; the span tree:\n")
    draw(memory.get_finished_spans())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
