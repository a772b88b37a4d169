"""The plugin's OpenTelemetry metrics (opentelemetry-api only; free without an SDK).

- ``eemw.ratelimit.wait`` (histogram, s): time an attempt waited; by quota project.
- ``eemw.ratelimit.rejections`` (counter): attempts refused without sending; by quota
  project and reason (``rate`` or ``concurrency``).
- ``eemw.ratelimit.rate`` (observable gauge, 1/s): the rate allowed per quota project;
  ``eemw.ratelimit.shared`` says whether it is the fleet's (Redis) or this process's.
- ``eemw.ratelimit.degraded`` (observable gauge): 1 while Redis is down; by store
  (``ratelimit`` or ``retry_budget``).
- ``eemw.ratelimit.degraded.time`` (observable counter, s): time spent degraded; by store.

One set of instruments per meter provider, whatever the number of limiters: OpenTelemetry
keeps the first of two instruments with one name, so the observed ones read every live
limiter and link through weak references.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

PROJECT = "eemw.quota_project"
REASON = "eemw.ratelimit.reason"
SHARED = "eemw.ratelimit.shared"
STORE = "eemw.ratelimit.store"


class RateSource(Protocol):
    def observed_rates(self) -> tuple[dict[str, float], bool]: ...


class LinkSource(Protocol):
    name: str

    @property
    def degraded(self) -> bool: ...

    def degraded_seconds(self) -> float: ...


class Instruments:
    def __init__(self, provider: MeterProvider | None) -> None:
        meter = (provider or metrics.get_meter_provider()).get_meter("eemw_ratelimit")
        self._limiters: weakref.WeakSet[RateSource] = weakref.WeakSet()
        self._links: weakref.WeakSet[LinkSource] = weakref.WeakSet()
        self.waits = meter.create_histogram(
            "eemw.ratelimit.wait", unit="s",
            description="Time an attempt waited for a token or a concurrency slot",
        )
        self.rejections = meter.create_counter(
            "eemw.ratelimit.rejections", unit="1",
            description="Attempts refused without sending (RateLimitedError)",
        )
        meter.create_observable_gauge(
            "eemw.ratelimit.rate", [self._rates], unit="1/s",
            description="Requests per second allowed per quota project now",
        )
        meter.create_observable_gauge(
            "eemw.ratelimit.degraded", [self._degraded], unit="1",
            description="1 while Redis is down and the store serves from process memory",
        )
        meter.create_observable_counter(
            "eemw.ratelimit.degraded.time", [self._degraded_time], unit="s",
            description="Seconds spent in degraded mode (Redis unusable)",
        )

    def watch_limiter(self, limiter: RateSource) -> None:
        self._limiters.add(limiter)

    def watch_link(self, link: LinkSource) -> None:
        self._links.add(link)

    def _rates(self, options: CallbackOptions) -> Iterable[Observation]:
        for limiter in list(self._limiters):
            rates, shared = limiter.observed_rates()
            for project, rate in rates.items():
                yield Observation(rate, {PROJECT: project, SHARED: shared})

    def _degraded(self, options: CallbackOptions) -> Iterable[Observation]:
        for link in list(self._links):
            yield Observation(int(link.degraded), {STORE: link.name})

    def _degraded_time(self, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[str, float] = {}
        for link in list(self._links):
            totals[link.name] = totals.get(link.name, 0.0) + link.degraded_seconds()
        for name, seconds in totals.items():
            yield Observation(seconds, {STORE: name})


_lock = threading.Lock()
_by_provider: dict[int, tuple[MeterProvider | None, Instruments]] = {}


def instruments(provider: MeterProvider | None = None) -> Instruments:
    """The plugin's instruments on ``provider`` (``None``: the global provider)."""
    with _lock:
        found = _by_provider.get(id(provider))
        if found is None or found[0] is not provider:
            found = _by_provider[id(provider)] = (provider, Instruments(provider))
        return found[1]
