"""Retry rules as pure values: the policy, the state of a call, and :func:`decide`.

:func:`decide` is the whole retry decision, a pure function of a :class:`RetryPolicy`, a
:class:`RetryState` and the error just seen: it never sleeps, reads a clock or raises. The
retry middleware (:mod:`eemw.middleware.retry`) runs it; these names are public there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import field
from typing import Literal

from .._errors import ApiError, ConnectError, ReadError, UsageError
from .._http import Call
from .._value import frozen

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "Decision",
    "GiveUpReason",
    "RetryPolicy",
    "RetryState",
    "decide",
    "is_seconds",
    "maybe_applied",
    "retryable",
]

DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

GiveUpReason = Literal[
    "", "not-retryable", "attempts", "deadline", "deadline-passed", "server-delay", "budget"
]

# Server errors after which the request may have been acted on: the backend failed or
# timed out mid-way (500, 504), or a gateway lost it after forwarding (502). A 503 or 429
# is the service refusing work, which it does before acting.
_MAYBE_APPLIED_STATUSES = frozenset({500, 502, 504})


@frozen
class RetryPolicy:
    """How a call is retried. Frozen; pass as ``Client(retry=…)`` or per call ``retry=…``.

    ``initial_backoff``, ``max_backoff`` and ``multiplier`` shape the full-jitter backoff.
    ``max_attempts`` counts the first attempt (1 means no retries). ``max_retry_after``
    caps how long a server-requested delay (``Retry-After``, ``RetryInfo``) is honoured.
    ``attempt_timeout`` caps each attempt (``None``: each attempt may use all the time
    left before the call's deadline). ``retry_statuses`` are the HTTP statuses retried.
    Invalid settings raise :class:`~eemw.UsageError` at construction.
    """

    initial_backoff: float = 0.25
    max_backoff: float = 20.0
    multiplier: float = 2.0
    max_attempts: int = 5
    max_retry_after: float = 60.0
    attempt_timeout: float | None = None
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)

    def __init__(
        self,
        initial_backoff: float = 0.25,
        max_backoff: float = 20.0,
        multiplier: float = 2.0,
        max_attempts: int = 5,
        max_retry_after: float = 60.0,
        attempt_timeout: float | None = None,
        retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES,
    ) -> None:
        object.__setattr__(self, "initial_backoff", initial_backoff)
        object.__setattr__(self, "max_backoff", max_backoff)
        object.__setattr__(self, "multiplier", multiplier)
        object.__setattr__(self, "max_attempts", max_attempts)
        object.__setattr__(self, "max_retry_after", max_retry_after)
        object.__setattr__(self, "attempt_timeout", attempt_timeout)
        object.__setattr__(self, "retry_statuses", retry_statuses)
        self.__post_init__()

    def __post_init__(self) -> None:
        _require(is_seconds(self.initial_backoff), "initial_backoff must be a finite number >= 0")
        _require(is_seconds(self.max_backoff), "max_backoff must be a finite number >= 0")
        _require(self.max_backoff >= self.initial_backoff, "max_backoff must be >= initial_backoff")
        _require(
            is_seconds(self.multiplier) and self.multiplier >= 1, "multiplier must be a number >= 1"
        )
        _require(
            isinstance(self.max_attempts, int) and not isinstance(self.max_attempts, bool)
            and self.max_attempts >= 1,
            "max_attempts must be an integer >= 1",
        )
        _require(is_seconds(self.max_retry_after), "max_retry_after must be a finite number >= 0")
        _require(
            self.attempt_timeout is None
            or (is_seconds(self.attempt_timeout) and self.attempt_timeout > 0),
            "attempt_timeout must be None or a positive, finite number of seconds",
        )
        # Accept any iterable of statuses, but store a frozenset so the policy stays frozen.
        statuses = _statuses(self.retry_statuses)
        object.__setattr__(self, "retry_statuses", statuses)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries: a call raises its first attempt's own error (marked
        ``gave_up == "attempts"`` when it could have been retried), as under any policy."""
        return cls(max_attempts=1)

    def backoff_ceiling(self, retries_so_far: int) -> float:
        """The upper bound of the jittered delay before retry number ``retries_so_far``."""
        try:
            ceiling = self.initial_backoff * self.multiplier ** min(retries_so_far, 1024)
        except OverflowError:
            return self.max_backoff
        return min(self.max_backoff, ceiling)


def is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value) and value >= 0
    )


def _statuses(value: Iterable[int]) -> frozenset[int]:
    try:
        statuses = frozenset(value)
    except TypeError:
        raise UsageError("RetryPolicy: retry_statuses must be a set of HTTP statuses") from None
    for status in statuses:
        _require(
            isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599,
            f"retry_statuses must hold HTTP error statuses (400-599), not {status!r}",
        )
    return statuses


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(f"RetryPolicy: {message}")


@frozen
class RetryState:
    """Where a call stands: the number of attempts that have failed so far."""

    attempts: int = 0

    def __init__(self, attempts: int = 0) -> None:
        object.__setattr__(self, "attempts", attempts)


@frozen
class Decision:
    """What to do after a failed attempt: ``retry`` after ``delay`` seconds, or give up.

    When giving up, ``reason`` says why: ``"not-retryable"``, ``"attempts"``,
    ``"deadline"`` (the next retry would pass it), ``"deadline-passed"`` or
    ``"server-delay"`` (the server asked for longer than the time left);
    ``retry_after`` carries the delay the server asked for, unclamped.
    """

    retry: bool
    delay: float = 0.0
    reason: GiveUpReason = ""
    retry_after: float | None = None

    def __init__(
        self,
        retry: bool,
        delay: float = 0.0,
        reason: GiveUpReason = "",
        retry_after: float | None = None,
    ) -> None:
        object.__setattr__(self, "retry", retry)
        object.__setattr__(self, "delay", delay)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "retry_after", retry_after)


def maybe_applied(error: BaseException) -> bool:
    """Whether an attempt that failed with ``error`` may still have been acted on."""
    if isinstance(error, ReadError):
        return True
    return isinstance(error, ApiError) and error.http_status in _MAYBE_APPLIED_STATUSES


def retryable(error: BaseException, call: Call, has_key: bool, policy: RetryPolicy) -> bool:
    """Whether an attempt that failed with ``error`` may be sent again.

    ``has_key`` MUST be True only for an idempotency key the server is trusted to honour
    (:data:`KEY_HONOURED`), never for a key generated just for this call.
    """
    if isinstance(error, ApiError):
        return error.http_status in policy.retry_statuses
    if isinstance(error, ConnectError):
        return True
    if isinstance(error, ReadError):
        # The server may have acted on it: only repeat what is safe to repeat, or what
        # can be checked against the server's state afterwards.
        return call.repeat_policy != "unsafe" or has_key
    return False


def decide(
    policy: RetryPolicy,
    state: RetryState,
    error: BaseException,
    *,
    call: Call,
    has_key: bool,
    time_left: float | None,
    jitter: float,
) -> tuple[RetryState, Decision]:
    """The pure retry transition after an attempt failed with ``error``.

    ``time_left`` is the time before the call's deadline (``None``: no deadline) and
    ``jitter`` a uniform random number in [0, 1). Returns the state counting this attempt
    and what to do next. Never sleeps, reads a clock, or raises.
    """
    state = RetryState(state.attempts + 1)
    if not retryable(error, call, has_key, policy):
        return state, Decision(False, reason="not-retryable")
    if time_left is not None and time_left <= 0:
        return state, Decision(False, reason="deadline-passed")
    if state.attempts >= policy.max_attempts:
        return state, Decision(False, reason="attempts")
    asked = error.retry_after if isinstance(error, ApiError) else None
    if asked is not None and time_left is not None and asked > time_left:
        # Coming back earlier than asked is pointless, and waiting would pass the deadline.
        return state, Decision(False, reason="server-delay", retry_after=asked)
    delay = jitter * policy.backoff_ceiling(state.attempts - 1)
    if asked is not None:
        delay = max(delay, min(asked, policy.max_retry_after))
    if time_left is not None and delay >= time_left:
        return state, Decision(False, reason="deadline", retry_after=asked)
    return state, Decision(True, delay=delay, retry_after=asked)


