"""Following many operations through ``list`` pages: the :class:`Watcher`.

One watcher follows either a fixed set of operations (``wait_many``, ``watch(names)``) or
every operation of one project (``watch()``, the CLI view, the queue metrics). Each
:meth:`Watcher.poll` is one round: a *sweep* reads the project's ``list`` pages, newest
first, at up to 1,000 operations a request, and stops as soon as it has seen everything
it needs; an operation the sweep could not show (on another project, older than the
pages it read, missing from them, or behind a page that failed) is asked for with one
``get``. So a round costs about one request per 1,000 operations instead of one per
operation.

How a sweep knows it may stop: it stops at once when every watched operation was seen.
Otherwise, once the listing has shown itself newest first (create times that go down
and never up), an operation created before the oldest one still needed ends the sweep:
everything after it is older still. A server whose listing is in any other order simply
gets read to the end. Nothing here ever reports a state that no response carried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._errors import (
    ApiError,
    EemwError,
    InvalidArgumentError,
    MalformedResponseError,
    UnimplementedError,
    UsageError,
)
from ._http import Call
from ._models import Operation, OperationName, collection_path, parse_timestamp
from ._validate import DEFAULT_TIMEOUTS
from ._watch_model import ListingOrder, OperationChange, Tracked, WatchStats

if TYPE_CHECKING:
    from ._operations import Operations

__all__ = ["PAGE_SIZE", "Watcher", "definitive"]

PAGE_SIZE = 1000
"""Operations asked for per ``list`` page: the service's maximum."""

# A round's fallback gets stop after this many transient failures in a row: the service is
# struggling, and a get per operation would only add to its load.
_GET_FAILURES = 3
# Page tokens remembered to detect a server that hands one back twice (bounded: a hostile
# server could send endless unique ones).
_TOKENS_KEPT = 64


def definitive(error: EemwError) -> bool:
    """Whether asking again cannot change the answer: a 4xx other than 401, 408 and 429.

    Everything else (a 5xx, a dropped connection, one request reaching its own deadline)
    is transient: the next round asks again.
    """
    return isinstance(error, ApiError) and 400 <= error.http_status < 500 and (
        error.http_status not in (401, 408, 429)
    )


@dataclass(slots=True)
class _Sweep:
    """One sweep's progress: where it may stop, what it still needs, what it read."""

    cutoff: datetime | None
    wanted: int
    pages: int = 0
    newest: datetime | None = None
    cut: bool = False  # stopped early on the cutoff


class Watcher:
    """Follows ``names`` (or, with ``names=None``, every operation of ``project``).

    ``server_filter`` is passed to ``list`` as is (project-wide watches only); with
    ``optional_filter`` it only saves pages, and is dropped for good if the server refuses
    it (the caller filters on its side anyway). Not thread-safe: one caller drives
    :meth:`poll`.
    """

    def __init__(
        self,
        ops: Operations,
        names: Sequence[OperationName] | None,
        *,
        project: str | None = None,
        server_filter: str | None = None,
        optional_filter: bool = False,
    ) -> None:
        self._ops = ops
        self._client = ops.client
        self.everything = names is None
        if names is None:
            project = project or self._client.project
            if project is None:
                raise UsageError("watching a whole project needs a project: pass project= "
                                 "or give the client one")
        self.project = project or _main_project(names or ())
        if self.project is not None:
            collection_path(self.project, self._client.api_version)  # validates it
        self._tracked = {n.name: Tracked(n) for n in names or ()}
        self._filter = server_filter
        self._optional_filter = optional_filter
        self._order = ListingOrder()
        self._listable = self.project is not None
        self._pages_needed = 1
        self._head: datetime | None = None  # the newest create time the last sweep saw
        self._round = 0
        self._cut = False
        self._verify = False
        self.stats = WatchStats()

    # -- what it knows ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True when a fixed set is watched and every one of it is settled."""
        return not self.everything and all(t.settled for t in self._tracked.values())

    def operation(self, name: str) -> Operation | None:
        """The last state seen of ``name`` (``None`` if none was)."""
        tracked = self._tracked.get(name)
        return None if tracked is None else tracked.operation

    def error(self, name: str) -> EemwError | None:
        """The error of the last request that should have shown ``name``, if it failed."""
        tracked = self._tracked.get(name)
        return None if tracked is None else tracked.error

    def operations(self) -> list[Operation]:
        """Every operation followed, in its last state seen."""
        return [t.operation for t in self._tracked.values() if t.operation is not None]

    # -- one round ----------------------------------------------------------------------------

    def poll(self, deadline: float) -> list[OperationChange]:
        """One round: a sweep where it pays, then a get for what it could not show.

        Never sends a request past ``deadline`` (on the client's clock); each request's own
        timeout is the shorter of its default and the time left.
        """
        self._round += 1
        self.stats.rounds += 1
        changes: list[OperationChange] = []
        complete, error = True, None
        if self._should_sweep():
            complete, error = self._sweep(deadline, changes)
        unseen = [t for t in self._tracked.values()
                  if not t.settled and t.seen != self._round]
        # A sweep cut short on create times that then missed an operation may have trusted
        # an order that only looked newest first: the next sweep reads on to check it.
        self._verify = self._cut and any(t.name.project == self.project for t in unseen)
        if error is not None:
            for tracked in unseen:
                tracked.error = error
        if complete or error is not None:
            self._fallback(unseen, deadline, changes)
        return changes

    def _should_sweep(self) -> bool:
        if not self._listable:
            return False
        if self.everything:
            return True
        local = sum(1 for t in self._tracked.values()
                    if not t.settled and t.name.project == self.project)
        # A sweep that takes more pages than there are operations left costs more than
        # asking for each: then get them one by one.
        return local > self._pages_needed

    def _sweep(
        self, deadline: float, changes: list[OperationChange]
    ) -> tuple[bool, EemwError | None]:
        """Read pages until nothing more is needed; (read all it needed, page error)."""
        assert self.project is not None
        client = self._client
        path = collection_path(self.project, client.api_version)
        call = Call("list", self.project, client.api_version)
        query = {"pageSize": str(PAGE_SIZE)}
        if self._filter:
            query["filter"] = self._filter
        cutoff, wanted = self._cutoff()
        sweep = _Sweep(None if self._verify else cutoff, wanted)
        self._cut = False
        self._order.last = None
        tokens: list[str] = []
        while True:
            left = deadline - client.clock()
            if left <= 0:
                return False, None
            try:
                response = client.send(
                    call, "GET", path, query=query, timeout=min(DEFAULT_TIMEOUTS["list"], left)
                )
            except EemwError as error:
                if self._filter and self._optional_filter and _refused_filter(error):
                    self._filter = None  # a server without this filter: list everything
                    return self._sweep(deadline, changes)
                if definitive(error):
                    if self.everything:
                        raise  # a refused filter or project: nothing else can show it
                    self._listable = False  # this caller may not list: get from now on
                return False, error
            page = response.json()
            sweep.pages += 1
            self.stats.pages += 1
            token = page.get("nextPageToken")
            if self._read(page.get("operations", ()), sweep, changes) or not token:
                return self._swept(sweep)
            if token in tokens:
                return False, MalformedResponseError(
                    f"operations.list projects/{self.project}: the server repeated a page "
                    "token", call=call.label,
                )
            tokens = [*tokens[-_TOKENS_KEPT:], token]
            query = {**query, "pageToken": token}

    def _read(
        self, raws: Iterable[Any], sweep: _Sweep, changes: list[OperationChange]
    ) -> bool:
        """Record one page's operations; True when the sweep has seen all it needs."""
        for raw in raws:
            created = _created(raw)
            self._order.note(created)
            if created is not None and (sweep.newest is None or created > sweep.newest):
                sweep.newest = created
            if (sweep.cutoff is not None and created is not None and created < sweep.cutoff
                    and self._order.newest_first):
                sweep.cut = True
                return True  # newest first: everything from here on is older still
            if self._saw(raw, changes):
                sweep.wanted -= 1
            if not self.everything and sweep.wanted <= 0:
                return True
        return False

    def _swept(self, sweep: _Sweep) -> tuple[bool, None]:
        self._pages_needed = sweep.pages
        self._cut = sweep.cut
        if sweep.newest is not None and (self._head is None or sweep.newest > self._head):
            self._head = sweep.newest
        if self.everything:
            self._forget_old()
        return True, None

    def _cutoff(self) -> tuple[datetime | None, int]:
        """The oldest create time a sweep must reach (None: no early stop), and how many
        watched operations it must see (project-wide: never counts down to zero)."""
        needed = [t for t in self._tracked.values()
                  if not t.settled and t.name.project == self.project]
        times = [t.created for t in needed]
        if self.everything:
            if self._head is None:
                return None, 1  # the first sweep reads everything
            times.append(self._head)  # and later ones everything new since the last
        if not times or any(t is None for t in times):
            return None, len(needed)
        return min(t for t in times if t is not None), len(needed)

    def _saw(self, raw: Any, changes: list[OperationChange]) -> bool:
        """Record an operation from a page; True when it is watched and was not settled."""
        name = raw.get("name") if isinstance(raw, dict) else None
        tracked = self._tracked.get(name) if isinstance(name, str) else None
        if tracked is None:
            if not self.everything or not isinstance(name, str):
                return False  # not followed: not even parsed
            try:
                parsed = OperationName.parse(name)
            except UsageError:
                return False  # a name no request could be made for
            tracked = self._tracked[name] = Tracked(parsed)
        if tracked.seen == self._round or (tracked.settled and not self.everything):
            return False  # shown twice by one sweep (pages shifted under it), or settled
        needed = not tracked.settled
        last = tracked.operation
        if last is not None and (last.done or last.raw == raw):
            # Nothing new (or nothing that may change): skip parsing it again.
            tracked.seen, tracked.error = self._round, None
        else:
            self._record(tracked, Operation.from_wire(raw), changes)
        return needed

    def _record(self, tracked: Tracked, op: Operation, changes: list[OperationChange]) -> None:
        tracked.seen = self._round
        tracked.error = None
        before = tracked.operation
        if before is not None and (before.done or _older(op, before)):
            return  # an answer staler than one already seen must not undo it
        tracked.operation = op
        if before != op:
            changes.append(OperationChange(before, op))

    def _forget_old(self) -> None:
        # Finished operations older than the next sweep's cutoff are never shown again:
        # keeping them would grow memory for as long as a service watches.
        cutoff, _ = self._cutoff()
        if cutoff is None or not self._order.newest_first:
            return
        for name in [n for n, t in self._tracked.items()
                     if t.settled and t.created is not None and t.created < cutoff]:
            del self._tracked[name]

    def _fallback(
        self, unseen: list[Tracked], deadline: float, changes: list[OperationChange]
    ) -> None:
        """A get for each operation no page showed this round."""
        failures = 0
        clock = self._client.clock
        for tracked in unseen:
            left = deadline - clock()
            if left <= 0 or failures >= _GET_FAILURES:
                return
            try:
                self.stats.gets += 1
                op = self._ops.get(tracked.name, timeout=min(DEFAULT_TIMEOUTS["get"], left))
            except EemwError as error:
                tracked.error = error
                if definitive(error):
                    tracked.final = True
                    if self.everything:
                        del self._tracked[tracked.name.name]  # gone from the project
                else:
                    failures += 1
                continue
            failures = 0
            self._record(tracked, op, changes)


def _created(raw: Any) -> datetime | None:
    meta = raw.get("metadata") if isinstance(raw, dict) else None
    return parse_timestamp(meta.get("createTime")) if isinstance(meta, dict) else None


def _refused_filter(error: EemwError) -> bool:
    return isinstance(error, (InvalidArgumentError, UnimplementedError))


def _older(new: Operation, old: Operation) -> bool:
    a, b = new.metadata.update_time, old.metadata.update_time
    return a is not None and b is not None and a < b


def _main_project(names: Sequence[OperationName]) -> str | None:
    """The project most of ``names`` belong to: the one worth reading pages of."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name.project] = counts.get(name.project, 0) + 1
    return max(counts, key=lambda p: counts[p]) if counts else None

