"""Test helpers for code that uses eemw: a mock transport, a fake timeline, wire builders,
and pytest fixtures.

Unit tests run the client's full stack on a :class:`MockTransport` (no network, no
credentials)::

    mock = MockTransport()
    mock.route("get", "ABC").respond(google_error(503), operation_json("ABC", state="SUCCEEDED"))
    client = eemw.Client("demo", transport=mock, clock=FakeClock())
    assert client.operations.get("ABC").succeeded     # retried once, slept on the fake clock
    mock.assert_all_called()

* :class:`MockTransport` routes by call kind and operation (``route("cancel", "ABC")``),
  plays reply sequences (the last one repeats), falls back to a handler function if given,
  and records every request as a :class:`SentRequest` (the same ``method``, ``path``,
  ``headers`` and ``body`` as the emulator's recorded requests). A client on it uses
  anonymous credentials unless given some.
* :class:`FakeClock` is a clock and a sleep on one fake timeline: ``Client(clock=c)`` wires
  both.
* :func:`operation_json`, :func:`error_json` and :func:`google_error` build what the
  server sends, details (``ErrorInfo``, ``RetryInfo``, ``QuotaFailure``) included.

Installed eemw registers a pytest plugin (entry point ``pytest11``) with fixtures:
``eemw_emulator`` (a running :class:`eemw.emulator.Emulator`), ``eemw_clock`` (a
:class:`FakeClock` that moves the emulator's clock with it), ``eemw_client`` (a client on
the emulator and that clock), and ``eemw_client_factory`` (more clients, your arguments).
``eemw_emulator`` and ``eemw_client`` take parameters by indirect parametrization::

    @pytest.mark.parametrize("eemw_emulator", [{"faults": [Fault(status=503)]}], indirect=True)
    @pytest.mark.parametrize("eemw_client", [{"api_version": "v1beta"}], indirect=True)
    def test_retried(eemw_emulator, eemw_client): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._mock import (
    Answer,
    MockTransport,
    Reply,
    Route,
    SentRequest,
    UnmatchedRequestError,
    respond,
)
from ._wirejson import error_json, google_error, operation_json

if TYPE_CHECKING:
    from ._client import Client
    from .emulator import Emulator

__all__ = [
    "Answer",
    "FakeClock",
    "MockTransport",
    "Reply",
    "Route",
    "SentRequest",
    "UnmatchedRequestError",
    "error_json",
    "google_error",
    "operation_json",
    "respond",
]


class FakeClock:
    """A monotonic clock and a sleep on one fake timeline: ``Client(clock=FakeClock())``.

    Time moves only when something sleeps on it or a test calls :meth:`advance`, so
    retries, backoff and ``wait`` run instantly and deterministically; every sleep is
    recorded in ``sleeps``. ``on_advance`` is called with each step, to move another
    timeline along (the ``eemw_clock`` fixture moves the emulator's). Like
    :func:`time.sleep`, a negative sleep raises ``ValueError``.
    """

    def __init__(
        self, now: float = 0.0, *, on_advance: Callable[[float], object] | None = None
    ) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._on_advance = on_advance

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, not {seconds!r}")
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (time passes while the code under test waits
        for something else)."""
        if seconds < 0:
            raise ValueError(f"time only moves forward, not by {seconds!r}")
        self.now += seconds
        if self._on_advance is not None:
            self._on_advance(seconds)

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeps={len(self.sleeps)})"


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional outside test runs
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def _param(request: pytest.FixtureRequest) -> dict[str, Any]:
        value = getattr(request, "param", None) or {}
        if not isinstance(value, Mapping):
            raise TypeError(f"{request.fixturename} takes a dict of arguments, not {value!r}")
        return dict(value)

    @pytest.fixture
    def eemw_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
        """A running emulator on 127.0.0.1 with a fresh state, stopped after the test.

        Parametrize it indirectly with a dict: ``faults`` (a list of
        :class:`eemw.emulator.Fault`) and any :class:`~eemw.emulator.Emulator` argument.
        """
        from .emulator import Emulator

        options = _param(request)
        faults = options.pop("faults", ())
        with Emulator(**options) as emu:
            for fault in faults:
                emu.add_fault(fault)
            yield emu

    @pytest.fixture
    def eemw_clock(eemw_emulator: Emulator) -> FakeClock:
        """The test's timeline: a :class:`FakeClock` that moves the emulator's clock too."""
        return FakeClock(on_advance=eemw_emulator.advance)

    @pytest.fixture
    def eemw_client_factory(
        eemw_emulator: Emulator, eemw_clock: FakeClock
    ) -> Iterator[Callable[..., Client]]:
        """Makes clients bound to ``eemw_emulator``: project ``demo``, the emulator's
        credentials, and ``eemw_clock`` as clock and sleep, unless the arguments (any
        :class:`~eemw.Client` argument) say otherwise. Each is closed after the test."""
        from ._client import Client

        made: list[Client] = []

        def make(project: str = "demo", **options: Any) -> Client:
            options.setdefault("endpoint", eemw_emulator.url)
            options.setdefault("credentials", eemw_emulator.credentials())
            options.setdefault("clock", eemw_clock)
            client = Client(project, **options)
            made.append(client)
            return client

        yield make
        for client in made:
            client.close()

    @pytest.fixture
    def eemw_client(
        request: pytest.FixtureRequest, eemw_client_factory: Callable[..., Client]
    ) -> Client:
        """A client for project ``demo`` on ``eemw_emulator``, on the ``eemw_clock`` timeline
        (so its retries and waits never really sleep). Parametrize it indirectly with a dict
        of :class:`~eemw.Client` arguments (``project``, ``api_version``, ``retry``, …)."""
        return eemw_client_factory(**_param(request))
