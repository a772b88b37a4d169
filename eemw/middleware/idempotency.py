"""The idempotency stage: one key per mutating call, and a client-side replay cache.

Cancel and delete get an idempotency key for the whole logical call (the caller's own, or
a random UUID4), sent in the ``Idempotency-Key`` header (the name is configurable) on every
attempt. The stage sits above retry, so every re-send carries the same key and a server
(or proxy) that honours keys applies the side effect once. get, list and wait get no key.

Earth Engine documents no such header, so a generated key does not by itself make a
re-send safe: the stage marks a request :data:`KEY_HONOURED` (which the retry stage reads)
only when the caller brought its own key, or when the client was told its server honours
keys (``server_honours_keys=True``). Cancel and delete stay retryable without it because
the operations resource reconciles an "already done"/"not found" answer with the
server's state.

When the caller supplies the key, the outcome (a success, or a definitive error such as
404 NOT_FOUND or FAILED_PRECONDITION) is kept in a TTL cache on the injected clock, bounded
both in entries and in bytes (a recorded body counts its size; a body larger than a
quarter of the byte bound is not recorded at all):
the same key sent again within its lifetime returns the recorded outcome without a
request, and the same key used for a different call is a :class:`~eemw.UsageError`.
Outcomes that may change on a re-send (5xx, 429, 401/403, transport errors) are not
recorded, and neither is an error that followed an attempt that may have been applied
(``maybe_applied``): its meaning depends on the lost answer, which the resource
reconciles. Generated keys are never reused, so their outcomes are not cached. Two threads
sending the same new key at the same moment both reach the server, which deduplicates.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._errors import ApiError, InvalidHeaderError, UsageError
from .._http import ContextKey, Request, Response
from .._keys import IDEMPOTENCY_KEY
from .._net import HEADER_NAME_CHARS
from .._pipeline import Handler

if TYPE_CHECKING:
    from cachetools import TTLCache

__all__ = ["DEFAULT_CACHE_BYTES", "KEY_HONOURED", "MAX_KEY_LENGTH", "Idempotency", "validate_key"]

logger = logging.getLogger("eemw.idempotency")

MAX_KEY_LENGTH = 255
DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
# What an entry costs besides its body: the key, the fingerprint, headers, objects.
_ENTRY_OVERHEAD = 1024

KEY_HONOURED: ContextKey[bool] = ContextKey("eemw.idempotency_key_honoured", False)
"""True when the request's idempotency key is one the server is trusted to honour: the
caller's own key, or any key on a client built with ``server_honours_idempotency_keys``.
Only then may the retry stage re-send an ``"unsafe"`` call after a read failure."""

# Answers the server gives again to the same request, so replaying them is exact.
_DEFINITIVE = frozenset(
    {"NOT_FOUND", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "OUT_OF_RANGE", "ALREADY_EXISTS"}
)

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
    if not (key.isascii() and key.isprintable()) or " " in key:  # \x21-\x7e only
        raise InvalidHeaderError(
            "idempotency key must be visible ASCII (no spaces, line breaks or control characters)"
        )
    return key


class _Outcome:
    """What a keyed call ended with: its response or its definitive error."""

    __slots__ = ("error", "fingerprint", "response")

    def __init__(
        self, fingerprint: Fingerprint, response: Response | None, error: ApiError | None
    ) -> None:
        self.fingerprint = fingerprint
        self.response = response
        self.error = error

    @property
    def size(self) -> int:
        """Roughly the bytes this entry holds (body, parsed copy, error text)."""
        if self.response is not None:
            body = len(self.response.body)
            return _ENTRY_OVERHEAD + body * 2  # the body and its parsed JSON
        assert self.error is not None
        return _ENTRY_OVERHEAD + len(str(self.error)) + len(repr(self.error.details))


def _uuid4() -> str:
    """A random (version 4) UUID string: str(uuid.uuid4()) at a fifth of the cost."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


class Idempotency:
    """Idempotency keys for cancel and delete (call phase, above retry).

    ``header`` is the header name; ``cache_size`` bounds the replay cache in entries (0
    turns it off) and ``cache_bytes`` in bytes; ``ttl`` is how long an outcome is
    replayed, in seconds on ``clock``; ``new_key`` makes a key for calls that bring none.
    ``server_honours_keys`` says the server deduplicates on the key, so a generated key
    makes a re-send safe too (see the module docstring). Thread-safe.
    """

    __slots__ = ("_cache", "_lock", "_new_key", "cache_bytes", "header", "server_honours_keys")

    def __init__(
        self,
        *,
        header: str = "Idempotency-Key",
        cache_size: int = 1024,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        new_key: Callable[[], str] = _uuid4,
        server_honours_keys: bool = False,
    ) -> None:
        if not isinstance(header, str) or not header or header.strip(HEADER_NAME_CHARS):
            raise UsageError(f"invalid idempotency header name {header!r}")
        if not isinstance(cache_size, int) or isinstance(cache_size, bool) or cache_size < 0:
            raise UsageError(f"replay cache_size must be an integer >= 0, not {cache_size!r}")
        if (
            not isinstance(cache_bytes, int) or isinstance(cache_bytes, bool)
            or cache_bytes < _ENTRY_OVERHEAD
        ):
            raise UsageError(
                f"replay cache_bytes must be an integer >= {_ENTRY_OVERHEAD}, not {cache_bytes!r}"
            )
        if not isinstance(ttl, (int, float)) or not (math.isfinite(ttl) and ttl > 0):
            raise UsageError(f"replay ttl must be a positive number of seconds, not {ttl!r}")
        if not isinstance(server_honours_keys, bool):
            raise UsageError("server_honours_keys must be True or False")
        self.header = header
        self.cache_bytes = cache_bytes
        self.server_honours_keys = server_honours_keys
        self._new_key = new_key
        self._cache: _ReplayCache | None = (
            _ReplayCache(cache_size, cache_bytes, ttl, clock) if cache_size else None
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
            if self.server_honours_keys:
                keyed = keyed.with_context(KEY_HONOURED, True)
            return call_next(keyed)
        key = validate_key(own)
        fingerprint: Fingerprint = (call.kind, call.name)
        replayed = self._replay(key, fingerprint, request)
        if replayed is not None:
            return replayed
        try:
            response = call_next(
                request.with_header(self.header, key).with_context(KEY_HONOURED, True)
            )
        except ApiError as error:
            if (
                error.rpc_status in _DEFINITIVE and 400 <= error.http_status < 500
                and not error.maybe_applied
            ):
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
                self._cache.put(key, outcome)

    def __repr__(self) -> str:
        with self._lock:
            cached = 0 if self._cache is None else len(self._cache)
        return f"Idempotency(header={self.header!r}, cached={cached})"

    @property
    def cached_bytes(self) -> int:
        """The bytes the replay cache holds now (0 when it is off)."""
        with self._lock:
            return 0 if self._cache is None else self._cache.bytes


class _ReplayCache:
    """A TTL cache bounded in entries and in bytes (callers hold the stage's lock).

    The oldest entries go first when either bound is reached; an outcome bigger than a
    quarter of the byte bound is not kept, so one huge body cannot flush every other key.
    The cache itself (and cachetools) is made by the first outcome recorded: most clients
    never send a key of their own.
    """

    __slots__ = ("_clock", "_entries", "_ttl", "max_bytes", "max_entries")

    def __init__(
        self, max_entries: int, max_bytes: int, ttl: float, clock: Callable[[], float]
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._ttl = ttl
        self._clock = clock
        self._entries: TTLCache[str, _Outcome] | None = None

    def get(self, key: str) -> _Outcome | None:
        return None if self._entries is None else self._entries.get(key)

    def put(self, key: str, outcome: _Outcome) -> None:
        entries = self._entries
        if outcome.size > self.max_bytes // 4:
            if entries is not None:
                entries.pop(key, None)
            return
        if entries is None:
            from cachetools import TTLCache

            entries = self._entries = TTLCache(
                self.max_bytes, self._ttl, timer=self._clock,
                getsizeof=lambda outcome: outcome.size,
            )
        entries.expire()
        while key not in entries and len(entries) >= self.max_entries:
            entries.popitem()
        entries[key] = outcome

    @property
    def bytes(self) -> int:
        """The bytes held now, as the entries count them."""
        return 0 if self._entries is None else int(self._entries.currsize)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)


def _rebind(response: Response, request: Request) -> Response:
    return Response(
        response.status, response.headers, response.body, request, response.truncated,
        response.data,
    )


def _fresh(error: ApiError) -> ApiError:
    """A new exception equal to ``error``, so replays do not share one traceback."""
    # A retried error may carry the RetryExhaustedError marker: rebuild its own class.
    cls: type[ApiError] = type(error).__dict__.get("_exhausted_of", type(error))
    try:
        return cls(
            error.message, http_status=error.http_status, rpc_status=error.rpc_status,
            reason=error.reason, details=error.details, retry_after=error.retry_after,
            operation=error.operation, call=error.call, from_envelope=error.from_envelope,
        )
    except TypeError:  # a subclass with its own constructor: replay the recorded one
        return error

