"""``client.operations.watch(...)``: a change stream over a :class:`~eemw._watch.Watcher`.

:class:`OperationWatch` is the iterator it returns: it runs watcher rounds on the client's
timeline and yields an :class:`~eemw.OperationChange` per state change, until every named
operation is done, ``until`` passes, or the caller stops (``break``, :meth:`close`, the
end of a ``with`` block, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from ._errors import UsageError
from ._models import State
from ._validate import (
    DEFAULT_WATCH_INTERVAL,
    MAX_TIMEOUT,
    NameLike,
    check_timeout,
    matcher,
    operation_names,
    states,
    types,
)
from ._watch import Watcher
from ._watch_model import OperationChange, WatchStats

if TYPE_CHECKING:
    from ._operations import Operations

__all__ = ["DEFAULT_WATCH_INTERVAL", "OperationWatch"]



class OperationWatch(Iterator[OperationChange]):
    """The changes of a set of operations, or of a project's matching operations.

    Iterate over it (each item is an :class:`~eemw.OperationChange`); it ends when every
    named operation is done, when ``until`` seconds have passed, or when :meth:`close` is
    called (from any thread; a real sleep between rounds is cut short). It is also a
    context manager that closes on exit. Build it with ``client.operations.watch(...)``.
    """

    def __init__(
        self,
        ops: Operations,
        names: Iterable[NameLike] | None = None,
        *,
        filter: str | None = None,
        state: State | str | Iterable[State | str] | None = None,
        type: str | Iterable[str] | None = None,
        poll_interval: float = DEFAULT_WATCH_INTERVAL,
        until: float | None = None,
        every_change: bool = False,
    ) -> None:
        client = ops.client
        targets = None if names is None else list(dict.fromkeys(
            operation_names(names, client.project)
        ))
        if filter is not None and (not isinstance(filter, str) or not filter.isprintable()):
            raise UsageError("filter must be a string without line breaks or control characters")
        if targets is not None and filter:
            raise UsageError("filter= selects a project's operations: pass names or filter, "
                             "not both")
        wanted_types = types(type)
        self._keep = matcher(states(state), wanted_types)
        _check_interval(poll_interval)
        self._interval = float(poll_interval)
        seconds = None if until is None else check_timeout(until, math.inf)
        self._clock = client.clock
        self._sleep = client.sleep
        self._deadline = math.inf if seconds is None else self._clock() + seconds
        hint = None
        if targets is None and not filter and wanted_types is not None and len(wanted_types) == 1:
            # Fewer pages when the server can filter by type; dropped if it cannot.
            hint = f'metadata.type="{next(iter(wanted_types))}"'
        self._watcher = Watcher(
            ops, targets, server_filter=filter or hint, optional_filter=hint is not None
        )
        self._every = every_change
        self._stop = threading.Event()
        self._gen = self._changes()

    @property
    def stats(self) -> WatchStats:
        """The requests this watch has sent so far (pages and fallback gets)."""
        return self._watcher.stats

    def __next__(self) -> OperationChange:
        if self._stop.is_set():
            self._gen.close()
            raise StopIteration
        return next(self._gen)

    def close(self) -> None:
        """Stop the watch: the iteration ends at the next step (safe from any thread)."""
        self._stop.set()
        # ValueError: it is running in another thread right now, and sees the event itself.
        with contextlib.suppress(ValueError):
            self._gen.close()

    def __enter__(self) -> OperationWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _changes(self) -> Generator[OperationChange, None, None]:
        watcher, clock = self._watcher, self._clock
        while not self._stop.is_set() and clock() < self._deadline:
            for change in watcher.poll(self._deadline):
                if self._keep(change.after) and (self._every or change.state_changed):
                    yield change
            left = self._deadline - clock()
            if watcher.finished or left <= 0:
                return
            self._pause(min(self._interval, left))

    def _pause(self, seconds: float) -> None:
        if self._sleep is time.sleep:
            self._stop.wait(seconds)  # a real sleep: close() from another thread cuts it short
        else:
            self._sleep(seconds)  # an injected timeline (tests, simulations): use it as is


def _check_interval(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 < value <= MAX_TIMEOUT
    ):
        raise UsageError(f"poll_interval must be a number of seconds above 0, not {value!r}")

