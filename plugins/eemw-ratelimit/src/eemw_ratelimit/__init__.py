"""eemw-ratelimit: an adaptive, client-side rate limiter per quota project.

One token bucket per quota project (the request's ``X-Goog-User-Project`` header, else the
call's project), refilled at ``qps`` requests per second up to ``burst`` tokens. The stage
sits in the attempt phase after ``auth``, so it sees the quota project the request is
billed to and limits every retry and re-send, not just first attempts.

Adaptive (AIMD): an attempt answered 429 (:class:`eemw.ResourceExhaustedError`) multiplies
that project's rate by ``decrease`` and empties its bucket; each later success adds
``increase`` requests per second until the configured ``qps`` is reached again. The burst
shrinks with the rate, so a throttled project cannot burst back at full size. The rate is
cut at most once per ``cooldown`` seconds: sixteen attempts in flight that all come back
429 are one signal from the server, not sixteen.

Time is the client's: the stage waits with the ``eemw.keys.SLEEP`` and reads the ``eemw.keys.CLOCK``
found on each request's context (what ``Client(clock=..., sleep=...)`` was given), unless
the limiter was built with its own ``clock`` and ``sleep``.

When no token is free, the stage sleeps until one is (``mode="block"``, the default), but
never longer than ``max_wait`` nor past the attempt's timeout; otherwise it raises
:class:`RateLimitedError` without sending. With ``mode="fail"`` it never waits.

Thread-safe: one lock guards the buckets; sleeping happens outside it, each waiting thread
holding a reservation, so waiters are served in order at the configured rate.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Literal

import eemw

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_QPS",
    "SETTINGS",
    "Mode",
    "RateLimitedError",
    "RateLimiter",
    "factory",
    "quota_project",
]

logger = logging.getLogger("eemw_ratelimit")

DEFAULT_QPS = 100.0
"""Earth Engine's documented limit: about 100 requests per second per project."""

SETTINGS = (
    "qps", "burst", "max_wait", "mode", "decrease", "increase", "min_qps", "cooldown",
)
"""The settings :func:`factory` accepts."""

DEFAULT_COOLDOWN = 1.0
"""Seconds after a rate cut during which further 429s do not cut it again."""

Mode = Literal["block", "fail"]

# Idle, fully recovered buckets are dropped past this many projects.
_MAX_BUCKETS = 4096


class RateLimitedError(eemw.EemwError):
    """The limiter refused to send an attempt: no token was free soon enough.

    Raised at once in ``mode="fail"``, and in ``mode="block"`` when the wait would exceed
    ``max_wait`` or the attempt's remaining time. Nothing was sent, so it is safe to try
    again later. ``project`` is the quota project, ``wait`` the seconds until a token
    would have been free, ``rate`` the requests per second allowed at that moment. It is
    not an API error, so eemw's retry stage does not retry it.
    """

    def __init__(self, message: str, *, project: str, wait: float, rate: float) -> None:
        super().__init__(message)
        self.project = project
        self.wait = wait
        self.rate = rate


class _Bucket:
    __slots__ = ("decreased", "rate", "tokens", "updated")

    def __init__(self, rate: float, tokens: float, now: float) -> None:
        self.rate = rate
        self.tokens = tokens
        self.updated = now
        self.decreased: float | None = None  # when the rate was last cut


class RateLimiter:
    """The rate-limiting middleware (attempt phase, after ``auth``).

    ``qps`` is the steady rate per quota project and ``burst`` the bucket size (default:
    one second's worth, at least 1). ``max_wait`` bounds a blocking wait in seconds.
    ``decrease`` (0 < d < 1) multiplies the rate on a 429, at most once per ``cooldown``
    seconds per project; ``increase`` (requests per second, default ``qps / 100``) is
    added back per success; the rate never drops below ``min_qps`` (default
    ``min(1, qps)``).

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
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
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
        _require(math.isfinite(self.burst) and self.burst >= 1, "burst must be a number >= 1")
        _require(math.isfinite(self.max_wait) and self.max_wait >= 0, "max_wait must be >= 0")
        _require(mode in ("block", "fail"), "mode must be 'block' or 'fail'")
        _require(0 < self.decrease < 1, "decrease must be between 0 and 1")
        _require(_positive(self.increase), "increase must be a positive number")
        _require(
            _positive(self.min_qps) and self.min_qps <= self.qps,
            "min_qps must be a positive number no larger than qps",
        )
        _require(math.isfinite(self.cooldown) and self.cooldown >= 0, "cooldown must be >= 0")
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        clock = self._clock or request.context.get(eemw.keys.CLOCK)
        project = quota_project(request)
        wait = self.reserve(project, timeout=request.timeout, now=clock())
        if wait > 0:
            logger.debug("waiting %.3fs for a request slot of quota project %s", wait, project)
            (self._sleep or request.context.get(eemw.keys.SLEEP))(wait)
            if request.timeout is not None:
                request = request.with_timeout(request.timeout - wait)
        try:
            response = call_next(request)
        except eemw.ResourceExhaustedError:
            self.throttled(project, now=clock())
            raise
        self.succeeded(project, now=clock())
        return response

    def reserve(
        self, project: str, *, timeout: float | None = None, now: float | None = None
    ) -> float:
        """Take a token for ``project``; return how long to wait before sending.

        Raises :class:`RateLimitedError` (taking nothing) when the wait is not allowed:
        any wait in ``fail`` mode, else one longer than ``max_wait`` or not shorter than
        ``timeout``. A wait that is allowed holds its token, so later callers queue after.
        ``now`` is the time on the limiter's clock (default: read it).
        """
        with self._lock:
            now = self._now(now)
            bucket = self._bucket(project, now)
            self._refill(bucket, now)
            wait = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate
            if wait > 0:
                self._check_wait(project, wait, bucket.rate, timeout)
            bucket.tokens -= 1
            return wait

    def throttled(self, project: str, *, now: float | None = None) -> None:
        """The server answered 429 for ``project``: drop its burst and, at most once per
        ``cooldown``, lower its rate."""
        with self._lock:
            now = self._now(now)
            bucket = self._bucket(project, now)
            self._refill(bucket, now)
            bucket.tokens = min(bucket.tokens, 0.0)
            last = bucket.decreased
            if last is not None and now - last < self.cooldown:
                return  # the same overload, answered to attempts already in flight
            bucket.rate = max(self.min_qps, bucket.rate * self.decrease)
            bucket.decreased = now
            rate = bucket.rate
        logger.info("quota project %s answered 429: limiting to %.3g requests/s", project, rate)

    def succeeded(self, project: str, *, now: float | None = None) -> None:
        """An attempt for ``project`` succeeded: raise a lowered rate by ``increase``."""
        bucket = self._buckets.get(project)
        if bucket is None or bucket.rate >= self.qps:
            return  # the common case: nothing to recover, no lock taken
        with self._lock:
            self._refill(bucket, self._now(now))
            bucket.rate = min(self.qps, bucket.rate + self.increase)

    def rate(self, project: str) -> float:
        """The requests per second ``project`` is allowed now."""
        bucket = self._buckets.get(project)
        return self.qps if bucket is None else bucket.rate

    def _now(self, now: float | None) -> float:
        if now is not None:
            return now
        return (self._clock or time.monotonic)()

    def _check_wait(self, project: str, wait: float, rate: float, timeout: float | None) -> None:
        if self.mode == "fail":
            why = "mode is 'fail'"
        elif wait > self.max_wait:
            why = f"that is longer than max_wait ({self.max_wait:g}s)"
        elif timeout is not None and wait >= timeout:
            why = f"the attempt has only {timeout:.3g}s left"
        else:
            return
        raise RateLimitedError(
            f"rate limit of quota project {project!r} reached ({rate:.3g} requests/s): the "
            f"next request slot is {wait:.3g}s away and {why}; nothing was sent, try again "
            "later or raise the ratelimit plugin's qps/max_wait",
            project=project, wait=wait, rate=rate,
        )

    def _capacity(self, bucket: _Bucket) -> float:
        return max(1.0, self.burst * bucket.rate / self.qps)

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self._capacity(bucket), bucket.tokens + elapsed * bucket.rate)
        bucket.updated = now

    def _bucket(self, project: str, now: float) -> _Bucket:
        bucket = self._buckets.get(project)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._drop_idle(now)
            bucket = self._buckets[project] = _Bucket(self.qps, self.burst, now)
        return bucket

    def _drop_idle(self, now: float) -> None:
        # A full bucket at the configured rate is the same as a new one: forget it.
        idle = [
            p for p, b in self._buckets.items()
            if b.rate >= self.qps and b.tokens + (now - b.updated) * b.rate >= self.burst
        ]
        for project in idle:
            del self._buckets[project]

    def __repr__(self) -> str:
        return (
            f"RateLimiter(qps={self.qps:g}, burst={self.burst:g}, mode={self.mode!r}, "
            f"max_wait={self.max_wait:g})"
        )


def quota_project(request: eemw.Request) -> str:
    """The project a request is billed to: ``X-Goog-User-Project``, else the call's."""
    header: str | None = request.headers.get("X-Goog-User-Project")
    return header or request.call.project


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise eemw.UsageError(f"RateLimiter: {message}")


def factory(settings: Mapping[str, str]) -> eemw.Entry:
    """The ``ratelimit`` entry point: a :class:`RateLimiter` placed after ``auth``.

    Settings (all optional): ``qps``, ``burst``, ``max_wait`` (seconds), ``mode``
    (``block`` or ``fail``), ``decrease``, ``increase``, ``min_qps``, ``cooldown``
    (seconds). The limiter runs on the client's clock and sleep.
    """
    s = eemw.PluginSettings(settings, plugin="ratelimit", known=SETTINGS)
    qps = s.number("qps", DEFAULT_QPS, above=0)
    min_qps = s.number("min_qps", min(1.0, qps), above=0)
    if min_qps > qps:
        raise s.error("min_qps", f"must not be larger than qps ({qps:g})")
    mode: Mode = "fail" if s.choice("mode", ("block", "fail"), "block") == "fail" else "block"
    limiter = RateLimiter(
        qps,
        burst=s.number("burst", max(1.0, qps), minimum=1),
        max_wait=s.number("max_wait", 10.0, minimum=0),
        mode=mode,
        decrease=s.number("decrease", 0.5, above=0, maximum=0.99),
        increase=s.number("increase", qps / 100, above=0),
        min_qps=min_qps,
        cooldown=s.number("cooldown", DEFAULT_COOLDOWN, minimum=0),
    )
    return eemw.Entry("ratelimit", limiter, "attempt", after="auth")
