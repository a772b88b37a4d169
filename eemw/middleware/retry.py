"""The retry stage: the only place eemw retries.

Retry decisions are a pure function of values: :class:`RetryPolicy` (frozen settings),
:class:`RetryState` (how far a call has got) and the error just seen. :func:`decide`
returns the next state and a :class:`Decision` — retry after a delay, or give up and why —
and never sleeps, reads a clock or raises. The :class:`Retry` middleware runs that loop
with an injected clock, sleep and random source, so tests never really sleep.

Backoff is "full jitter": the delay before retry *n* (counting from 0) is uniform in
``[0, min(max_backoff, initial_backoff * multiplier**n))``, raised to the delay the server
asked for (``Retry-After`` / ``RetryInfo``), which is clamped to ``max_retry_after``. A
call never sleeps past its deadline: when the server asks for longer than the time left,
the call fails at once and the error says how long the server asked for.

A :class:`RetryBudget` shared by one client caps retries during an outage: each retry
spends tokens (a throttling answer, 429, spends less because the server is shedding load
on purpose), each success refunds a little, and an empty bucket stops retrying.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry import trace

from .._errors import (
    ApiError,
    ConnectError,
    DeadlineExceededError,
    EemwError,
    ReadError,
    RetryExhaustedError,
    UsageError,
)
from .._http import Call, ContextKey, Request, Response
from .._keys import ATTEMPT, DEADLINE, IDEMPOTENCY_KEY
from .._metrics import Metrics, error_type
from .._pipeline import Handler

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "RETRY_POLICY",
    "Decision",
    "GiveUpReason",
    "Retry",
    "RetryBudget",
    "RetryPolicy",
    "RetryState",
    "decide",
    "retryable",
]

logger = logging.getLogger("eemw.retry")

DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

GiveUpReason = Literal[
    "", "not-retryable", "attempts", "deadline", "deadline-passed", "server-delay"
]


@dataclass(frozen=True, slots=True)
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

    def __post_init__(self) -> None:
        _require(_seconds(self.initial_backoff), "initial_backoff must be a finite number >= 0")
        _require(_seconds(self.max_backoff), "max_backoff must be a finite number >= 0")
        _require(self.max_backoff >= self.initial_backoff, "max_backoff must be >= initial_backoff")
        _require(
            _seconds(self.multiplier) and self.multiplier >= 1, "multiplier must be a number >= 1"
        )
        _require(
            isinstance(self.max_attempts, int) and not isinstance(self.max_attempts, bool)
            and self.max_attempts >= 1,
            "max_attempts must be an integer >= 1",
        )
        _require(_seconds(self.max_retry_after), "max_retry_after must be a finite number >= 0")
        _require(
            self.attempt_timeout is None
            or (_seconds(self.attempt_timeout) and self.attempt_timeout > 0),
            "attempt_timeout must be None or a positive, finite number of seconds",
        )
        # Accept any iterable of statuses, but store a frozenset so the policy stays frozen.
        statuses = _statuses(self.retry_statuses)
        object.__setattr__(self, "retry_statuses", statuses)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries: every error surfaces as raised by the first attempt."""
        return cls(max_attempts=1)

    def backoff_ceiling(self, retries_so_far: int) -> float:
        """The upper bound of the jittered delay before retry number ``retries_so_far``."""
        try:
            ceiling = self.initial_backoff * self.multiplier ** min(retries_so_far, 1024)
        except OverflowError:
            return self.max_backoff
        return min(self.max_backoff, ceiling)


def _seconds(value: object) -> bool:
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


@dataclass(frozen=True, slots=True)
class RetryState:
    """Where a call stands: the number of attempts that have failed so far."""

    attempts: int = 0


@dataclass(frozen=True, slots=True)
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


def retryable(error: BaseException, call: Call, has_key: bool, policy: RetryPolicy) -> bool:
    """Whether an attempt that failed with ``error`` may be sent again."""
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


class RetryBudget:
    """A client-wide token bucket that bounds retries during an outage.

    Starts full at ``capacity``. A retry spends ``retry_cost`` tokens (``throttle_cost``
    for a 429, where the server is shedding load on purpose); each success refunds
    ``refund``, up to ``capacity``. A retry that cannot be paid for is not made. With the
    defaults a full bucket pays for 10 retries, and 5 successes earn one more.
    Thread-safe: one budget is shared by every call of a client.
    """

    __slots__ = ("_lock", "_tokens", "capacity", "refund", "retry_cost", "throttle_cost")

    def __init__(
        self,
        capacity: float = 50.0,
        *,
        retry_cost: float = 5.0,
        throttle_cost: float = 1.0,
        refund: float = 1.0,
    ) -> None:
        if not all(_seconds(v) for v in (capacity, retry_cost, throttle_cost, refund)) or 0 in (
            capacity, retry_cost, throttle_cost,
        ):
            raise UsageError(
                "RetryBudget: capacity, retry_cost and throttle_cost must be positive finite "
                "numbers, refund a finite number >= 0"
            )
        self.capacity = float(capacity)
        self.retry_cost = float(retry_cost)
        self.throttle_cost = float(throttle_cost)
        self.refund = float(refund)
        self._tokens = self.capacity
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        """The tokens left now."""
        return self._tokens

    def try_spend(self, throttled: bool) -> bool:
        """Pay for one retry; False (and nothing spent) when the bucket cannot pay."""
        cost = self.throttle_cost if throttled else self.retry_cost
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def record_success(self) -> None:
        """Refund ``refund`` tokens for a successful call."""
        if self._tokens >= self.capacity:
            return  # the common case: no lock taken on a healthy client
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + self.refund)

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self._tokens:g}/{self.capacity:g})"


RETRY_POLICY: ContextKey[RetryPolicy | None] = ContextKey("eemw.retry_policy", None)
"""A per-call override of the client's :class:`RetryPolicy`."""


class Retry:
    """The retry middleware: the last stage of the call phase, above every attempt.

    Reads the call's deadline (:data:`~eemw.keys.DEADLINE`), its idempotency key
    (:data:`~eemw.keys.IDEMPOTENCY_KEY`) and a per-call policy (:data:`RETRY_POLICY`) from the
    request context. Keeps no per-call state on itself, so one instance serves many
    threads; only the shared :class:`RetryBudget` changes.
    """

    __slots__ = ("_clock", "_metrics", "_random", "_sleep", "budget", "policy")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        budget: RetryBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random.random,
        metrics: Metrics | None = None,
    ) -> None:
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise UsageError(f"retry must be a RetryPolicy, not {type(policy).__name__}")
        self.policy = policy or RetryPolicy()
        self.budget = budget if budget is not None else RetryBudget()
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._metrics = metrics or Metrics.disabled()

    def __call__(self, request: Request, call_next: Handler) -> Response:
        policy = request.context.get(RETRY_POLICY) or self.policy
        deadline = request.context.get(DEADLINE)
        has_key = request.context.get(IDEMPOTENCY_KEY) is not None
        state = RetryState()
        while True:
            attempt = self._attempt_request(request, policy, deadline, state)
            try:
                response = call_next(attempt)
            except EemwError as error:
                state, delay = self._after_failure(request, policy, deadline, has_key, state, error)
                self._sleep(delay)
                continue
            self.budget.record_success()
            return response

    def _attempt_request(
        self, request: Request, policy: RetryPolicy, deadline: float | None, state: RetryState
    ) -> Request:
        """The request for the next attempt, its timeout shrunk to the time left."""
        limits = [t for t in (request.timeout, policy.attempt_timeout) if t is not None]
        if deadline is not None:
            left = deadline - self._clock()
            if left <= 0:
                raise DeadlineExceededError(
                    f"{_what(request)}: the deadline passed before attempt {state.attempts + 1} "
                    "could start; pass a longer timeout= if the call needs more time",
                    timeout=request.timeout,
                )
            limits.append(left)
        if state.attempts:
            request = request.with_context(ATTEMPT, state.attempts)
        timeout = min(limits) if limits else None
        return request if timeout == request.timeout else request.with_timeout(timeout)

    def _after_failure(
        self,
        request: Request,
        policy: RetryPolicy,
        deadline: float | None,
        has_key: bool,
        state: RetryState,
        error: EemwError,
    ) -> tuple[RetryState, float]:
        """The next state and the delay before the next attempt; raises when the call stops."""
        now = self._clock()
        left = None if deadline is None else deadline - now
        new_state, decision = decide(
            policy, state, error, call=request.call, has_key=has_key,
            time_left=left, jitter=self._random(),
        )
        if decision.retry and deadline is not None and now + decision.delay >= deadline:
            # deadline - now can round below delay while now + delay still lands on it.
            decision = Decision(False, reason="deadline", retry_after=decision.retry_after)
        if not decision.retry:
            stop = self._give_up(request, policy, new_state, decision, error)
            if stop is error:
                raise error  # keep its own __cause__ (e.g. the requests exception)
            raise stop from error
        throttled = isinstance(error, ApiError) and error.http_status == 429
        if not self.budget.try_spend(throttled):
            logger.debug("not retrying %s: the retry budget is empty", _what(request))
            raise RetryExhaustedError(
                f"{_what(request)}: not retried because the client's retry budget is empty "
                f"(too many recent failures across calls); last error: {error}",
                attempts=new_state.attempts,
            ) from error
        self._announce(request, new_state.attempts, decision.delay, error)
        return new_state, decision.delay

    def _give_up(
        self,
        request: Request,
        policy: RetryPolicy,
        state: RetryState,
        decision: Decision,
        error: EemwError,
    ) -> EemwError:
        """The error that ends the call: ``error`` itself when retrying never applied."""
        if decision.reason == "not-retryable" or policy.max_attempts == 1:
            return error
        n = state.attempts
        logger.debug("giving up on %s after %d attempt(s): %s", _what(request), n, decision.reason)
        if decision.reason == "deadline-passed":
            return DeadlineExceededError(
                f"{_what(request)}: the deadline passed during attempt {n}; last error: {error}",
                timeout=request.timeout,
            )
        if decision.reason == "server-delay":
            return RetryExhaustedError(
                f"{_what(request)}: the server asked to retry after {decision.retry_after:g}s, "
                f"more than the time left before the deadline; last error: {error}",
                attempts=n, retry_after=decision.retry_after,
            )
        if decision.reason == "deadline":
            return RetryExhaustedError(
                f"{_what(request)}: gave up after {n} attempt(s): the next retry would pass "
                f"the deadline; last error: {error}",
                attempts=n, retry_after=decision.retry_after,
            )
        return RetryExhaustedError(
            f"{_what(request)}: gave up after {n} attempts; last error: {error}", attempts=n
        )

    def _announce(self, request: Request, attempts: int, delay: float, error: EemwError) -> None:
        """Make one retry visible: a DEBUG record, a span event and a counter."""
        kind = error_type(error)
        logger.debug(
            "retrying %s after attempt %d failed with %s; sleeping %.3fs",
            _what(request), attempts, kind, delay,
        )
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "eemw.retry",
                {"eemw.attempt": attempts, "eemw.retry.delay": delay, "error.type": kind},
            )
        self._metrics.retry(request.call, kind)

    def __repr__(self) -> str:
        return f"Retry({self.policy!r})"


def _what(request: Request) -> str:
    name = request.call.name
    return f"{request.call.label} {name}" if name else request.call.label
