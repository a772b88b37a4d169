"""OpenTelemetry metrics for eemw calls, through the metrics API only.

Instruments: ``eemw.client.call.duration`` (histogram, seconds), ``eemw.client.attempts``
and ``eemw.client.retries`` (counters). Attributes are low-cardinality: the call
(``operations.get``) and, on failures, ``error.type``; never an operation name.
"""

from __future__ import annotations

from typing import Any

from ._errors import ApiError, EemwError
from ._http import Call
from ._version import __version__

__all__ = ["Metrics", "error_name", "error_type"]


class Metrics:
    """The instruments one client records to. ``Metrics.disabled()`` records nothing."""

    __slots__ = ("_attempts", "_duration", "_enabled", "_retries")

    def __init__(self, meter_provider: Any = None, *, enabled: bool = True) -> None:
        self._enabled = enabled
        if not enabled:
            return
        from opentelemetry import metrics  # a client needs it; `import eemw` does not

        meter = metrics.get_meter("eemw", __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "eemw.client.call.duration", unit="s", description="Duration of logical eemw calls"
        )
        self._attempts = meter.create_counter(
            "eemw.client.attempts", unit="{attempt}", description="HTTP attempts sent"
        )
        self._retries = meter.create_counter(
            "eemw.client.retries", unit="{retry}", description="Retries made after a failure"
        )

    @classmethod
    def disabled(cls) -> Metrics:
        return cls(enabled=False)

    def call(self, call: Call, seconds: float, error_type: str | None) -> None:
        if self._enabled:
            self._duration.record(seconds, _attrs(call.label, error_type))

    def attempt(self, call: Call, error_type: str | None) -> None:
        if self._enabled:
            self._attempts.add(1, _attrs(call.label, error_type))

    def retry(self, call: Call, error_type: str) -> None:
        if self._enabled:
            self._retries.add(1, _attrs(call.label, error_type))


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
