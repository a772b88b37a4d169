"""Several real worker processes sharing one Redis: leases of killed workers come back,
key prefixes keep fleets apart, and a Redis restart never fails a call."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from eemw_ratelimit import RateLimitedError, RateLimiter
from eemw_ratelimit.testing import RedisServer

import eemw
from eemw.emulator import Emulator
from eemw.testing import respond

from .conftest import Worker

# Time enough for a loaded test machine, where the test is not about a slow Redis.
SLOW_OK = "2"


def request() -> eemw.Request:
    call = eemw.Call("get", "demo", "v1", "projects/demo/operations/x")
    return eemw.Request("GET", "https://example.test/v1/x", eemw.Headers(), call)


def test_a_killed_workers_slot_is_free_again_within_its_lease(
    redis_server: RedisServer, spawn: Callable[..., Worker]
) -> None:
    shared = {"redis_url": redis_server.url, "max_concurrent": "1", "lease": "3",
              "redis_timeout": SLOW_OK}
    holder = spawn({"calls": 1, "hold": True}, **shared)
    holder.read_until(lambda lines: "holding" in lines)
    holder.process.send_signal(signal.SIGKILL)
    holder.process.wait(timeout=10)
    limiter = RateLimiter(100, max_concurrent=1, lease=3, max_wait=6, mode="fail",
                          redis_url=redis_server.url, redis_timeout=float(SLOW_OK))
    with pytest.raises(RateLimitedError, match="concurrency"):
        limiter(request(), lambda r: respond(r, json={}))  # the dead worker's lease holds
    waiting = RateLimiter(100, max_concurrent=1, lease=3, max_wait=6,
                          redis_url=redis_server.url, redis_timeout=float(SLOW_OK))
    waiting(request(), lambda r: respond(r, json={}))  # sent once the lease ran out


def test_key_prefixes_keep_two_fleets_apart(
    redis_server: RedisServer, spawn: Callable[..., Worker]
) -> None:
    # Two tokens per fleet, refilled once every 100 s: what each fleet sends is exact.
    limits = {"redis_url": redis_server.url, "qps": "0.01", "burst": "2", "mode": "fail",
              "min_qps": "0.01", "redis_timeout": SLOW_OK}
    blue = [spawn({"calls": 2}, key_prefix="blue", **limits) for _ in range(2)]
    green = spawn({"calls": 2}, key_prefix="green", **limits)
    sent_blue = sum(w.finish()["calls"].get("answered", 0) for w in blue)
    assert sent_blue == 2
    assert green.finish()["calls"] == {"answered": 2}


def test_calls_go_on_through_a_redis_restart(
    redis_server: RedisServer, spawn: Callable[..., Worker]
) -> None:
    def seen(state: str, count: int) -> Callable[[list[str]], bool]:
        return lambda lines: sum(1 for line in lines if line.startswith(f"sent {state} ")) >= count

    with Emulator(require_auth=False) as emulator:
        workers = [spawn({"endpoint": emulator.url, "calls": None}, redis_url=redis_server.url,
                         qps="200", fleet_size="2") for _ in range(2)]
        for w in workers:
            w.read_until(seen("shared", 5))
        redis_server.kill()
        for w in workers:
            w.read_until(seen("degraded", 5))
        redis_server.start()
        for w in workers:
            shared_before = sum(1 for line in w.lines if line.startswith("sent shared "))
            w.read_until(seen("shared", shared_before + 5))
        summaries = [w.finish() for w in workers]
    for worker, summary in zip(workers, summaries, strict=True):
        assert set(summary["calls"]) == {"answered"}  # not one call failed
        assert set(summary["statuses"]) == {"200"}
        # Logged once down and once back, not per call.
        log = worker.stderr_text
        assert log.count("is not answering") == 1, log
        assert log.count("answers again") == 1, log


def test_a_worker_that_starts_late_gets_its_share(
    redis_server: RedisServer, spawn: Callable[..., Worker]
) -> None:
    limits = {"redis_url": redis_server.url, "qps": "40", "burst": "1",
              "redis_timeout": SLOW_OK}
    first = spawn({"calls": None, "threads": 4}, **limits)
    first.read_until(lambda lines: len(lines) >= 40)  # it has the whole rate to itself
    late = spawn({"calls": None, "threads": 4}, **limits)
    late.read_until(lambda lines: len(lines) >= 40)
    late_times = [float(line.split()[2]) for line in late.lines]
    first.read_until(lambda lines: float(lines[-1].split()[2]) > late_times[-1])
    first.finish()
    late.finish()
    first_times = [float(line.split()[2]) for line in first.lines]
    # While both ran, the late worker was served in turn with the first one: one shared
    # queue, not a first come, first served quota.
    both = [t for t in first_times if late_times[0] <= t <= late_times[-1]]
    assert len(late_times) >= len(both) / 2
