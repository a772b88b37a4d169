"""Helpers shared by the reliability runs (loaded by conftest.py as ``reliability_tools``).

The chaos, storm and concurrency runs each add a section to one :class:`Report`. It is
printed (``pytest -s`` shows it) and, when ``EEMW_RELIABILITY_REPORT`` names a file,
written there as JSON at the end of the session, so the README can quote a real run.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

REPORT_ENV = "EEMW_RELIABILITY_REPORT"


class Report:
    """Named sections of figures, printed as they are added."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Any]] = {}

    def add(self, section: str, figures: dict[str, Any]) -> None:
        self.sections[section] = figures
        print(f"\n== {section} ==")
        for key, value in figures.items():
            print(f"  {key}: {json.dumps(value, sort_keys=True)}")

    def to_json(self) -> str:
        return json.dumps(self.sections, indent=2, sort_keys=True) + "\n"


class Meters:
    """An in-memory OpenTelemetry meter provider and the totals of eemw's counters."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def by_error_type(self, metric: str) -> Counter[str]:
        """The counter's total per ``error.type`` (``"ok"`` for points without one)."""
        totals: Counter[str] = Counter()
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for found in scope.metrics:
                    if found.name != metric:
                        continue
                    for point in found.data.data_points:
                        kind = str(point.attributes.get("error.type", "ok"))
                        totals[kind] += int(point.value)
        return totals

    def total(self, metric: str) -> int:
        return sum(self.by_error_type(metric).values())
