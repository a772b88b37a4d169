"""The values and bookkeeping of a watch: changes, request counts, what is known of one
operation, and what the listing's order has shown.

Kept apart from :mod:`eemw._watch` (the algorithm) so each stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._errors import EemwError
from ._models import Operation, OperationName

__all__ = ["ListingOrder", "OperationChange", "Tracked", "WatchStats"]


@dataclass(frozen=True, slots=True)
class OperationChange:
    """One change a watch saw: the operation ``before`` it and ``after`` it.

    ``before`` is ``None`` the first time the watch sees the operation. Both are states a
    server response carried; nothing in between is invented.
    """

    before: Operation | None
    after: Operation

    @property
    def name(self) -> str:
        return self.after.name

    @property
    def state_changed(self) -> bool:
        """True when the state differs from ``before`` (always, on a first sighting)."""
        return self.before is None or self.before.state is not self.after.state


class Tracked:
    """What the watcher knows of one operation (mutable; only its watcher touches it)."""

    __slots__ = ("error", "final", "name", "operation", "seen")

    def __init__(self, name: OperationName, operation: Operation | None = None) -> None:
        self.name = name
        self.operation = operation
        self.error: EemwError | None = None
        self.final = False  # the server refused it definitively: never asked for again
        self.seen = 0  # the last round that saw it

    @property
    def settled(self) -> bool:
        return self.final or (self.operation is not None and self.operation.done)

    @property
    def created(self) -> datetime | None:
        return None if self.operation is None else self.operation.metadata.create_time


class ListingOrder:
    """What the listing's create times have shown so far: newest first, or not."""

    __slots__ = ("broken", "descended", "last")

    def __init__(self) -> None:
        self.descended = False
        self.broken = False
        self.last: datetime | None = None

    def note(self, created: datetime | None) -> None:
        if created is None:
            return
        if self.last is not None:
            if created > self.last:
                self.broken = True
            elif created < self.last:
                self.descended = True
        self.last = created

    @property
    def newest_first(self) -> bool:
        return self.descended and not self.broken


@dataclass(slots=True)
class WatchStats:
    """Requests a watcher sent: ``pages`` of ``list`` and fallback ``gets``, over ``rounds``."""

    rounds: int = 0
    pages: int = 0
    gets: int = 0
