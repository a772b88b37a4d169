"""Test helpers for code that uses eemw: ``MockTransport`` and pytest fixtures.

``MockTransport`` is a transport that calls your function instead of the network::

    def handler(request: eemw.Request) -> eemw.Response:
        return respond(request, json={"name": request.call.name, "done": True})

    client = eemw.Client("demo", transport=MockTransport(handler),
                         credentials=AnonymousCredentials())

It runs the client's full stack and records every request it is given. To simulate a
network failure, raise what the real transport would (``eemw.ConnectError``,
``eemw.ReadError``) from your handler: it propagates unchanged, so the retry stage
treats it exactly as a real one.

Installed eemw also registers a pytest plugin (entry point ``pytest11``) with fixtures:
``eemw_emulator`` (a running :class:`eemw.emulator.Emulator`) and ``eemw_client`` (a
:class:`eemw.Client` bound to it, with retries that never really sleep).
"""

from __future__ import annotations

import json as _json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._http import Headers, Request, Response

if TYPE_CHECKING:
    from ._client import Client
    from .emulator import Emulator

__all__ = ["FakeClock", "MockTransport", "respond"]


def respond(
    request: Request,
    status: int = 200,
    *,
    json: Any = None,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response to ``request``: ``json`` is encoded as the body when given."""
    h = Headers(headers)
    if json is not None:
        body = _json.dumps(json).encode()
        if "content-type" not in h:
            h = h.set("Content-Type", "application/json")
    return Response(status, h, body, request)


class MockTransport:
    """A transport that answers with ``handler(request)`` and records what it was sent.

    Thread-safe: ``requests`` is appended under a lock, so a handler may be called from
    many threads at once.
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        return self._handler(request)

    def __repr__(self) -> str:
        return f"MockTransport(sent={len(self.requests)})"


class FakeClock:
    """A monotonic clock and a sleep on one fake timeline: ``Client(clock=c, sleep=c.sleep)``.

    Time moves only when something sleeps on it (or a test sets ``now``), so retries,
    backoff and ``wait`` run instantly and deterministically; every sleep is recorded in
    ``sleeps``. Like :func:`time.sleep`, a negative sleep raises ``ValueError``.
    """

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, not {seconds!r}")
        self.sleeps.append(seconds)
        self.now += seconds


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional outside test runs
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def eemw_emulator() -> Iterator[Emulator]:
        """A running emulator on 127.0.0.1 with a fresh state, stopped after the test."""
        from .emulator import Emulator

        with Emulator() as emu:
            yield emu

    @pytest.fixture
    def eemw_client(eemw_emulator: Emulator) -> Iterator[Client]:
        """A client for project ``demo`` on ``eemw_emulator``; retries sleep on its clock."""
        from ._client import Client
        from .middleware.retry import RetryPolicy

        with Client(
            "demo",
            endpoint=eemw_emulator.url,
            credentials=eemw_emulator.credentials(),
            retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.01),
            sleep=eemw_emulator.advance,
        ) as client:
            yield client
