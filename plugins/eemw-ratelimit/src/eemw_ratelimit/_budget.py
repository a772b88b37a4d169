"""A retry budget shared by a fleet through Redis: :class:`SharedRetryBudget`.

eemw's :class:`eemw.RetryBudget` bounds one client's retries during an outage; N
processes each with their own budget still send N times the retries. This subclass keeps
the tokens in Redis (one key per ``key`` and prefix, changed only by Lua scripts), so the
whole fleet spends from one bucket. While Redis does not answer it spends from the
in-process bucket it inherits, exactly as an unshared budget would.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.metrics import MeterProvider

import eemw

from . import _metrics
from ._link import DEFAULT_TIMEOUT, RedisLink, Unavailable
from ._redis import DEFAULT_PREFIX, IDLE_SECONDS

_FMT = "local function fmt(x) return string.format('%.17g', x) end\n"

# ARGV: cost, capacity, idle seconds. Returns {1 if paid else 0, tokens left}.
SPEND = _FMT + """
local cost, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = math.min(capacity, tonumber(redis.call('GET', KEYS[1])) or capacity)
local paid = 0
if tokens >= cost then
  tokens = tokens - cost
  paid = 1
end
redis.call('SET', KEYS[1], fmt(tokens), 'EX', ARGV[3])
return {paid, fmt(tokens)}
"""

# ARGV: refund, capacity, idle seconds. Returns the tokens now.
REFUND = _FMT + """
local refund, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens = math.min(capacity, (tonumber(redis.call('GET', KEYS[1])) or capacity) + refund)
redis.call('SET', KEYS[1], fmt(tokens), 'EX', ARGV[3])
return fmt(tokens)
"""

# A success is refunded without asking Redis while the bucket was last seen full, for at
# most this long: a healthy fleet then pays no round trip per success.
_FULL_FOR = 1.0


class SharedRetryBudget(eemw.RetryBudget):
    """An :class:`eemw.RetryBudget` whose tokens live in Redis, shared by every client
    (in any process) built with the same ``redis_url``, ``key_prefix`` and ``key``.

    Give it to the client: ``eemw.Client(retry_budget=SharedRetryBudget(url))``. Sizes
    (``capacity``, ``retry_cost``, ``throttle_cost``, ``refund``) are eemw.RetryBudget's,
    with its defaults; every member of a fleet SHOULD use the same. ``redis_timeout``
    bounds each round trip; past it (or with Redis down) the budget spends from its own
    in-process bucket until Redis answers again. The URL's password is never shown.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        key: str = "default",
        key_prefix: str = DEFAULT_PREFIX,
        redis_timeout: float = DEFAULT_TIMEOUT,
        meter_provider: MeterProvider | None = None,
        **sizes: float,
    ) -> None:
        super().__init__(**sizes)
        if not key or not key_prefix:
            raise eemw.UsageError("SharedRetryBudget: key and key_prefix must not be empty")
        self.link = RedisLink(
            redis_url, timeout=redis_timeout, name="retry_budget",
            instruments=_metrics.instruments(meter_provider),
        )
        self.key = f"{key_prefix}:budget:{{{key}}}"
        self._spend = self.link.script(SPEND)
        self._refund = self.link.script(REFUND)
        self._seen_full_at: float | None = None

    @property
    def tokens(self) -> float:
        """The tokens left now, fleet-wide (this process's while Redis is down)."""
        try:
            raw: Any = self.link.call(lambda client: client.get(self.key))
        except Unavailable:
            return super().tokens
        return self.capacity if raw is None else min(self.capacity, float(raw))

    def try_spend(self, throttled: bool) -> bool:
        cost = self.throttle_cost if throttled else self.retry_cost
        try:
            paid, _ = self.link.run(
                self._spend, [self.key], [repr(cost), repr(self.capacity), str(IDLE_SECONDS)]
            )
        except Unavailable:
            return super().try_spend(throttled)
        self._seen_full_at = None
        return int(paid) == 1

    def record_success(self, spent: float = 0.0) -> None:
        seen = self._seen_full_at
        if seen is not None and time.monotonic() - seen < _FULL_FOR:
            return
        try:
            left = self.link.run(
                self._refund, [self.key], [repr(spent or self.refund), repr(self.capacity),
                                           str(IDLE_SECONDS)]
            )
        except Unavailable:
            super().record_success(spent)
            return
        full = float(left) >= self.capacity
        self._seen_full_at = time.monotonic() if full else None

    def close(self) -> None:
        self.link.close()

    def __repr__(self) -> str:
        return (
            f"SharedRetryBudget(redis_url={self.link.url!r}, key={self.key!r}, "
            f"capacity={self.capacity:g})"
        )
