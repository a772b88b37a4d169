"""Typed context keys shared by the client and the built-in stages, and the per-call options.

Per-call options travel on :attr:`Request.context` under these keys rather than in a
``**kwargs`` bag, so every stage reads them with their types intact. Each name here is a
*key* (a :class:`~eemw.ContextKey`), never the value: ``request.context.get(keys.CLOCK)``
is the client's clock. The public home of the keys is :mod:`eemw.keys`.

:class:`CallOptions` is the one list of the options a logical call takes; the client's
``send`` and the interface resources use to reach it share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypedDict

from ._http import Context, ContextKey

if TYPE_CHECKING:
    from .middleware.retry import RetryPolicy

__all__ = [
    "ATTEMPT",
    "CLOCK",
    "DEADLINE",
    "IDEMPOTENCY_KEY",
    "SLEEP",
    "TRACE_ATTRIBUTES",
    "CallContext",
    "CallOptions",
]

CallContext = Context | Mapping[ContextKey[Any], Any]
"""Values for context keys of your own (a plugin's), set on one call's requests."""


class CallOptions(TypedDict, total=False):
    """The options of one logical call (every one optional).

    ``timeout``: the whole call's deadline in seconds; ``retry``: a
    :class:`~eemw.RetryPolicy` for this call; ``idempotency_key``: the caller's key for a
    mutating call; ``trace_attributes``: added to the call's span; ``context``: values for
    context keys of your own (see :data:`CallContext`); ``headers``: added to the
    client's own headers (printable ASCII values).
    """

    timeout: float | None
    retry: RetryPolicy | None
    idempotency_key: str | None
    trace_attributes: Mapping[str, Any] | None
    context: CallContext | None
    headers: Mapping[str, str] | None

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
