"""SharedRetryBudget: one retry budget for a fleet, kept in a real redis-server."""

from __future__ import annotations

import contextlib

from eemw_ratelimit import SharedRetryBudget
from eemw_ratelimit.testing import RedisServer
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.testing import FakeClock, MockTransport, respond

SIZES = {"capacity": 10.0, "retry_cost": 5.0, "throttle_cost": 1.0, "refund": 1.0}

# Time enough for a loaded test machine: these tests are not about a slow Redis.
SLOW_OK = 2.0


def test_two_processes_spend_from_one_budget(redis_server: RedisServer) -> None:
    one, two = (SharedRetryBudget(redis_server.url, redis_timeout=SLOW_OK, **SIZES)
                for _ in range(2))
    assert one.try_spend(throttled=False)
    assert two.try_spend(throttled=False)
    assert not one.try_spend(throttled=False)
    assert two.tokens == 0
    one.record_success()
    two.record_success()
    assert one.tokens == 2
    assert two.try_spend(throttled=True)  # a 429 costs less
    assert isinstance(one, eemw.RetryBudget)


def test_budgets_with_other_keys_are_apart(redis_server: RedisServer) -> None:
    blue = SharedRetryBudget(redis_server.url, redis_timeout=SLOW_OK, key="blue", **SIZES)
    green = SharedRetryBudget(redis_server.url, redis_timeout=SLOW_OK, key="green", **SIZES)
    assert blue.try_spend(throttled=False) and blue.try_spend(throttled=False)
    assert green.try_spend(throttled=False)


def test_with_redis_down_the_budget_is_this_process_own(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis_server.kill()
    budget = SharedRetryBudget(url, **SIZES)
    assert [budget.try_spend(throttled=False) for _ in range(3)] == [True, True, False]
    assert budget.link.degraded


def test_clients_in_a_fleet_share_one_outage_budget(redis_server: RedisServer) -> None:
    sent: list[str] = []

    def outage(req: eemw.Request) -> eemw.Response:
        sent.append(req.call.name)
        return respond(req, status=503, json={"error": {"code": 503, "status": "UNAVAILABLE",
                                                         "message": "down"}})

    attempts = []
    for _ in range(2):
        clock = FakeClock()
        client = eemw.Client(
            "demo", transport=MockTransport(outage), credentials=AnonymousCredentials(),
            clock=clock, sleep=clock.sleep,
            retry_budget=SharedRetryBudget(redis_server.url, redis_timeout=SLOW_OK, **SIZES),
        )
        before = len(sent)
        with client:
            with contextlib.suppress(eemw.EemwError):
                client.operations.get("op-1")
        attempts.append(len(sent) - before)
    # 10 tokens at 5 per retry: two retries for the whole fleet, all taken by the first.
    assert attempts == [3, 1]
