"""The per-operation results of cancel and the bulk calls: plain frozen values.

Kept apart from the bulk machinery so that a single ``cancel`` can return one without
loading thread pools or the watcher.
"""

from __future__ import annotations

from typing import Literal

from ._errors import EemwError
from ._models import Operation
from ._value import frozen

__all__ = ["CancelOutcome", "CancelResult", "WaitResult"]

CancelOutcome = Literal["cancelled", "already_done", "not_found", "error"]
"""What became of one cancel: ``cancelled``, ``already_done``, ``not_found`` or ``error``."""


@frozen
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

    def __init__(
        self,
        name: str,
        outcome: CancelOutcome,
        error: Exception | None = None,
        reconciled: bool = False,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "reconciled", reconciled)

    @property
    def ok(self) -> bool:
        """True when the operation is cancelled or was already done."""
        return self.outcome in ("cancelled", "already_done")


@frozen
class WaitResult:
    """What :meth:`Operations.wait_many` learned about one operation.

    ``operation`` is the last state seen (``None`` if no answer came); ``error`` the error
    of the last request for it, when that failed.
    """

    name: str
    operation: Operation | None
    error: EemwError | None = None

    def __init__(
        self, name: str, operation: Operation | None, error: EemwError | None = None
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "operation", operation)
        object.__setattr__(self, "error", error)

    @property
    def done(self) -> bool:
        """True when the operation finished (succeeded, failed or cancelled)."""
        return self.operation is not None and self.operation.done
