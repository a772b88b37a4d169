"""End to end: a fleet of worker processes against the emulator enforcing a project quota
(requests per second over a sliding window, and requests in flight)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eemw_ratelimit.testing import RedisServer

from eemw.emulator import Emulator

from .conftest import Worker

QUOTA_QPS = 20
QUOTA_CONCURRENT = 2
WORKERS = 3


def run_fleet(spawn: Callable[..., Worker], url: str, **settings: str) -> list[dict[str, Any]]:
    fleet = [spawn({"endpoint": url, "calls": 12, "threads": 2, "wait_go": True}, **settings)
             for _ in range(WORKERS)]
    for worker in fleet:  # all ready before any starts: the fleet runs at once
        worker.read_until(lambda lines: "ready" in lines)
    for worker in fleet:
        worker.go()
    return [worker.finish() for worker in fleet]


def throttled(summaries: list[dict[str, Any]]) -> int:
    return sum(s["statuses"].get("429", 0) for s in summaries)


def quota_emulator() -> Emulator:
    # Responses take 50 ms, so callers overlap and the concurrency quota matters.
    return Emulator(require_auth=False, quota_qps=QUOTA_QPS, quota_concurrent=QUOTA_CONCURRENT,
                    latency=0.05)


def test_a_shared_limiter_keeps_the_fleet_under_the_quota(
    redis_server: RedisServer, spawn: Callable[..., Worker]
) -> None:
    # Rate plus burst stay under the quota, so no one-second window can go over it.
    with quota_emulator() as emulator:
        shared = run_fleet(spawn, emulator.url, redis_url=redis_server.url, qps="15",
                           burst="1", max_concurrent=str(QUOTA_CONCURRENT),
                           fleet_size=str(WORKERS), redis_timeout="2")
    assert all(s["calls"] == {"answered": 24} for s in shared)
    assert throttled(shared) == 0


def test_per_process_limiters_alone_overrun_the_same_quota(
    spawn: Callable[..., Worker],
) -> None:
    # The same settings without Redis: each process believes the quota is its own.
    with quota_emulator() as emulator:
        alone = run_fleet(spawn, emulator.url, qps="15", burst="1")
    assert throttled(alone) > 0
