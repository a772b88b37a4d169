"""The code of docs/fleet.md, run against a real redis-server: each section is included there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eemw_ratelimit import SharedRetryBudget
from eemw_ratelimit.testing import RedisServer

from eemw.emulator import Emulator


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_sharing_the_retry_budget(
    configured_like_production: Emulator, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EEMW_PLUGIN_RATELIMIT_REDIS_URL", redis_server.url)
    # --8<-- [start:shared-budget]
    import os

    from eemw_ratelimit import SharedRetryBudget

    import eemw

    budget = SharedRetryBudget(os.environ["EEMW_PLUGIN_RATELIMIT_REDIS_URL"], key="prod")
    client = eemw.Client("my-project", retry_budget=budget)
    # --8<-- [end:shared-budget]
    client.close()
    assert isinstance(budget, eemw.RetryBudget)
    another_process = SharedRetryBudget(redis_server.url, key="prod")
    assert budget.try_spend(throttled=False)
    assert another_process.tokens == budget.tokens < budget.capacity   # one bucket, in Redis


def test_rehearsing_an_outage() -> None:
    # --8<-- [start:redis-server]
    from eemw_ratelimit.testing import RedisServer

    with RedisServer() as redis:
        budget = SharedRetryBudget(redis.url)   # or EEMW_PLUGIN_RATELIMIT_REDIS_URL=redis.url
        redis.kill()   # the fleet goes degraded
        assert budget.try_spend(throttled=False) and budget.link.degraded
        redis.start()  # and comes back
        # --8<-- [end:redis-server]
        # This budget probes again after a back-off (real time); a new member joins at once.
        assert not SharedRetryBudget(redis.url).link.degraded
        assert SharedRetryBudget(redis.url).try_spend(throttled=False)
