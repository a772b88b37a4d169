"""The rate-limiting middleware: waits, refusals, metrics, over a store of state.

It decides how long a caller may wait (``max_wait``, the attempt's timeout, the call's
deadline), sleeps on the client's ``sleep``, polls for a concurrency slot with a bounded
backoff, and reports the outcome of each attempt back to the store. Where the state
lives (this process, or Redis for a fleet) is the store's business.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider

import eemw

from . import _metrics
from ._algorithm import Admission, LocalStore, Outcome, Policy
from ._link import DEFAULT_TIMEOUT, RedisLink
from ._redis import DEFAULT_PREFIX, FleetStore, RedisStore

logger = logging.getLogger("eemw_ratelimit")

DEFAULT_QPS = 100.0
"""Earth Engine's documented limit: about 100 requests per second per project."""

DEFAULT_COOLDOWN = 1.0
"""Seconds after a rate cut during which further 429s do not cut it again."""

DEFAULT_LEASE = 60.0
"""Seconds a concurrency slot stays taken when its holder never gives it back."""

Mode = Literal["block", "fail"]

# Polling for a free concurrency slot: first pause, and the longest one.
_FIRST_POLL = 0.002
_MAX_POLL = 0.05


class RateLimitedError(eemw.EemwError):
    """The limiter refused to send an attempt: no token (or slot) was free soon enough.

    Raised at once in ``mode="fail"``, and in ``mode="block"`` when the wait would exceed
    ``max_wait`` or the attempt's remaining time. Nothing was sent, so it is safe to try
    again later. ``project`` is the quota project, ``wait`` the seconds until a token
    would have been free (for a concurrency refusal: the seconds already waited),
    ``rate`` the requests per second allowed at that moment. It is not an API error, so
    eemw's retry stage does not retry it.
    """

    def __init__(self, message: str, *, project: str, wait: float, rate: float) -> None:
        super().__init__(message)
        self.project = project
        self.wait = wait
        self.rate = rate


class RateLimiter:
    """The rate-limiting middleware (attempt phase, after ``auth``).

    ``qps`` is the steady rate per quota project and ``burst`` the bucket size (default:
    one second's worth, at least 1). ``max_wait`` bounds a blocking wait in seconds.
    ``decrease`` (0 < d < 1) multiplies the rate on a 429, at most once per ``cooldown``
    seconds per project; ``increase`` (requests per second, default ``qps / 100``) is
    added back per success; the rate never drops below ``min_qps`` (default
    ``min(1, qps)``). ``max_concurrent`` bounds the attempts in flight per project; a
    slot not given back (the process died) is free again after ``lease`` seconds.

    ``redis_url`` shares all of it with every process using the same Redis and
    ``key_prefix``: the state then lives in Redis, on the server's clock. While Redis does
    not answer within ``redis_timeout`` seconds, the limiter serves from its in-process
    state with ``1/N`` of ``qps``, ``burst`` and ``max_concurrent``, where N is
    ``fleet_size`` or, if more, the processes seen using the project through Redis in the
    last ten seconds.

    ``clock`` and ``sleep`` default to the client's (``eemw.keys.CLOCK`` and ``eemw.keys.SLEEP`` on
    the request's context), so a client built with a fake clock and sleep never really
    waits; pass them to pin the limiter to its own. One limiter SHOULD see one clock:
    its buckets remember times on it. Invalid values raise :class:`eemw.UsageError`.
    """

    def __init__(
        self,
        qps: float = DEFAULT_QPS,
        *,
        burst: float | None = None,
        max_wait: float = 10.0,
        mode: Mode = "block",
        decrease: float = 0.5,
        increase: float | None = None,
        min_qps: float | None = None,
        cooldown: float = DEFAULT_COOLDOWN,
        max_concurrent: int | None = None,
        lease: float = DEFAULT_LEASE,
        redis_url: str | None = None,
        key_prefix: str = DEFAULT_PREFIX,
        redis_timeout: float = DEFAULT_TIMEOUT,
        fleet_size: int = 1,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        _require(_positive(qps), "qps must be a positive number")
        self.qps = float(qps)
        self.burst = float(burst) if burst is not None else max(1.0, self.qps)
        self.max_wait = float(max_wait)
        self.mode: Mode = mode
        self.decrease = float(decrease)
        self.increase = float(increase) if increase is not None else self.qps / 100
        self.min_qps = float(min_qps) if min_qps is not None else min(1.0, self.qps)
        self.cooldown = float(cooldown)
        self.max_concurrent = max_concurrent
        self.lease = float(lease)
        self.fleet_size = fleet_size
        self._validate()
        self.policy = Policy(
            self.qps, self.burst, self.decrease, self.increase, self.min_qps, self.cooldown
        )
        self._clock = clock
        self._sleep = sleep
        self._instruments = _metrics.instruments(meter_provider)
        self._link: RedisLink | None = None
        self._store: LocalStore | FleetStore = LocalStore()
        if redis_url is not None:
            _require(bool(key_prefix), "key_prefix must not be empty")
            self._link = RedisLink(
                redis_url, timeout=redis_timeout, name="ratelimit", instruments=self._instruments
            )
            self._store = FleetStore(RedisStore(self._link, key_prefix), fleet_size)
        self._instruments.watch_limiter(self)

    def _validate(self) -> None:
        _require(math.isfinite(self.burst) and self.burst >= 1, "burst must be a number >= 1")
        _require(math.isfinite(self.max_wait) and self.max_wait >= 0, "max_wait must be >= 0")
        _require(self.mode in ("block", "fail"), "mode must be 'block' or 'fail'")
        _require(0 < self.decrease < 1, "decrease must be between 0 and 1")
        _require(_positive(self.increase), "increase must be a positive number")
        _require(
            _positive(self.min_qps) and self.min_qps <= self.qps,
            "min_qps must be a positive number no larger than qps",
        )
        _require(math.isfinite(self.cooldown) and self.cooldown >= 0, "cooldown must be >= 0")
        _require(
            self.max_concurrent is None
            or (isinstance(self.max_concurrent, int) and self.max_concurrent >= 1),
            "max_concurrent must be a whole number >= 1 (or None for no bound)",
        )
        _require(_positive(self.lease), "lease must be a positive number of seconds")
        _require(
            isinstance(self.fleet_size, int) and self.fleet_size >= 1,
            "fleet_size must be a whole number >= 1",
        )

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        clock = self._clock or request.context.get(eemw.keys.CLOCK)
        project = quota_project(request)
        admission, waited = self._admit(project, request, clock)
        if waited > 0 and request.timeout is not None:
            request = request.with_timeout(request.timeout - waited)
        outcome: Outcome = "other"
        try:
            response = call_next(request)
            outcome = "ok"
        except eemw.ResourceExhaustedError:
            outcome = "throttled"
            raise
        finally:
            self._finish(project, admission.lease, outcome, clock())
        return response

    def _admit(
        self, project: str, request: eemw.Request, clock: Callable[[], float]
    ) -> tuple[Admission, float]:
        sleep = self._sleep or request.context.get(eemw.keys.SLEEP)
        deadline = request.context.get(eemw.keys.DEADLINE) if self._clock is None else None
        slots = self.max_concurrent or 0
        waited, pause = 0.0, _FIRST_POLL
        while True:
            now = clock()
            left = _time_left(request.timeout, waited, deadline, now)
            max_wait = 0.0 if self.mode == "fail" else self.max_wait - waited
            admission = self._store.admit(
                project, self.policy, now=now, max_wait=max_wait, timeout=left, slots=slots,
                ttl=self.lease,
            )
            if admission.refused:
                self._refuse(project, admission.wait, admission.rate, left, waited, "rate")
            if admission.busy is None:
                break
            nap = min(pause, max(admission.busy, _FIRST_POLL))
            if self.mode == "fail" or waited + nap > self.max_wait or (
                left is not None and nap >= left
            ):
                self._refuse(project, nap, admission.rate, left, waited, "concurrency")
            sleep(nap)
            waited, pause = waited + nap, min(pause * 2, _MAX_POLL)
        if admission.wait > 0:
            logger.debug("waiting %.3fs for a request slot of quota project %s",
                         admission.wait, project)
            sleep(admission.wait)
            waited += admission.wait
        self._instruments.waits.record(waited, {_metrics.PROJECT: project})
        if waited > 0:
            trace.get_current_span().add_event("eemw.ratelimit.wait", {
                _metrics.PROJECT: project, "eemw.ratelimit.wait_seconds": waited,
                "eemw.ratelimit.rate": admission.rate, _metrics.SHARED: self._shared(),
            })
        return admission, waited

    def _finish(self, project: str, lease: str | None, outcome: Outcome, now: float) -> None:
        rate, cut = self._store.finish(project, self.policy, lease=lease, outcome=outcome,
                                       now=now)
        if cut:
            logger.info("quota project %s answered 429: limiting to %.3g requests/s",
                        project, rate)

    def reserve(
        self, project: str, *, timeout: float | None = None, now: float | None = None
    ) -> float:
        """Take a token for ``project``; return how long to wait before sending.

        Raises :class:`RateLimitedError` (taking nothing) when the wait is not allowed:
        any wait in ``fail`` mode, else one longer than ``max_wait`` or not shorter than
        ``timeout``. A wait that is allowed holds its token, so later callers queue after.
        ``now`` is the time on the limiter's clock (default: read it). Takes no
        concurrency slot.
        """
        max_wait = 0.0 if self.mode == "fail" else self.max_wait
        admission = self._store.admit(
            project, self.policy, now=self._now(now), max_wait=max_wait, timeout=timeout,
            slots=0, ttl=self.lease,
        )
        if admission.refused:
            self._refuse(project, admission.wait, admission.rate, timeout, 0.0, "rate")
        return admission.wait

    def throttled(self, project: str, *, now: float | None = None) -> None:
        """The server answered 429 for ``project``: drop its burst and, at most once per
        ``cooldown``, lower its rate."""
        self._finish(project, None, "throttled", self._now(now))

    def succeeded(self, project: str, *, now: float | None = None) -> None:
        """An attempt for ``project`` succeeded: raise a lowered rate by ``increase``."""
        self._finish(project, None, "ok", self._now(now))

    def rate(self, project: str) -> float:
        """The requests per second ``project`` is allowed now (as last seen from Redis
        when shared; this process's share of it while degraded)."""
        return self._store.rates().get(project, self.qps)

    @property
    def degraded(self) -> bool:
        """True while a shared limiter serves from its in-process state (Redis down)."""
        return self._link is not None and self._link.degraded

    def observed_rates(self) -> tuple[dict[str, float], bool]:
        """The last known rate of each project, and whether it is the shared one."""
        return self._store.rates(), self._shared()

    def _shared(self) -> bool:
        return self._link is not None and not self._link.degraded

    def _now(self, now: float | None) -> float:
        if now is not None:
            return now
        return (self._clock or time.monotonic)()

    def _refuse(
        self, project: str, wait: float, rate: float, timeout: float | None, waited: float,
        reason: Literal["rate", "concurrency"],
    ) -> None:
        if self.mode == "fail":
            why = "mode is 'fail'"
        elif waited + wait > self.max_wait:
            why = f"that is longer than max_wait ({self.max_wait:g}s)"
        else:
            why = f"the attempt has only {timeout or 0:.3g}s left"
        self._instruments.rejections.add(1, {_metrics.PROJECT: project, _metrics.REASON: reason})
        trace.get_current_span().add_event("eemw.ratelimit.rejected", {
            _metrics.PROJECT: project, _metrics.REASON: reason, "eemw.ratelimit.rate": rate,
        })
        if reason == "rate":
            what = f"rate limit of quota project {project!r} reached ({rate:.3g} requests/s)"
            when = f"the next request slot is {wait:.3g}s away"
        else:
            what = (f"concurrency limit of quota project {project!r} reached "
                    f"({self.max_concurrent} requests in flight)")
            when = f"no slot came free in {waited:.3g}s"
        raise RateLimitedError(
            f"{what}: {when} and {why}; nothing was sent, try again later or raise the "
            "ratelimit plugin's qps/max_concurrent/max_wait",
            project=project, wait=waited + wait, rate=rate,
        )

    def close(self) -> None:
        """Close the Redis connections, if any (the limiter is not usable afterwards)."""
        if self._link is not None:
            self._link.close()

    def __repr__(self) -> str:
        shared = f", redis_url={self._link.url!r}" if self._link is not None else ""
        return (
            f"RateLimiter(qps={self.qps:g}, burst={self.burst:g}, mode={self.mode!r}, "
            f"max_wait={self.max_wait:g}{shared})"
        )


def _time_left(
    timeout: float | None, waited: float, deadline: float | None, now: float
) -> float | None:
    left = None if timeout is None else timeout - waited
    if deadline is not None:
        left = deadline - now if left is None else min(left, deadline - now)
    return left


def quota_project(request: eemw.Request) -> str:
    """The project a request is billed to: ``X-Goog-User-Project``, else the call's."""
    header: str | None = request.headers.get("X-Goog-User-Project")
    return header or request.call.project


def _positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise eemw.UsageError(f"RateLimiter: {message}")
