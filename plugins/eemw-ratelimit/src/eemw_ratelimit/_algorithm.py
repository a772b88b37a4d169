"""The limiter's one algorithm and its in-process store.

A token bucket per quota project whose rate adapts (AIMD), plus leases that bound the
requests in flight. The maths lives here once, as functions over a :class:`Bucket`;
:class:`LocalStore` keeps the state in this process and the Redis store
(``_redis.py``) runs the same steps, line for line, inside a Lua script on the server.
A store is what the middleware talks to (:class:`Store`); a differential test drives
both stores through the same sequence and expects the same answers.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, replace
from typing import Literal, Protocol

Outcome = Literal["ok", "throttled", "other"]

# Idle, fully recovered buckets are dropped past this many projects.
_MAX_BUCKETS = 4096


@dataclass(frozen=True)
class Policy:
    """The configured limits of one quota project, the same for every store."""

    qps: float
    burst: float
    decrease: float
    increase: float
    min_qps: float
    cooldown: float

    def share(self, parts: int) -> Policy:
        """This policy divided among ``parts`` processes (each one's share of the quota)."""
        if parts <= 1:
            return self
        qps = self.qps / parts
        return replace(
            self, qps=qps, burst=max(1.0, self.burst / parts),
            increase=self.increase / parts, min_qps=min(qps, self.min_qps / parts),
        )


@dataclass
class Bucket:
    rate: float
    tokens: float
    updated: float
    decreased: float | None = None  # when the rate was last cut


@dataclass(frozen=True)
class Admission:
    """A store's answer to :meth:`Store.admit`.

    ``wait``: seconds to wait before sending (a token is held for the caller), or, when
    ``refused``, the wait that was not allowed (nothing taken). ``busy``: not ``None``
    when every concurrency slot is taken (nothing taken); seconds until the oldest lease
    expires. ``lease``: the slot held, to give back through :meth:`Store.finish`.
    """

    wait: float
    rate: float
    lease: str | None = None
    refused: bool = False
    busy: float | None = None


class Store(Protocol):
    """Where the limiter's state lives. Every method MUST be atomic per project.

    ``now`` is the caller's clock; a store with a clock of its own (Redis: the server's)
    MAY ignore it. ``timeout`` ``None`` means no bound; a wait is refused when it is
    longer than ``max_wait`` or not shorter than ``timeout``. ``slots`` 0 means no
    concurrency bound; otherwise a granted admission holds a lease that expires
    ``ttl`` seconds after its wait unless given back first.
    """

    def admit(
        self, project: str, policy: Policy, *, now: float, max_wait: float,
        timeout: float | None, slots: int, ttl: float,
    ) -> Admission: ...

    def finish(
        self, project: str, policy: Policy, *, lease: str | None, outcome: Outcome, now: float
    ) -> tuple[float, bool]:
        """Give back ``lease`` and apply the attempt's outcome; return (rate, cut)."""
        ...

    def rates(self) -> dict[str, float]:
        """The last known rate of each project this store has seen."""
        ...


def capacity(bucket: Bucket, policy: Policy) -> float:
    # The burst shrinks with the rate, so a throttled project cannot burst back at full size.
    return max(1.0, policy.burst * bucket.rate / policy.qps)


def refill(bucket: Bucket, policy: Policy, now: float) -> None:
    bucket.rate = min(bucket.rate, policy.qps)
    elapsed = max(0.0, now - bucket.updated)
    bucket.tokens = min(capacity(bucket, policy), bucket.tokens + elapsed * bucket.rate)
    bucket.updated = now


def reserve(
    bucket: Bucket, policy: Policy, now: float, max_wait: float, timeout: float | None
) -> tuple[float, bool]:
    """Take a token; return (wait, refused). A refused wait takes nothing."""
    refill(bucket, policy, now)
    wait = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate
    if wait > 0 and (wait > max_wait or (timeout is not None and wait >= timeout)):
        return wait, True
    bucket.tokens -= 1
    return wait, False


def throttle(bucket: Bucket, policy: Policy, now: float) -> bool:
    """A 429: drop the burst and, at most once per cool-down, cut the rate."""
    refill(bucket, policy, now)
    bucket.tokens = min(bucket.tokens, 0.0)
    last = bucket.decreased
    if last is not None and now - last < policy.cooldown:
        return False  # the same overload, answered to attempts already in flight
    bucket.rate = max(policy.min_qps, bucket.rate * policy.decrease)
    bucket.decreased = now
    return True


def recover(bucket: Bucket, policy: Policy, now: float) -> None:
    """A success: raise a lowered rate by ``increase``."""
    refill(bucket, policy, now)
    bucket.rate = min(policy.qps, bucket.rate + policy.increase)


class LocalStore:
    """The in-process store: one lock over every project's bucket and leases."""

    def __init__(self, *, lease_prefix: str = "local:") -> None:
        self._buckets: dict[str, Bucket] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.lease_prefix = lease_prefix

    def admit(
        self, project: str, policy: Policy, *, now: float, max_wait: float,
        timeout: float | None, slots: int, ttl: float,
    ) -> Admission:
        with self._lock:
            bucket = self._bucket(project, policy, now)
            if slots > 0:
                held = self._live_leases(project, now)
                if len(held) >= slots:
                    refill(bucket, policy, now)
                    return Admission(0.0, bucket.rate, busy=min(held.values()) - now)
            wait, refused = reserve(bucket, policy, now, max_wait, timeout)
            if refused or slots <= 0:
                return Admission(wait, bucket.rate, refused=refused)
            lease = f"{self.lease_prefix}{next(self._ids)}"
            self._leases.setdefault(project, {})[lease] = now + wait + ttl
            return Admission(wait, bucket.rate, lease=lease)

    def finish(
        self, project: str, policy: Policy, *, lease: str | None, outcome: Outcome, now: float
    ) -> tuple[float, bool]:
        bucket = self._buckets.get(project)
        if lease is None and outcome != "throttled" and (
            bucket is None or bucket.rate >= policy.qps
        ):
            return policy.qps if bucket is None else bucket.rate, False  # no lock: common case
        with self._lock:
            if lease is not None:
                self._leases.get(project, {}).pop(lease, None)
            bucket = self._bucket(project, policy, now)
            cut = False
            if outcome == "throttled":
                cut = throttle(bucket, policy, now)
            elif outcome == "ok" and bucket.rate < policy.qps:
                recover(bucket, policy, now)
            return bucket.rate, cut

    def rates(self) -> dict[str, float]:
        return {project: bucket.rate for project, bucket in list(self._buckets.items())}

    def in_flight(self, project: str, now: float) -> int:
        """Leases of ``project`` not yet given back nor expired at ``now``."""
        with self._lock:
            return len(self._live_leases(project, now))

    def _live_leases(self, project: str, now: float) -> dict[str, float]:
        held = self._leases.get(project, {})
        for lease in [k for k, expiry in held.items() if expiry <= now]:
            del held[lease]
        return held

    def _bucket(self, project: str, policy: Policy, now: float) -> Bucket:
        bucket = self._buckets.get(project)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._drop_idle(policy, now)
            bucket = self._buckets[project] = Bucket(policy.qps, policy.burst, now)
        return bucket

    def _drop_idle(self, policy: Policy, now: float) -> None:
        # A full bucket at the configured rate with no lease is the same as a new one.
        idle = [
            p for p, b in self._buckets.items()
            if b.rate >= policy.qps and not self._leases.get(p)
            and b.tokens + (now - b.updated) * b.rate >= policy.burst
        ]
        for project in idle:
            del self._buckets[project]
            self._leases.pop(project, None)
