"""Calls over many operations at once: ``cancel_many`` and ``wait_many``.

Both validate every name before anything is sent, send each request through the client's
full pipeline (via the operations resource), and report per operation instead of raising
for what happens to one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._errors import (
    ApiError,
    DeadlineExceededError,
    EemwError,
    FailedPreconditionError,
    NotFoundError,
    UsageError,
)
from ._models import Operation, OperationName
from ._validate import (
    DEFAULT_TIMEOUTS,
    NameLike,
    check_poll,
    check_timeout,
    is_int,
    operation_names,
)

if TYPE_CHECKING:
    from ._operations import Operations
    from .middleware.retry import RetryPolicy

__all__ = ["CancelOutcome", "CancelResult", "WaitResult", "cancel_many", "wait_many"]

logger = logging.getLogger("eemw.client")

CancelOutcome = Literal["cancelled", "already_done", "not_found", "error"]


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The outcome of one cancel (:meth:`Operations.cancel` and ``cancel_many``).

    ``outcome`` is ``"cancelled"`` (the server accepted the cancel), ``"already_done"``,
    ``"not_found"`` or ``"error"``; ``error`` is the error for all but the first (an
    :class:`~eemw.EemwError`, or whatever a caller's own stage raised; a cancel that
    ``cancel_many``'s ``timeout`` left no time for is ``"error"`` with a
    :class:`~eemw.DeadlineExceededError` and was never sent). ``reconciled`` is True for a
    ``"cancelled"`` outcome established by looking at the operation after the server
    refused a re-sent cancel whose first answer was lost (it is CANCELLING or CANCELLED).
    """

    name: str
    outcome: CancelOutcome
    error: Exception | None = None
    reconciled: bool = False

    @property
    def ok(self) -> bool:
        """True when the operation is cancelled or was already done."""
        return self.outcome in ("cancelled", "already_done")


@dataclass(frozen=True, slots=True)
class WaitResult:
    """What :meth:`Operations.wait_many` learned about one operation.

    ``operation`` is the last state seen (``None`` if no answer came); ``error`` the error
    of the last request for it, when that failed.
    """

    name: str
    operation: Operation | None
    error: EemwError | None = None

    @property
    def done(self) -> bool:
        """True when the operation finished (succeeded, failed or cancelled)."""
        return self.operation is not None and self.operation.done


def cancel_many(
    ops: Operations,
    names: Iterable[NameLike],
    *,
    max_workers: int,
    timeout: float | None,
    retry: RetryPolicy | None,
    on_result: Callable[[CancelResult], object] | None,
) -> list[CancelResult]:
    """See :meth:`Operations.cancel_many`. ``timeout`` is the whole call's deadline."""
    client = ops.client
    targets = operation_names(names, client.project)
    if not is_int(max_workers) or max_workers < 1:
        raise UsageError("max_workers must be a positive integer")
    seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["cancel"])
    deadline = client.clock() + seconds

    def one(name: OperationName) -> CancelResult:
        result = _cancel_result(ops, name, deadline, seconds, retry)
        if on_result is not None:
            try:
                on_result(result)
            except Exception:
                logger.exception("cancel_many: on_result raised for %s", name)
        return result

    if not targets:
        return []
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(max_workers, len(targets)), "eemw-cancel") as pool:
        futures = [pool.submit(one, name) for name in targets]
        try:
            return [f.result() for f in futures]
        except BaseException:
            # Ctrl-C: stop what has not started; what already ran is reported by on_result.
            for f in futures:
                f.cancel()
            raise


def _cancel_result(
    ops: Operations,
    name: OperationName,
    deadline: float,
    seconds: float,
    retry: RetryPolicy | None,
) -> CancelResult:
    # Each cancel gets what is left of the whole call's deadline, so the last of a long
    # queue cannot start a fresh timeout of its own.
    left = deadline - ops.client.clock()
    if left <= 0:
        return CancelResult(name.name, "error", DeadlineExceededError(
            f"operations.cancel_many: the whole call's timeout of {seconds:g}s passed "
            f"before {name} could be sent; it was not cancelled",
            timeout=seconds,
        ))
    try:
        return ops.cancel(name, timeout=left, retry=retry)
    except FailedPreconditionError as error:
        return CancelResult(name.name, "already_done", error)
    except NotFoundError as error:
        return CancelResult(name.name, "not_found", error)
    except Exception as error:
        # Even a bug in a caller's own stage must not cost the other names their results.
        return CancelResult(name.name, "error", error)


def wait_many(
    ops: Operations,
    names: Iterable[NameLike],
    *,
    timeout: float,
    poll_interval: float,
    max_poll_interval: float,
    on_update: Callable[[Operation], object] | None,
) -> list[WaitResult]:
    """See :meth:`Operations.wait_many`."""
    client = ops.client
    targets = operation_names(names, client.project)
    seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
    check_poll(poll_interval, max_poll_interval)
    deadline = client.clock() + seconds
    states = {t.name: _Waiting() for t in targets}
    delay = poll_interval
    while _poll_round(ops, states, deadline, on_update):
        left = deadline - client.clock()
        if left <= 0:
            break
        client.sleep(min(delay, left))
        delay = min(delay * 2, max_poll_interval)
    return [states[t.name].result(t.name) for t in targets]


def _poll_round(
    ops: Operations,
    states: dict[str, _Waiting],
    deadline: float,
    on_update: Callable[[Operation], object] | None,
) -> bool:
    """Get every unsettled operation once; False when none is left or time ran out."""
    clock = ops.client.clock
    for name, state in states.items():
        if state.settled:
            continue
        left = deadline - clock()
        if left <= 0:
            return False
        try:
            state.operation = ops.get(name, timeout=min(left, DEFAULT_TIMEOUTS["get"]))
            state.error = None
        except DeadlineExceededError:
            return False
        except EemwError as error:
            state.error = error
            state.final = _definitive(error)
            continue
        if on_update is not None:
            on_update(state.operation)
    return any(not s.settled for s in states.values())


class _Waiting:
    """Mutable per-operation bookkeeping inside one ``wait_many`` call (never shared)."""

    __slots__ = ("error", "final", "operation")

    def __init__(self) -> None:
        self.operation: Operation | None = None
        self.error: EemwError | None = None
        self.final = False

    @property
    def settled(self) -> bool:
        return self.final or (self.operation is not None and self.operation.done)

    def result(self, name: str) -> WaitResult:
        return WaitResult(name, self.operation, self.error)


def _definitive(error: EemwError) -> bool:
    # Asking again will not change a 4xx other than throttling or an expired token.
    return isinstance(error, ApiError) and 400 <= error.http_status < 500 and (
        error.http_status not in (401, 408, 429)
    )
