"""Typed context keys shared by the client and the built-in stages.

Per-call options travel on :attr:`Request.context` under these keys rather than in a
``**kwargs`` bag, so every stage reads them with their types intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._http import ContextKey

__all__ = ["ATTEMPT", "CLOCK", "DEADLINE", "IDEMPOTENCY_KEY", "SLEEP", "TRACE_ATTRIBUTES"]

DEADLINE: ContextKey[float | None] = ContextKey("eemw.deadline", None)
"""Absolute deadline of the logical call, on the client's clock (seconds)."""

ATTEMPT: ContextKey[int] = ContextKey("eemw.attempt", 0)
"""Zero-based number of the HTTP attempt within its logical call (set by retry)."""

IDEMPOTENCY_KEY: ContextKey[str | None] = ContextKey("eemw.idempotency_key", None)
"""The caller's idempotency key for a mutating call, or the one the stage generated."""

TRACE_ATTRIBUTES: ContextKey[Mapping[str, Any]] = ContextKey(
    "eemw.trace_attributes", MappingProxyType({})
)
"""Extra attributes the caller wants on the call's span."""

CLOCK: ContextKey[Callable[[], float]] = ContextKey("eemw.clock", time.monotonic)
"""The client's clock (monotonic seconds): stages that wait or measure SHOULD use it."""

SLEEP: ContextKey[Callable[[float], None]] = ContextKey("eemw.sleep", time.sleep)
"""The client's sleep: a stage that waits (a rate limiter) SHOULD call it, so tests that
inject a fake clock and sleep never really sleep."""
