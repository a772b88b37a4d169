"""OpenTelemetry metrics for eemw calls, through the metrics API only.

Instruments: ``eemw.client.call.duration`` (histogram, seconds), ``eemw.client.attempts``
and ``eemw.client.retries`` (counters). Attributes are low-cardinality: the call
(``operations.get``) and, on failures, ``error.type``; never an operation name.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from ._errors import ApiError, EemwError
from ._http import Call
from ._version import __version__

__all__ = ["Metrics", "error_name", "error_type"]


class Metrics:
    """The instruments one client records to. ``Metrics.disabled()`` records nothing.

    Without a ``meter_provider``, the instruments are made (through the API's global
    provider) the first time something is recorded after the process has imported
    ``opentelemetry.metrics`` or names a provider in ``OTEL_PYTHON_METER_PROVIDER``:
    until then no provider can have been set, every measurement would be dropped, and a
    cold start does not pay for importing the metrics API.
    """

    __slots__ = ("_attempts", "_duration", "_enabled", "_lock", "_provider", "_ready", "_retries")

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

        meter = metrics.get_meter("eemw", __version__, meter_provider=self._provider)
        self._duration = meter.create_histogram(
            "eemw.client.call.duration", unit="s", description="Duration of logical eemw calls"
        )
        self._attempts = meter.create_counter(
            "eemw.client.attempts", unit="{attempt}", description="HTTP attempts sent"
        )
        self._retries = meter.create_counter(
            "eemw.client.retries", unit="{retry}", description="Retries made after a failure"
        )
        self._ready = True

    def call(self, call: Call, seconds: float, error_type: str | None) -> None:
        if self._ready or self._instruments():
            self._duration.record(seconds, _attrs(call.label, error_type))

    def attempt(self, call: Call, error_type: str | None) -> None:
        if self._ready or self._instruments():
            self._attempts.add(1, _attrs(call.label, error_type))

    def retry(self, call: Call, error_type: str) -> None:
        if self._ready or self._instruments():
            self._retries.add(1, _attrs(call.label, error_type))


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
