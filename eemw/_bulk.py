"""Calls over many operations at once: ``cancel_many`` and ``wait_many``.

Both validate every name before anything is sent, send each request through the client's
full pipeline (via the operations resource), and report per operation instead of raising
for what happens to one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    NotFoundError,
    UsageError,
)
from ._models import Operation, OperationName
from ._results import CancelOutcome, CancelResult, WaitResult
from ._validate import (
    DEFAULT_TIMEOUTS,
    NameLike,
    check_poll,
    check_timeout,
    is_int,
    operation_names,
)
from ._watch import Watcher

if TYPE_CHECKING:
    from ._operations import Operations
    from .middleware.retry import RetryPolicy

__all__ = ["CancelOutcome", "CancelResult", "WaitResult", "cancel_many", "wait_many"]


logger = logging.getLogger("eemw.client")

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
    """See :meth:`Operations.wait_many`; the rounds are a :class:`~eemw._watch.Watcher`'s."""
    client = ops.client
    targets = operation_names(names, client.project)
    seconds = check_timeout(timeout, DEFAULT_TIMEOUTS["wait"])
    check_poll(poll_interval, max_poll_interval)
    deadline = client.clock() + seconds
    watcher = Watcher(ops, list(dict.fromkeys(targets)))
    delay = poll_interval
    while True:
        for change in watcher.poll(deadline):
            if on_update is not None:
                on_update(change.after)
        left = deadline - client.clock()
        if watcher.finished or left <= 0:
            break
        client.sleep(min(delay, left))
        delay = min(delay * 2, max_poll_interval)
    return [WaitResult(t.name, watcher.operation(t.name), watcher.error(t.name)) for t in targets]
