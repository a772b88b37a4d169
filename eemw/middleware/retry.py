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
on purpose), each success refunds, and an empty bucket stops retrying.

What a failed call raises follows the rule in :mod:`eemw._errors`: the deadline passing
raises :class:`~eemw.DeadlineExceededError`; anything else raises the last attempt's own
typed error, annotated with ``attempts``, ``history``, ``maybe_applied`` and ``gave_up``
(and also a :class:`~eemw.RetryExhaustedError` when retrying stopped).

A read failure (the request may have reached the server) is retried only for a call
whose :data:`~eemw.Repeat` is ``"safe"`` or ``"reconcile"``, or one carrying an
idempotency key the server is trusted to honour (:data:`KEY_HONOURED`: the caller's own
key, or any key on a client told its server honours them). A key the idempotency stage
generated does not count: the real service documents no deduplication. Every attempt that
may have reached the server without its answer reaching the client sets
``maybe_applied`` on the call's final error, so the caller of a ``"reconcile"`` call can
check the server's state instead of guessing.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable

from .._errors import ApiError, DeadlineExceededError, EemwError, UsageError, mark_exhausted
from .._http import ContextKey, Request, Response
from .._keys import ATTEMPT, DEADLINE
from .._metrics import Metrics, error_type
from .._pipeline import Handler
from ._retry_rules import (
    DEFAULT_RETRY_STATUSES,
    Decision,
    GiveUpReason,
    RetryPolicy,
    RetryState,
    decide,
    is_seconds,
    maybe_applied,
    retryable,
)
from .idempotency import KEY_HONOURED

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
    "maybe_applied",
    "retryable",
]

logger = logging.getLogger("eemw.retry")

class RetryBudget:
    """A client-wide token bucket that bounds retries during an outage.

    Starts full at ``capacity``. A retry spends ``retry_cost`` tokens (``throttle_cost``
    for a 429, where the server is shedding load on purpose). A call that succeeds gives
    back what its own retries spent (a blip that recovered costs nothing), or ``refund``
    when it needed none, up to ``capacity``. A retry that cannot be paid for is not made.
    Thread-safe: one budget is shared by every call of a client.

    The defaults follow botocore's standard retry mode (500 tokens, 5 a retry, 1 back per
    clean success), sized for a long-lived service::

        500 / 5 = 100 retries of server errors, or 500 / 1 = 500 retries of 429s, from full
        a client shared by a test suite that retries 10 times has spent 50 of 500
        in a hard outage (every attempt fails) the bucket stops retries after 100 of them;
        each call then makes one attempt (no retry storm), and every success that follows
        earns 1 token back (5 clean calls pay for one retry) until it is full again
    """

    __slots__ = ("_lock", "_tokens", "capacity", "refund", "retry_cost", "throttle_cost")

    def __init__(
        self,
        capacity: float = 500.0,
        *,
        retry_cost: float = 5.0,
        throttle_cost: float = 1.0,
        refund: float = 1.0,
    ) -> None:
        if not all(is_seconds(v) for v in (capacity, retry_cost, throttle_cost, refund)) or 0 in (
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

    def cost(self, throttled: bool) -> float:
        """What one retry costs: ``throttle_cost`` after a 429, else ``retry_cost``."""
        return self.throttle_cost if throttled else self.retry_cost

    def try_spend(self, throttled: bool) -> bool:
        """Pay for one retry; False (and nothing spent) when the bucket cannot pay."""
        cost = self.cost(throttled)
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def record_success(self, spent: float = 0.0) -> None:
        """A call succeeded after its retries spent ``spent`` tokens: give them back (or
        ``refund`` when it spent none), up to ``capacity``."""
        if self._tokens >= self.capacity:
            return  # the common case: no lock taken on a healthy client
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + (spent or self.refund))

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self._tokens:g}/{self.capacity:g})"


RETRY_POLICY: ContextKey[RetryPolicy | None] = ContextKey("eemw.retry_policy", None)
"""A per-call override of the client's :class:`RetryPolicy`."""


class Retry:
    """The retry middleware: the last stage of the call phase, above every attempt.

    Reads the call's deadline (:data:`~eemw.keys.DEADLINE`), whether its idempotency key is
    trusted (:data:`KEY_HONOURED`) and a per-call policy (:data:`RETRY_POLICY`) from the
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
        tally = _Tally(request.context.get(KEY_HONOURED))
        state = RetryState()
        while True:
            attempt = self._attempt_request(request, policy, deadline, state, tally)
            try:
                response = call_next(attempt)
            except EemwError as error:
                state, delay = self._after_failure(request, policy, deadline, state, tally, error)
                self._sleep(delay)
                continue
            self.budget.record_success(tally.spent)
            return response

    def _attempt_request(
        self,
        request: Request,
        policy: RetryPolicy,
        deadline: float | None,
        state: RetryState,
        tally: _Tally,
    ) -> Request:
        """The request for the next attempt, its timeout shrunk to the time left."""
        limits = [t for t in (request.timeout, policy.attempt_timeout) if t is not None]
        if deadline is not None:
            left = deadline - self._clock()
            if left <= 0:
                error = DeadlineExceededError(
                    f"{_what(request)}: the deadline passed before attempt {state.attempts + 1} "
                    "could start; pass a longer timeout= if the call needs more time",
                    timeout=request.timeout,
                )
                last = tally.history.pop() if tally.history else None
                raise tally.annotate(error, state.attempts) from last
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
        state: RetryState,
        tally: _Tally,
        error: EemwError,
    ) -> tuple[RetryState, float]:
        """The next state and the delay before the next attempt; raises when the call stops."""
        now = self._clock()
        left = None if deadline is None else deadline - now
        new_state, decision = decide(
            policy, state, error, call=request.call, has_key=tally.has_key,
            time_left=left, jitter=self._random(),
        )
        tally.annotate(error, new_state.attempts)
        if decision.retry and deadline is not None and now + decision.delay >= deadline:
            # deadline - now can round below delay while now + delay still lands on it.
            decision = Decision(False, reason="deadline", retry_after=decision.retry_after)
        throttled = isinstance(error, ApiError) and error.http_status == 429
        if decision.retry and not self.budget.try_spend(throttled):
            logger.debug("not retrying %s: the retry budget is empty", _what(request))
            decision = Decision(False, reason="budget")
        if not decision.retry:
            stop = self._give_up(request, new_state, decision, error)
            if stop is error:
                raise error  # keep its own __cause__ (e.g. the requests exception)
            raise tally.annotate(stop, new_state.attempts) from error
        tally.spent += self.budget.cost(throttled)
        tally.remember(error)
        self._announce(request, new_state.attempts, decision.delay, error)
        return new_state, decision.delay

    def _give_up(
        self, request: Request, state: RetryState, decision: Decision, error: EemwError
    ) -> EemwError:
        """The error that ends the call (see the rule in :mod:`eemw._errors`)."""
        n = state.attempts
        if decision.reason == "not-retryable":
            return error
        logger.debug("giving up on %s after %d attempt(s): %s", _what(request), n, decision.reason)
        if decision.reason == "deadline-passed":
            return DeadlineExceededError(
                f"{_what(request)}: the deadline passed during attempt {n}; last error: {error}",
                timeout=request.timeout,
            )
        if decision.reason == "server-delay":
            why = (
                f"the server asked to retry after {decision.retry_after:g}s, more than the "
                "time left before the deadline"
            )
        elif decision.reason == "deadline":
            why = "the next retry would pass the deadline"
        elif decision.reason == "budget":
            why = (
                "the client's retry budget is empty (too many recent failures across calls)"
            )
        else:
            why = "no attempts left" if n > 1 else "the retry policy allows one attempt"
        return mark_exhausted(
            error, decision.reason, f"{error}; gave up after {n} attempt(s): {why}"
        )

    def _announce(self, request: Request, attempts: int, delay: float, error: EemwError) -> None:
        """Make one retry visible: a DEBUG record, a span event and a counter."""
        kind = error_type(error)
        logger.debug(
            "retrying %s after attempt %d failed with %s; sleeping %.3fs",
            _what(request), attempts, kind, delay,
        )
        # Only a process that imported OpenTelemetry can have a span recording.
        trace = sys.modules.get("opentelemetry.trace")
        span = trace.get_current_span() if trace is not None else None
        if span is not None and span.is_recording():
            span.add_event(
                "eemw.retry",
                {"eemw.attempt": attempts, "eemw.retry.delay": delay, "error.type": kind},
            )
        self._metrics.retry(request.call, kind)

    def __repr__(self) -> str:
        return f"Retry({self.policy!r})"


class _Tally:
    """What one call has gone through so far (a local of one ``Retry.__call__``)."""

    __slots__ = ("has_key", "history", "maybe_applied", "spent")

    def __init__(self, has_key: bool) -> None:
        self.has_key = has_key
        self.history: list[EemwError] = []
        self.maybe_applied = False
        self.spent = 0.0

    def annotate(self, error: EemwError, attempts: int) -> EemwError:
        """Write the call's facts onto the error it is about to raise."""
        self.maybe_applied = self.maybe_applied or maybe_applied(error)
        error.attempts = attempts
        error.history = tuple(self.history)
        error.maybe_applied = self.maybe_applied
        return error

    def remember(self, error: EemwError) -> None:
        # Without its traceback: the frames hold the attempt's request, token included.
        error.__traceback__ = None
        self.history.append(error)


def _what(request: Request) -> str:
    name = request.call.name
    return f"{request.call.label} {name}" if name else request.call.label
