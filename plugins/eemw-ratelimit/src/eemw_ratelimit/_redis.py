"""The Redis store: the algorithm of ``_algorithm.py`` run by the Redis server.

Each step is one Lua script, so a whole fleet changes a project's state atomically and on
one clock (the server's ``TIME``). Keys, per quota project and key prefix (the project in
braces, so both keys of a project land on one Redis Cluster slot):

- ``{prefix}:{project}:bucket``: a hash (``rate``, ``tokens``, ``updated``, ``decreased``),
  forgotten after ``IDLE_SECONDS`` without traffic (a new bucket is a full one);
- ``{prefix}:{project}:leases``: a sorted set of lease ids scored by expiry time; expired
  leases are dropped by the next admission, so a killed worker's slot comes back within
  its lease time;
- ``{prefix}:{project}:peers``: a sorted set of process ids scored by expiry, renewed about
  once a second by each process using the project, so that each knows how many share the
  quota should Redis go away.

:class:`FleetStore` puts the two stores together: Redis while it answers, the in-process
store with this process's share of the quota while it does not.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

from ._algorithm import Admission, LocalStore, Outcome, Policy
from ._link import RedisLink, Unavailable

IDLE_SECONDS = 600

PEER_SECONDS = "10"
"""A process that has not used a project for this long no longer counts as its peer."""

DEFAULT_PREFIX = "eemw:ratelimit"

# The Python functions refill/reserve/throttle/recover, step for step. Numbers cross the
# boundary as %.17g strings: Redis would truncate a Lua number to an integer.
_COMMON = """
local function fmt(x) return string.format('%.17g', x) end
local qps, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local decrease, increase = tonumber(ARGV[3]), tonumber(ARGV[4])
local min_qps, cooldown = tonumber(ARGV[5]), tonumber(ARGV[6])
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function load(now)
  local v = redis.call('HMGET', KEYS[1], 'rate', 'tokens', 'updated', 'decreased')
  local b = {rate = tonumber(v[1]) or qps, tokens = tonumber(v[2]) or burst,
             updated = tonumber(v[3]) or now, decreased = tonumber(v[4])}
  b.rate = math.min(b.rate, qps)
  local cap = math.max(1, burst * b.rate / qps)
  b.tokens = math.min(cap, b.tokens + math.max(0, now - b.updated) * b.rate)
  b.updated = now
  return b
end
local function save(b, idle)
  redis.call('HSET', KEYS[1], 'rate', fmt(b.rate), 'tokens', fmt(b.tokens),
             'updated', fmt(b.updated))
  if b.decreased then redis.call('HSET', KEYS[1], 'decreased', fmt(b.decreased)) end
  redis.call('EXPIRE', KEYS[1], idle)
end
"""

# ARGV[7..15]: max_wait, timeout ('' = none), slots, ttl, lease id, now ('' = TIME), idle,
# peer id ('' = no heartbeat this time), peer seconds. Returns {status, wait, rate, lease or
# busy time, peers seen}.
ADMIT = _COMMON + """
local max_wait, timeout = tonumber(ARGV[7]), tonumber(ARGV[8])
local slots, ttl, lease = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
local now = clock(ARGV[12])
local b = load(now)
if ARGV[14] ~= '' then
  redis.call('ZADD', KEYS[3], fmt(now + tonumber(ARGV[15])), ARGV[14])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now))
  redis.call('EXPIRE', KEYS[3], ARGV[15])
end
local peers = tostring(redis.call('ZCARD', KEYS[3]))
if slots > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
  if redis.call('ZCARD', KEYS[2]) >= slots then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {'busy', '0', fmt(b.rate), fmt(tonumber(first[2]) - now), peers}
  end
end
local wait = 0
if b.tokens < 1 then wait = (1 - b.tokens) / b.rate end
if wait > 0 and (wait > max_wait or (timeout and wait >= timeout)) then
  return {'refused', fmt(wait), fmt(b.rate), '', peers}
end
b.tokens = b.tokens - 1
save(b, tonumber(ARGV[13]))
if slots <= 0 then return {'ok', fmt(wait), fmt(b.rate), '', peers} end
redis.call('ZADD', KEYS[2], fmt(now + wait + ttl), lease)
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(last[2]) - now) * 1000) + 1000)
return {'lease', fmt(wait), fmt(b.rate), lease, peers}
"""

# ARGV[7..10]: lease id ('' = none), outcome, now ('' = TIME), idle
FINISH = _COMMON + """
if ARGV[7] ~= '' then redis.call('ZREM', KEYS[2], ARGV[7]) end
local now = clock(ARGV[9])
local b = load(now)
local cut = 0
if ARGV[8] == 'throttled' then
  b.tokens = math.min(b.tokens, 0)
  if not (b.decreased and now - b.decreased < cooldown) then
    b.rate = math.max(min_qps, b.rate * decrease)
    b.decreased = now
    cut = 1
  end
elseif ARGV[8] == 'ok' and b.rate < qps then
  b.rate = math.min(qps, b.rate + increase)
else
  return {fmt(b.rate), 0}
end
save(b, tonumber(ARGV[10]))
return {fmt(b.rate), cut}
"""


@functools.lru_cache(maxsize=64)
def _policy_args(policy: Policy) -> tuple[str, ...]:
    return tuple(
        repr(float(x)) for x in (
            policy.qps, policy.burst, policy.decrease, policy.increase, policy.min_qps,
            policy.cooldown,
        )
    )


class RedisStore:
    """The shared store (see the module docstring). Raises :class:`Unavailable` when
    Redis cannot answer; it never waits longer than the link's timeout.

    ``caller_clock``: use the ``now`` callers pass instead of the server's ``TIME``. Only
    for tests that compare this store with :class:`LocalStore` step by step.
    """

    def __init__(
        self, link: RedisLink, prefix: str = DEFAULT_PREFIX, *, caller_clock: bool = False
    ) -> None:
        self.link = link
        self.prefix = prefix
        self._admit = link.script(ADMIT)
        self._finish = link.script(FINISH)
        self._caller_clock = caller_clock
        self._rates: dict[str, float] = {}
        self._peer = uuid.uuid4().hex
        self._beat_due: dict[str, float] = {}
        self.peers: dict[str, int] = {}
        """Per project, the processes that used it within ``PEER_SECONDS`` (this one too)."""

    def keys(self, project: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{{{project}}}"
        return f"{base}:bucket", f"{base}:leases", f"{base}:peers"

    def admit(
        self, project: str, policy: Policy, *, now: float, max_wait: float,
        timeout: float | None, slots: int, ttl: float,
    ) -> Admission:
        lease = uuid.uuid4().hex if slots > 0 else ""
        args = [
            *_policy_args(policy), repr(float(max_wait)),
            "" if timeout is None else repr(float(timeout)), str(slots), repr(float(ttl)),
            lease, self._now(now), str(IDLE_SECONDS), self._heartbeat(project), PEER_SECONDS,
        ]
        reply = self.link.run(self._admit, self.keys(project), args)
        status, wait, rate, extra, peers = _strings(reply)
        self._rates[project] = float(rate)
        self.peers[project] = int(peers)
        if status == "busy":
            return Admission(0.0, float(rate), busy=float(extra))
        return Admission(
            float(wait), float(rate), lease=extra or None, refused=status == "refused"
        )

    def finish(
        self, project: str, policy: Policy, *, lease: str | None, outcome: Outcome, now: float
    ) -> tuple[float, bool]:
        known = self._rates.get(project, policy.qps)
        if lease is None and (outcome == "other" or (outcome == "ok" and known >= policy.qps)):
            return known, False  # nothing would change: no round trip
        args = [*_policy_args(policy), lease or "", outcome, self._now(now), str(IDLE_SECONDS)]
        rate, cut = _strings(self.link.run(self._finish, self.keys(project), args))
        self._rates[project] = float(rate)
        return float(rate), cut == "1"

    def rates(self) -> dict[str, float]:
        return dict(self._rates)

    def in_flight(self, project: str) -> int:
        """Leases of ``project`` held now, fleet-wide (expired ones not yet dropped count)."""
        leases = self.keys(project)[1]
        return int(self.link.call(lambda client: client.zcard(leases)))

    def _heartbeat(self, project: str) -> str:
        # Say "I am here" about once a second per project, not on every call.
        clock = time.monotonic()
        if clock < self._beat_due.get(project, 0.0):
            return ""
        self._beat_due[project] = clock + 1.0
        return self._peer

    def _now(self, now: float) -> str:
        return repr(float(now)) if self._caller_clock else ""


def _strings(values: Sequence[Any]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class FleetStore:
    """Redis while it answers, else the in-process store with this process's share of the
    quota and of the concurrency slots (see :meth:`parts_of`). A lease is given back to
    the store that granted it."""

    def __init__(self, shared: RedisStore, parts: int = 1) -> None:
        self.shared = shared
        self.local = LocalStore(lease_prefix="local:")
        self.parts = max(1, parts)

    @property
    def degraded(self) -> bool:
        return self.shared.link.degraded

    def admit(
        self, project: str, policy: Policy, *, now: float, max_wait: float,
        timeout: float | None, slots: int, ttl: float,
    ) -> Admission:
        try:
            return self.shared.admit(
                project, policy, now=now, max_wait=max_wait, timeout=timeout, slots=slots,
                ttl=ttl,
            )
        except Unavailable:
            parts = self.parts_of(project)
            share = math.ceil(slots / parts) if slots > 0 else 0
            return self.local.admit(
                project, policy.share(parts), now=now, max_wait=max_wait,
                timeout=timeout, slots=share, ttl=ttl,
            )

    def finish(
        self, project: str, policy: Policy, *, lease: str | None, outcome: Outcome, now: float
    ) -> tuple[float, bool]:
        local_lease = lease is not None and lease.startswith(self.local.lease_prefix)
        if not local_lease and not (lease is None and self.degraded):
            try:
                return self.shared.finish(
                    project, policy, lease=lease, outcome=outcome, now=now
                )
            except Unavailable:
                lease = None  # it expires in Redis on its own, if Redis kept it at all
        return self.local.finish(
            project, policy.share(self.parts_of(project)), lease=lease, outcome=outcome,
            now=now,
        )

    def parts_of(self, project: str) -> int:
        """How many ways the quota of ``project`` is split while Redis is down: the
        configured fleet size, or the peers last seen through Redis if there were more."""
        return max(self.parts, self.shared.peers.get(project, 1))

    def rates(self) -> dict[str, float]:
        return self.local.rates() if self.degraded else self.shared.rates()
