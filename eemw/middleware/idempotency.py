"""The idempotency stage: one key per mutating call, and a client-side replay cache.

Cancel and delete get an idempotency key for the whole logical call (the caller's own, or
a random UUID4), sent in the ``Idempotency-Key`` header (the name is configurable) on every
attempt. The stage sits above retry, so every re-send carries the same key and a server
that honours keys applies the side effect once. get, list and wait get no key.

When the caller supplies the key, the outcome (a success, or a definitive error such as
404 NOT_FOUND or FAILED_PRECONDITION) is kept in a bounded TTL cache on the injected clock:
the same key sent again within its lifetime returns the recorded outcome without a
request, and the same key used for a different call is a :class:`~eemw.UsageError`.
Outcomes that may change on a re-send (5xx, 429, 401/403, transport errors) are not
recorded. Generated keys are never reused, so their outcomes are not cached. Two threads
sending the same new key at the same moment both reach the server, which deduplicates.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from .._errors import ApiError, InvalidHeaderError, UsageError
from .._http import Request, Response
from .._keys import IDEMPOTENCY_KEY
from .._pipeline import Handler

__all__ = ["MAX_KEY_LENGTH", "Idempotency", "validate_key"]

logger = logging.getLogger("eemw.idempotency")

MAX_KEY_LENGTH = 255

# Answers the server gives again to the same request, so replaying them is exact.
_DEFINITIVE = frozenset(
    {"NOT_FOUND", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "OUT_OF_RANGE", "ALREADY_EXISTS"}
)
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token

Fingerprint = tuple[str, str | None]


def validate_key(key: object) -> str:
    """``key`` if it is a valid idempotency key: 1 to 255 visible ASCII characters.

    Raises :class:`~eemw.InvalidHeaderError` otherwise (spaces, line breaks, control or
    non-ASCII characters, empty or too long).
    """
    if not isinstance(key, str):
        raise InvalidHeaderError(f"idempotency key must be a string, not {type(key).__name__}")
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidHeaderError(
            f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters long, not {len(key)}"
        )
    if not _VISIBLE_ASCII.fullmatch(key):
        raise InvalidHeaderError(
            "idempotency key must be visible ASCII (no spaces, line breaks or control characters)"
        )
    return key


@dataclass(frozen=True, slots=True)
class _Outcome:
    fingerprint: Fingerprint
    response: Response | None
    error: ApiError | None


def _uuid4() -> str:
    """A random (version 4) UUID string: str(uuid.uuid4()) at a fifth of the cost."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


class Idempotency:
    """Idempotency keys for cancel and delete (call phase, above retry).

    ``header`` is the header name; ``cache_size`` bounds the replay cache (0 turns it
    off); ``ttl`` is how long an outcome is replayed, in seconds on ``clock``;
    ``new_key`` makes a key for calls that bring none. Thread-safe.
    """

    __slots__ = ("_cache", "_lock", "_new_key", "header")

    def __init__(
        self,
        *,
        header: str = "Idempotency-Key",
        cache_size: int = 1024,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        new_key: Callable[[], str] = _uuid4,
    ) -> None:
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            raise UsageError(f"invalid idempotency header name {header!r}")
        if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 0:
            raise UsageError(f"replay cache_size must be an integer >= 0, not {cache_size!r}")
        if not isinstance(ttl, (int, float)) or not (math.isfinite(ttl) and ttl > 0):
            raise UsageError(f"replay ttl must be a positive number of seconds, not {ttl!r}")
        self.header = header
        self._new_key = new_key
        self._cache: TTLCache[str, _Outcome] | None = (
            TTLCache(cache_size, ttl, timer=clock) if cache_size else None
        )
        self._lock = threading.Lock()

    def __call__(self, request: Request, call_next: Handler) -> Response:
        call = request.call
        if not call.mutating:
            return call_next(request)
        own = request.context.get(IDEMPOTENCY_KEY)
        if own is None:
            key = validate_key(self._new_key())
            keyed = request.with_header(self.header, key).with_context(IDEMPOTENCY_KEY, key)
            return call_next(keyed)
        key = validate_key(own)
        fingerprint: Fingerprint = (call.kind, call.name)
        replayed = self._replay(key, fingerprint, request)
        if replayed is not None:
            return replayed
        try:
            response = call_next(request.with_header(self.header, key))
        except ApiError as error:
            if error.rpc_status in _DEFINITIVE and 400 <= error.http_status < 500:
                # A copy: the raised error's traceback holds frames (and an attempt's
                # token) that must not live on in the cache.
                self._record(key, _Outcome(fingerprint, None, _fresh(error)))
            raise
        # Recorded against the caller's request: the attempt's copy carries the token.
        self._record(key, _Outcome(fingerprint, _rebind(response, request), None))
        return response

    def _replay(self, key: str, fingerprint: Fingerprint, request: Request) -> Response | None:
        if self._cache is None:
            return None
        with self._lock:
            outcome = self._cache.get(key)
        if outcome is None:
            return None
        if outcome.fingerprint != fingerprint:
            kind, name = outcome.fingerprint
            raise UsageError(
                f"idempotency key {key!r} was already used for operations.{kind} {name}; "
                f"use a new key for {request.call.label} {request.call.name}"
            )
        logger.debug(
            "replaying the recorded outcome of %s %s for idempotency key %r",
            request.call.label, request.call.name, key,
        )
        if outcome.error is not None:
            raise _fresh(outcome.error)
        assert outcome.response is not None
        return _rebind(outcome.response, request)

    def _record(self, key: str, outcome: _Outcome) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = outcome

    def __repr__(self) -> str:
        with self._lock:
            cached = 0 if self._cache is None else len(self._cache)
        return f"Idempotency(header={self.header!r}, cached={cached})"


def _rebind(response: Response, request: Request) -> Response:
    return Response(
        response.status, response.headers, response.body, request, response.truncated,
        response.data,
    )


def _fresh(error: ApiError) -> ApiError:
    """A new exception equal to ``error``, so replays do not share one traceback."""
    try:
        return type(error)(
            error.message, http_status=error.http_status, rpc_status=error.rpc_status,
            reason=error.reason, details=error.details, retry_after=error.retry_after,
            operation=error.operation, call=error.call,
        )
    except TypeError:  # a subclass with its own constructor: replay the recorded one
        return error

