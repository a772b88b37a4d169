"""OpenTelemetry metrics for eemw calls, through the metrics API only.

Instruments: ``eemw.client.call.duration`` (histogram, seconds), ``eemw.client.attempts``
and ``eemw.client.retries`` (counters). Attributes are low-cardinality: the call
(``operations.get``) and, on failures, ``error.type``; never an operation name.

Next to them, the standard ``http.client.request.duration`` histogram (seconds, one
measurement per HTTP attempt) with the stable HTTP semantic-convention attributes, so HTTP
dashboards built for any OpenTelemetry client pick eemw up unchanged. The meter's scope
carries :data:`SCHEMA_URL`, the conventions version those attribute names come from.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from ._errors import ApiError, EemwError
from ._http import Call
from ._version import __version__

__all__ = ["SCHEMA_URL", "Metrics", "error_name", "error_type"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
"""The semantic conventions eemw's telemetry follows (HTTP attributes stable since 1.23)."""
# The bucket boundaries the HTTP conventions recommend for http.client.request.duration.
_HTTP_BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                 7.5, 10.0)


class Metrics:
    """The instruments one client records to. ``Metrics.disabled()`` records nothing.

    Without a ``meter_provider``, the instruments are made (through the API's global
    provider) the first time something is recorded after the process has imported
    ``opentelemetry.metrics`` or names a provider in ``OTEL_PYTHON_METER_PROVIDER``:
    until then no provider can have been set, every measurement would be dropped, and a
    cold start does not pay for importing the metrics API.
    """

    __slots__ = (
        "_attempts", "_duration", "_enabled", "_http", "_lock", "_provider", "_ready", "_retries",
    )

    def __init__(self, meter_provider: Any = None, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._provider = meter_provider
        self._ready = False
        self._lock = threading.Lock()
        if enabled and meter_provider is not None:
            self._make()

    @classmethod
    def disabled(cls) -> Metrics:
        return cls(enabled=False)

    def _instruments(self) -> bool:
        """True once the instruments exist, making them when the process uses OpenTelemetry."""
        if self._ready:
            return True
        if not self._enabled or ("opentelemetry.metrics" not in sys.modules and not _ENV_PROVIDER):
            return False
        with self._lock:
            if not self._ready:
                self._make()
        return True

    def _make(self) -> None:
        from opentelemetry import metrics  # deferred: see the class docstring

        meter = metrics.get_meter(
            "eemw", __version__, meter_provider=self._provider, schema_url=SCHEMA_URL
        )
        self._duration = meter.create_histogram(
            "eemw.client.call.duration", unit="s", description="Duration of logical eemw calls"
        )
        self._attempts = meter.create_counter(
            "eemw.client.attempts", unit="{attempt}", description="HTTP attempts sent"
        )
        self._retries = meter.create_counter(
            "eemw.client.retries", unit="{retry}", description="Retries made after a failure"
        )
        self._http = _http_histogram(meter)
        self._ready = True

    @property
    def recording(self) -> bool:
        """True when a measurement would be recorded (makes the instruments if it is)."""
        return self._ready or self._instruments()

    def call(self, call: Call, seconds: float, error_type: str | None) -> None:
        if self._ready or self._instruments():
            self._duration.record(seconds, _attrs(call.label, error_type))

    def attempt(self, call: Call, error_type: str | None) -> None:
        if self._ready or self._instruments():
            self._attempts.add(1, _attrs(call.label, error_type))

    def retry(self, call: Call, error_type: str) -> None:
        if self._ready or self._instruments():
            self._retries.add(1, _attrs(call.label, error_type))

    def http_request(self, seconds: float, attributes: Mapping[str, str | int]) -> None:
        """One HTTP attempt's ``http.client.request.duration``; check :attr:`recording` first,
        so the attributes are only built when they will be used."""
        if self._ready or self._instruments():
            self._http.record(seconds, attributes)


_ENV_PROVIDER = bool(os.environ.get("OTEL_PYTHON_METER_PROVIDER"))
_CACHE: dict[tuple[str, str | None], dict[str, str]] = {}


def _attrs(label: str, error_type: str | None) -> dict[str, str]:
    # A handful of distinct values: build each attribute dict once.
    key = (label, error_type)
    attrs = _CACHE.get(key)
    if attrs is None:
        attrs = {"eemw.call": label}
        if error_type:
            attrs["error.type"] = error_type
        if len(_CACHE) < 512:
            _CACHE[key] = attrs
    return attrs


def error_name(error: BaseException) -> str:
    """``error.type`` of a logical call: the exception's class (``NotFoundError``)."""
    kind = type(error)
    if isinstance(error, EemwError) or kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def error_type(error: BaseException) -> str:
    """``error.type`` of an attempt: the HTTP status when there was one, else the class."""
    if isinstance(error, ApiError):
        return str(error.http_status)
    return error_name(error)


def _http_histogram(meter: Any) -> Any:
    """The standard HTTP client duration histogram, with the conventions' buckets when the
    installed opentelemetry-api can take them as advice (1.25 and later)."""
    name, unit, text = "http.client.request.duration", "s", "Duration of HTTP client requests."
    try:
        return meter.create_histogram(
            name, unit=unit, description=text, explicit_bucket_boundaries_advisory=_HTTP_BUCKETS
        )
    except TypeError:
        return meter.create_histogram(name, unit=unit, description=text)
