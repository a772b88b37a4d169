"""``MockTransport``: a transport for unit tests, with routes, reply sequences and a record.

Public through :mod:`eemw.testing`. A route matches a call by kind (``"get"``, or the
label ``"operations.get"``) and, optionally, by operation name or id; it answers with
replies played in order, the last one repeating. What was sent is recorded as
:class:`SentRequest` values, whose ``method``, ``path``, ``headers`` and ``body`` have the
same meaning as those of the emulator's :class:`~eemw.emulator.RecordedRequest`, so one
assertion helper serves tests on either.
"""

from __future__ import annotations

import json as _json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._http import Call, Context, Headers, Request, Response

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials

__all__ = ["MockTransport", "Reply", "Route", "SentRequest", "UnmatchedRequestError", "respond"]


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


@dataclass(frozen=True)
class Reply:
    """One canned answer: ``status``, a ``json`` body (or raw ``body``) and ``headers``."""

    json: Any = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def to(self, request: Request) -> Response:
        return respond(request, self.status, json=self.json, body=self.body, headers=self.headers)


Answer = Reply | Mapping[str, Any] | BaseException | Callable[[Request], Response]
"""What a route answers with: a :class:`Reply`, a JSON object (a 200 with that body), an
exception to raise (e.g. ``eemw.ConnectError``), or a handler function."""


class SentRequest:
    """One request the mock was sent, as the server would see it.

    ``method``, ``path`` (with the query string), ``headers`` (case-insensitive) and
    ``body`` (``b""`` when none) mean what they mean on the emulator's recorded requests;
    ``url``, ``call``, ``context`` and ``timeout`` come from the request itself, which
    ``request`` is. Fields are read from it on demand, so recording costs one object.
    """

    __slots__ = ("request",)

    def __init__(self, request: Request) -> None:
        self.request = request

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def path(self) -> str:
        parts = urlsplit(self.request.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def body(self) -> bytes:
        return self.request.body or b""

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def call(self) -> Call:
        return self.request.call

    @property
    def context(self) -> Context:
        return self.request.context

    @property
    def timeout(self) -> float | None:
        return self.request.timeout

    def __eq__(self, other: object) -> bool:
        # Equal to the request it records, so older tests comparing requests keep working.
        if isinstance(other, SentRequest):
            return self.request == other.request
        if isinstance(other, Request):
            return self.request == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def json(self) -> Any:
        """The body as JSON (``None`` when there is no body)."""
        return _json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        # Headers hold the bearer token: a repr shows their names only.
        return f"SentRequest({self.method} {self.path}, headers={sorted(self.headers)!r})"


class UnmatchedRequestError(AssertionError):
    """The mock was sent a request no route matches, and it has no fallback handler."""


class Route:
    """A call the mock answers: made by :meth:`MockTransport.route`."""

    def __init__(self, kind: str | None, name: str | None, method: str | None) -> None:
        self.kind, self.name, self.method = kind, name, method
        self._answers: list[Answer] = []
        self.calls: list[SentRequest] = []
        """Every request this route answered, in order."""

    def respond(self, *answers: Answer) -> Route:
        """Answer with these, one per request in order; the last one repeats.

        ``respond(google_error(503), operation_json("A"))`` fails once, then succeeds.
        """
        if not answers:
            raise ValueError("respond() needs at least one answer")
        self._answers = list(answers)
        return self

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def matches(self, request: Request) -> bool:
        call = request.call
        if self.kind is not None and self.kind not in (call.kind, call.label):
            return False
        if self.method is not None and self.method.upper() != request.method:
            return False
        if self.name is None:
            return True
        full = call.name or ""
        return full == self.name or full.rsplit("/", 1)[-1] == self.name

    def take(self, sent: SentRequest) -> Answer:
        """Record ``sent`` and return the answer it gets (the caller holds the mock's lock)."""
        if not self._answers:
            raise UnmatchedRequestError(f"{self!r} has no answer: call .respond(...) on it")
        index = min(len(self.calls), len(self._answers) - 1)
        self.calls.append(sent)
        return self._answers[index]

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in
                 (("kind", self.kind), ("name", self.name), ("method", self.method)) if v]
        return f"Route({', '.join(parts)}, calls={len(self.calls)})"


def _answer(answer: Answer, request: Request) -> Response:
    if isinstance(answer, Reply):
        return answer.to(request)
    if isinstance(answer, BaseException):
        raise answer
    if isinstance(answer, Mapping):
        return respond(request, json=dict(answer))
    return answer(request)


class MockTransport:
    """A transport that answers from routes, or with ``handler(request)``, and records what
    it was sent (``requests``, a list of :class:`SentRequest`).

    A client built on it without ``credentials=`` uses anonymous ones: it never looks for
    application default credentials, so no test needs, or refreshes, real ones. It runs
    the client's full stack; to simulate a network failure answer with what the real
    transport raises (``eemw.ConnectError``, ``eemw.ReadError``). Thread-safe.
    """

    def __init__(self, handler: Callable[[Request], Response] | None = None) -> None:
        self._handler = handler
        self._routes: list[Route] = []
        self._lock = threading.Lock()
        self.requests: list[SentRequest] = []

    def route(
        self, kind: str | None = None, name: str | None = None, *, method: str | None = None
    ) -> Route:
        """A new route for calls of ``kind`` (``"get"`` or ``"operations.get"``; ``None``:
        any) on operation ``name`` (full name or id; ``None``: any). The first route
        registered that matches a request answers it."""
        route = Route(kind, name, method)
        with self._lock:
            self._routes.append(route)
        return route

    def assert_all_called(self) -> None:
        """Fail (``AssertionError``) naming every route that answered nothing."""
        unused = [r for r in self._routes if not r.called]
        if unused:
            raise AssertionError(f"routes never called: {unused}")

    def default_credentials(self) -> ga_credentials.Credentials:
        """Anonymous credentials: what a client on this transport uses unless given some."""
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]

    def __call__(self, request: Request) -> Response:
        sent = SentRequest(request)
        with self._lock:
            self.requests.append(sent)
            route = next((r for r in self._routes if r.matches(request)), None)
            # Under the lock, so concurrent requests take a sequence's answers in turn.
            answer = route.take(sent) if route is not None else None
        if answer is not None:
            return _answer(answer, request)
        if self._handler is None:
            raise UnmatchedRequestError(
                f"no route matches {request.call.label} {request.call.name or ''} "
                f"({request.method} {sent.path}); routes: {self._routes}"
            )
        return self._handler(request)

    def __repr__(self) -> str:
        return f"MockTransport(sent={len(self.requests)}, routes={len(self._routes)})"
