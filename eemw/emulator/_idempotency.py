"""Idempotency keys: the first outcome for a key is recorded and replayed, never re-executed."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from ._wire import ApiError, Reply

MAX_KEY_LENGTH = 255
_DEFAULT_LIMIT = 100_000


def validate_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Invalid Idempotency-Key: use 1 to {MAX_KEY_LENGTH} printable characters.",
        )


class IdempotencyStore:
    def __init__(self, limit: int = _DEFAULT_LIMIT) -> None:
        self._limit = limit
        # One lock around check-execute-record, so two racing retries of a key cannot both execute.
        self._lock = threading.Lock()
        self._outcomes: OrderedDict[str, tuple[str, str, Reply]] = OrderedDict()

    def run(
        self, key: str, method: str, path: str, execute: Callable[[], Reply]
    ) -> tuple[Reply, bool]:
        """The reply for this key, and True when it is a replay of an earlier execution."""
        validate_key(key)
        with self._lock:
            seen = self._outcomes.get(key)
            if seen is not None:
                if (seen[0], seen[1]) != (method, path):
                    raise ApiError(
                        "INVALID_ARGUMENT",
                        f"Idempotency-Key was already used for {seen[0]} {seen[1]}; "
                        "a key must not be reused for a different call.",
                    )
                return seen[2], True
            reply = execute()
            self._outcomes[key] = (method, path, reply)
            if len(self._outcomes) > self._limit:
                self._outcomes.popitem(last=False)
            return reply, False
