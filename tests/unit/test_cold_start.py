"""A fresh process pays only for what its calls use; telemetry still starts when set up.

Each test runs a short script in a fresh interpreter (what is imported is per process).
"""

from __future__ import annotations

import json
import subprocess
import sys

PRELUDE = """
import json, sys
from google.auth.credentials import AnonymousCredentials
import eemw

NAME = "projects/demo/operations/op-1"

def answer(request):
    body = {"name": NAME} if request.call.kind == "get" else {}
    if request.call.kind == "list":
        body = {"operations": [{"name": NAME, "metadata": {"state": "RUNNING"}}]}
    return eemw.Response(200, eemw.Headers({"Content-Type": "application/json"}),
                         json.dumps(body).encode(), request)

client = eemw.Client("demo", credentials=AnonymousCredentials(), transport=answer)

def use():
    client.operations.get(NAME)
    client.operations.cancel(NAME)
    return [op.state.value for op in client.operations.list()]
"""


def run(script: str) -> object:
    done = subprocess.run([sys.executable, "-c", PRELUDE + script], capture_output=True,
                          text=True, check=True, timeout=120)
    return json.loads(done.stdout.splitlines()[-1])


def test_calls_load_no_telemetry_bulk_or_emulator_code() -> None:
    loaded = run("""
assert use() == ["RUNNING"]
print(json.dumps(sorted(sys.modules)))
""")
    assert isinstance(loaded, list)
    unused = [m for m in loaded if m.split(".")[0] == "opentelemetry"
              or m.startswith(("eemw.emulator", "eemw._cli.")) or m in ("eemw._bulk", "eemw._cli")]
    assert unused == []


def test_telemetry_set_up_after_the_first_calls_records_the_next_ones() -> None:
    recorded = run("""
use()
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
use()
names = sorted({m.name for rm in reader.get_metrics_data().resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics})
print(json.dumps([sorted({s.name for s in spans.get_finished_spans()}), names]))
""")
    assert recorded == [
        ["GET", "POST", "eemw operations.cancel", "eemw operations.get", "eemw operations.list"],
        ["eemw.client.attempts", "eemw.client.call.duration", "http.client.request.duration"],
    ]
