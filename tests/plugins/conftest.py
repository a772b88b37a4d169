"""Shared helpers for the plugin tests.

The plugins and the fixture distributions under ``fixtures/`` are installed into the venv
as real distributions (``make test`` does it), so discovery reads real metadata.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.testing import FakeClock, MockTransport, respond


@pytest.fixture(autouse=True)
def no_plugin_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's own EEMW_PLUGINS* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("EEMW_PLUGIN"):
            monkeypatch.delenv(name)
    yield


def answer(request: eemw.Request) -> eemw.Response:
    """What the API answers: an operation for get, ``{}`` for cancel and delete."""
    if request.call.kind in ("cancel", "delete"):
        return respond(request, json={})
    return respond(request, json={"name": request.call.name, "done": False})


@pytest.fixture
def transport() -> MockTransport:
    return MockTransport(answer)


@pytest.fixture
def make_client(transport: MockTransport) -> Callable[..., eemw.Client]:
    """A client on the mock transport; keyword arguments go to ``eemw.Client``."""

    def make(**kwargs: object) -> eemw.Client:
        return eemw.Client(
            "demo", transport=transport, credentials=AnonymousCredentials(),
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
