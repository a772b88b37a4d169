"""One algorithm, two stores: the Redis store (Lua on a real redis-server) answers what
the in-process store answers, step for step, on the same clock."""

from __future__ import annotations

import pytest
import redis
from eemw_ratelimit._algorithm import LocalStore, Outcome, Policy
from eemw_ratelimit._link import RedisLink
from eemw_ratelimit._redis import RedisStore
from eemw_ratelimit.testing import RedisServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

POLICY = Policy(qps=10, burst=3, decrease=0.5, increase=1, min_qps=1, cooldown=1)

step = st.one_of(
    st.tuples(st.just("admit"), st.floats(0, 0.5), st.sampled_from([0.0, 0.3, 10.0]),
              st.sampled_from([None, 0.2]), st.sampled_from([0, 2])),
    st.tuples(st.just("finish"), st.floats(0, 0.5), st.sampled_from(["ok", "throttled", "other"]),
              st.booleans(), st.just(0)),
)

# Time enough for a loaded test machine: these tests are not about a slow Redis.
SLOW_OK = 2.0


def shared_store(server: RedisServer, prefix: str = "t") -> RedisStore:
    return RedisStore(RedisLink(server.url, timeout=SLOW_OK), prefix, caller_clock=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_the_redis_store_follows_the_same_algorithm(
    redis_server: RedisServer, steps: list[tuple[str, float, object, object, int]]
) -> None:
    redis.Redis.from_url(redis_server.url).flushall()
    local, shared = LocalStore(), shared_store(redis_server)
    now = 1000.0
    leases: dict[str, list[str | None]] = {"local": [], "shared": []}
    for kind, gap, a, b, slots in steps:
        now += gap
        if kind == "admit":
            max_wait, timeout = float(a), b  # type: ignore[arg-type]
            got = [store.admit("p", POLICY, now=now, max_wait=max_wait, timeout=timeout,
                               slots=slots, ttl=0.4)
                   for store in (local, shared)]
            for name, admission in zip(("local", "shared"), got, strict=True):
                leases[name].append(admission.lease)
            one, two = got
            assert (one.refused, one.busy is None, one.lease is None) == (
                two.refused, two.busy is None, two.lease is None)
            assert (one.wait, one.rate) == pytest.approx((two.wait, two.rate))
            if one.busy is not None:
                assert one.busy == pytest.approx(two.busy)
        else:
            outcome: Outcome = a  # type: ignore[assignment]
            give_back = bool(b) and bool(leases["local"])
            results = [
                store.finish("p", POLICY, outcome=outcome, now=now,
                             lease=leases[name].pop(0) if give_back else None)
                for name, store in (("local", local), ("shared", shared))
            ]
            assert results[0][0] == pytest.approx(results[1][0])
            assert results[0][1] == results[1][1]


def test_on_the_server_clock_a_burst_goes_then_callers_queue(redis_server: RedisServer) -> None:
    store = RedisStore(RedisLink(redis_server.url, timeout=SLOW_OK), "t")
    policy = Policy(qps=1, burst=2, decrease=0.5, increase=0.1, min_qps=0.1, cooldown=1)
    waits = [store.admit("p", policy, now=0, max_wait=60, timeout=None, slots=0, ttl=1).wait
             for _ in range(4)]
    assert waits[:2] == [0, 0]
    # A fraction of a token came back between calls, never a whole one.
    assert 0 < waits[2] <= 1 < waits[3] <= 2


def test_a_429_in_one_process_cuts_the_rate_every_process_sees(redis_server: RedisServer) -> None:
    one, two = (RedisStore(RedisLink(redis_server.url, timeout=SLOW_OK), "t") for _ in range(2))
    rate, cut = one.finish("p", POLICY, lease=None, outcome="throttled", now=0)
    assert (rate, cut) == (5, True)
    assert two.admit("p", POLICY, now=0, max_wait=60, timeout=None, slots=0, ttl=1).rate == 5
    # Within the cool-down a second 429, from any process, does not cut again.
    assert two.finish("p", POLICY, lease=None, outcome="throttled", now=0) == (5, False)


def test_leases_bound_the_requests_in_flight_across_stores(redis_server: RedisServer) -> None:
    one, two = (RedisStore(RedisLink(redis_server.url, timeout=SLOW_OK), "t") for _ in range(2))
    admit = {"policy": POLICY, "now": 0, "max_wait": 60, "timeout": None, "slots": 2, "ttl": 30}
    first = one.admit("p", **admit)  # type: ignore[arg-type]
    second = two.admit("p", **admit)  # type: ignore[arg-type]
    assert first.lease and second.lease and first.lease != second.lease
    third = one.admit("p", **admit)  # type: ignore[arg-type]
    assert third.busy is not None and 0 < third.busy <= 30
    assert one.in_flight("p") == 2
    two.finish("p", POLICY, lease=second.lease, outcome="ok", now=0)
    assert one.admit("p", **admit).lease is not None  # type: ignore[arg-type]


def test_key_prefixes_keep_two_fleets_apart(redis_server: RedisServer) -> None:
    blue, green = shared_store(redis_server, "blue"), shared_store(redis_server, "green")
    blue.finish("p", POLICY, lease=None, outcome="throttled", now=0)
    assert blue.admit("p", POLICY, now=0, max_wait=0, timeout=None, slots=0, ttl=1).refused
    fresh = green.admit("p", POLICY, now=0, max_wait=0, timeout=None, slots=0, ttl=1)
    assert (fresh.refused, fresh.rate) == (False, 10)
    keys = {k.decode() for k in redis.Redis.from_url(redis_server.url).keys("*")}
    assert keys == {f"{fleet}:{{p}}:{kind}" for fleet in ("blue", "green")
                    for kind in ("bucket", "peers")}


def test_scripts_are_loaded_again_after_the_server_forgets_them(
    redis_server: RedisServer,
) -> None:
    store = RedisStore(RedisLink(redis_server.url, timeout=SLOW_OK), "t")
    store.admit("p", POLICY, now=0, max_wait=60, timeout=None, slots=0, ttl=1)
    admin = redis.Redis.from_url(redis_server.url)
    admin.script_flush()  # what a restarted server looks like to a client
    assert store.admit("p", POLICY, now=0, max_wait=60, timeout=None, slots=0, ttl=1).wait == 0
    assert not store.link.degraded
    calls = admin.info("commandstats")
    assert calls["cmdstat_evalsha"]["calls"] >= 2
    assert "cmdstat_eval" not in calls  # never the script text per call


def test_commands_are_packed_the_same_with_or_without_hiredis() -> None:
    from eemw_ratelimit._link import _pack, pack

    parts = ["EVALSHA", "ab" * 20, "2", "p:{é}:bucket", "", "0.1", "x" * 300]
    assert pack(parts) == _pack(parts)
    assert _pack(["PING"]) == b"*1\r\n$4\r\nPING\r\n"
