"""eemw-ratelimit: an adaptive, client-side rate limiter per quota project, for one
process or a whole fleet.

One token bucket per quota project (the request's ``X-Goog-User-Project`` header, else the
call's project), refilled at ``qps`` requests per second up to ``burst`` tokens, and
optionally at most ``max_concurrent`` attempts in flight. The stage sits in the attempt
phase after ``auth``, so it sees the quota project the request is billed to and limits
every retry and re-send, not just first attempts.

Adaptive (AIMD): an attempt answered 429 (:class:`eemw.ResourceExhaustedError`) multiplies
that project's rate by ``decrease`` and empties its bucket; each later success adds
``increase`` requests per second until the configured ``qps`` is reached again. The burst
shrinks with the rate. The rate is cut at most once per ``cooldown`` seconds: sixteen
attempts in flight that all come back 429 are one signal from the server, not sixteen.

With ``redis_url`` the same algorithm runs in Redis (atomic Lua scripts, the server's
clock), so every process using that Redis and key prefix shares one bucket, one AIMD rate
and one set of concurrency leases per quota project. When Redis is down or slow, each
process falls back to its in-process state with its share of the quota, logs it
once, and goes back to the shared state when Redis answers. :class:`SharedRetryBudget`
shares eemw's retry budget the same way.

Time is the client's: the stage waits with the ``eemw.keys.SLEEP`` and reads the ``eemw.keys.CLOCK``
and ``eemw.keys.DEADLINE`` found on each request's context, unless the limiter was built with
its own ``clock`` and ``sleep``. When no token is free, the stage sleeps until one is
(``mode="block"``), never longer than ``max_wait`` nor past the attempt's timeout or the
call's deadline; otherwise it raises :class:`RateLimitedError` without sending.
"""

from __future__ import annotations

from collections.abc import Mapping

import eemw

from ._budget import SharedRetryBudget
from ._limiter import (
    DEFAULT_COOLDOWN,
    DEFAULT_LEASE,
    DEFAULT_QPS,
    Mode,
    RateLimitedError,
    RateLimiter,
    quota_project,
)
from ._link import DEFAULT_TIMEOUT, check_url
from ._redis import DEFAULT_PREFIX

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_LEASE",
    "DEFAULT_PREFIX",
    "DEFAULT_QPS",
    "DEFAULT_TIMEOUT",
    "SETTINGS",
    "Mode",
    "RateLimitedError",
    "RateLimiter",
    "SharedRetryBudget",
    "factory",
    "quota_project",
]

SETTINGS = (
    "qps", "burst", "max_wait", "mode", "decrease", "increase", "min_qps", "cooldown",
    "max_concurrent", "lease", "redis_url", "key_prefix", "redis_timeout", "fleet_size",
)
"""The settings :func:`factory` accepts."""


def factory(settings: Mapping[str, str]) -> eemw.Entry:
    """The ``ratelimit`` entry point: a :class:`RateLimiter` placed after ``auth``.

    Settings (all optional): ``qps``, ``burst``, ``max_wait`` (seconds), ``mode``
    (``block`` or ``fail``), ``decrease``, ``increase``, ``min_qps``, ``cooldown``
    (seconds), ``max_concurrent``, ``lease`` (seconds); for a fleet ``redis_url``,
    ``key_prefix``, ``redis_timeout`` (seconds) and ``fleet_size``. The limiter runs on
    the client's clock and sleep.
    """
    s = eemw.PluginSettings(settings, plugin="ratelimit", known=SETTINGS)
    qps = s.number("qps", DEFAULT_QPS, above=0)
    min_qps = s.number("min_qps", min(1.0, qps), above=0)
    if min_qps > qps:
        raise s.error("min_qps", f"must not be larger than qps ({qps:g})")
    mode: Mode = "fail" if s.choice("mode", ("block", "fail"), "block") == "fail" else "block"
    redis_url = s.text("redis_url") or None
    if redis_url is not None:
        try:
            check_url(redis_url)
        except eemw.UsageError:
            raise s.error("redis_url", "must be a redis://, rediss:// or unix:// URL") from None
    key_prefix = s.text("key_prefix", DEFAULT_PREFIX)
    if not key_prefix:
        raise s.error("key_prefix", "must not be empty")
    max_concurrent = s.integer("max_concurrent", 0, minimum=0)
    limiter = RateLimiter(
        qps,
        burst=s.number("burst", max(1.0, qps), minimum=1),
        max_wait=s.number("max_wait", 10.0, minimum=0),
        mode=mode,
        decrease=s.number("decrease", 0.5, above=0, maximum=0.99),
        increase=s.number("increase", qps / 100, above=0),
        min_qps=min_qps,
        cooldown=s.number("cooldown", DEFAULT_COOLDOWN, minimum=0),
        max_concurrent=max_concurrent or None,
        lease=s.number("lease", DEFAULT_LEASE, above=0),
        redis_url=redis_url,
        key_prefix=key_prefix,
        redis_timeout=s.number("redis_timeout", DEFAULT_TIMEOUT, above=0),
        fleet_size=s.integer("fleet_size", 1, minimum=1),
    )
    return eemw.Entry("ratelimit", limiter, "attempt", after="auth")
