"""Export a project's queue as OpenTelemetry gauges with ``eemw.QueueMetrics``.

One watcher follows the project through ``list`` pages; three observable gauges read its
latest round: ``eemw.queue.operations`` (unfinished operations by state and type),
``eemw.queue.oldest_running_age`` and ``eemw.queue.failures`` (operations seen failing
in the last window). Here the OpenTelemetry SDK's ``InMemoryMetricReader`` collects them,
as an OTLP or Prometheus exporter would in a service, against an embedded emulator whose
clock the example moves on (``emu.advance``) so the queue changes between collections.

    python examples/queue_metrics.py

In a service: build ``QueueMetrics(client, meter_provider=provider)`` once, call
``start()`` (a daemon thread refreshes every ``poll_interval`` seconds) and let the
exporter you already run collect the gauges; ``close()`` at shutdown.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

import eemw
from eemw.emulator import Emulator


def show(reader: InMemoryMetricReader, when: str) -> None:
    """Print every gauge point the reader collects now, one line each."""
    print(f"-- {when}")
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if not isinstance(point, NumberDataPoint):
                        continue  # gauges only have number points
                    labels = ", ".join(f"{k.rsplit('.', 1)[-1]}={v!s}"
                                       for k, v in sorted((point.attributes or {}).items())
                                       if k != "eemw.project")
                    print(f"{metric.name}{{{labels}}} = {point.value:g}")


def main() -> int:
    with Emulator() as emu:
        for i in range(6):
            emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE", start_after=0.0,
                              duration=60.0 + 30 * i, fail_at_end=i == 0)
        for _ in range(3):
            emu.add_operation("demo", state="PENDING", type="INGEST_TABLE", start_after=45.0,
                              duration=600.0)
        emu.add_operation("demo", state="FAILED", type="EXPORT_IMAGE")  # failed long ago

        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                         clock=lambda: emu.now, sleep=emu.advance) as client:
            # The emulator's calendar is its own: measure ages against its clock, not ours.
            first = client.operations.list(limit=1)
            created = next(iter(first)).metadata.create_time
            assert created is not None
            origin = created - timedelta(seconds=emu.now)

            def now() -> datetime:
                return origin + timedelta(seconds=emu.now)

            with eemw.QueueMetrics(client, meter_provider=provider, window=120.0,
                                   now=now) as metrics:
                metrics.refresh()
                show(reader, "at the start")
                emu.advance(70)
                metrics.refresh()
                show(reader, "70 s later")
        requests = emu.stats["api_requests"]
        print(f"the watcher sent {requests} requests for those two rounds (pages, not gets)")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
