"""Fixtures for the watch tests: an emulator whose clock only moves when the client sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import eemw
from eemw.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


ClientFactory = Callable[..., eemw.Client]


@pytest.fixture
def make_client(emu: Emulator) -> Iterator[ClientFactory]:
    """Clients on ``emu`` whose clock is the emulator's and whose sleep advances it.

    ``on_sleep`` (optional) runs after every sleep: a test's way to change the world
    between two rounds.
    """
    made: list[eemw.Client] = []

    def make(on_sleep: Callable[[float], None] | None = None, **options: object) -> eemw.Client:
        def sleep(seconds: float) -> None:
            emu.advance(seconds)
            if on_sleep is not None:
                on_sleep(emu.now)

        settings: dict[str, object] = {
            "endpoint": emu.url,
            "credentials": emu.credentials(),
            "retry": eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
            "clock": lambda: emu.now,
            "sleep": sleep,
        }
        settings.update(options)
        client = eemw.Client("demo", **settings)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()

