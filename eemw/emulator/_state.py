"""The operations store: every project's operations, behind one lock, moved by the clock."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._clock import Clock
from ._listing import Filter
from ._operations import (
    DEFAULT_FAILURE,
    INITIAL_STATES,
    OpRecord,
    Phase,
    next_change,
    phase_at,
)
from ._wire import ApiError

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
# Tombstones keep page tokens valid; compact once they dominate the list.
_COMPACT_AT = 1024
_MAX_EFFECTS = 1_000_000


@dataclass(frozen=True, slots=True)
class NewOperation:
    """What `Emulator.add_operation` asked for."""

    project: str
    state: str = "PENDING"
    description: str | None = None
    type: str = "EXPORT_IMAGE"
    priority: int = 100
    op_id: str | None = None
    duration: float = 30.0
    start_after: float = 5.0
    extra_metadata: Mapping[str, Any] | None = None
    omit: Iterable[str] = ()
    fail_at_end: bool = False
    error: Mapping[str, Any] | None = None
    script_uri: str | None = None
    destination_uris: Iterable[str] | None = None
    # Emulator-clock seconds; None: derived from the state (see _schedule).
    create_at: float | None = None


class _Project:
    """Operations newest first (`keys` mirrors `ops`), so a page is a bisect and a slice."""

    __slots__ = ("by_id", "keys", "ops", "tombstones")

    def __init__(self) -> None:
        self.ops: list[OpRecord] = []
        self.keys: list[tuple[int, int]] = []
        self.by_id: dict[str, OpRecord] = {}
        self.tombstones = 0

    def insert(self, op: OpRecord) -> None:
        index = bisect_left(self.keys, op.order)
        self.keys.insert(index, op.order)
        self.ops.insert(index, op)
        self.by_id[op.op_id] = op

    def remove(self, op: OpRecord) -> None:
        op.deleted = True
        del self.by_id[op.op_id]
        self.tombstones += 1
        if self.tombstones >= _COMPACT_AT and self.tombstones * 2 > len(self.ops):
            self.ops = [o for o in self.ops if not o.deleted]
            self.keys = [o.order for o in self.ops]
            self.tombstones = 0


@dataclass(slots=True)
class Effects:
    """What the server did to one operation name, kept after a delete so tests can count."""

    cancel_effects: int = 0
    cancel_executions: int = 0
    delete_effects: int = 0
    delete_executions: int = 0


def validate_project(project: str) -> None:
    if not project or "/" in project:
        raise ValueError(f"invalid project {project!r}: it must be non-empty and contain no '/'")


def _generated_id(project: str, seq: int) -> str:
    digest = hashlib.sha256(f"{project}/{seq}".encode()).digest()
    return base64.b32encode(digest).decode()[:24]


def _default_destinations(op_type: str) -> tuple[str, ...]:
    if op_type.startswith("EXPORT"):
        return ("https://drive.google.com/#folders/eemw-emulator",)
    return ()


class OperationStore:
    def __init__(self, clock: Clock, cancel_delay: float = 0.0) -> None:
        self.clock = clock
        self.cancel_delay = cancel_delay
        self.lock = threading.Lock()
        # Notified on every change a waiter could care about (advance, cancel, delete, close).
        self.changed = threading.Condition(self.lock)
        self._projects: dict[str, _Project] = {}
        self._effects: dict[str, Effects] = {}
        self._next_seq = 1
        self._closed = False

    # -- creation -----------------------------------------------------------------------------

    def add(self, spec: NewOperation) -> OpRecord:
        validate_project(spec.project)
        if spec.state not in INITIAL_STATES:
            raise ValueError(f"unknown state {spec.state!r}; use one of {sorted(INITIAL_STATES)}")
        if spec.op_id is not None and not ID_PATTERN.fullmatch(spec.op_id):
            raise ValueError(f"invalid operation id {spec.op_id!r}: use [A-Za-z0-9_-]+")
        if spec.duration < 0 or spec.start_after < 0:
            raise ValueError("duration and start_after must not be negative")
        if spec.create_at is not None and spec.create_at > self.clock.now():
            raise ValueError("create_time must not be after the emulator's current time")
        with self.changed:
            op = self._build(spec, self.clock.now())
            project = self._projects.setdefault(spec.project, _Project())
            if op.op_id in project.by_id:
                raise ValueError(f"operation {op.name} already exists")
            project.insert(op)
            self.changed.notify_all()
        return op

    def _build(self, spec: NewOperation, now: float) -> OpRecord:
        seq = self._next_seq
        self._next_seq += 1
        create, start, end = _schedule(spec, now)
        failed = spec.fail_at_end or spec.state == "FAILED"
        op = OpRecord(
            project=spec.project,
            op_id=spec.op_id or _generated_id(spec.project, seq),
            seq=seq,
            type=spec.type,
            description=spec.description or f"{spec.type.lower()}_{seq}",
            priority=spec.priority,
            create_at=create,
            start_at=start,
            end_at=end,
            outcome="FAILED" if failed else "SUCCEEDED",
            error=dict(spec.error or DEFAULT_FAILURE),
            extra=dict(spec.extra_metadata or {}),
            omit=frozenset(spec.omit),
            script_uri=spec.script_uri,
            destination_uris=tuple(
                spec.destination_uris
                if spec.destination_uris is not None
                else _default_destinations(spec.type)
            ),
        )
        if spec.state == "CANCELLED":
            op.cancel_requested_at = op.cancel_at = now
        elif spec.state == "CANCELLING":
            op.cancel_requested_at = now
            op.cancel_at = now + max(self.cancel_delay, 1.0)
        return op

    # -- reads --------------------------------------------------------------------------------

    def lookup(self, project: str, op_id: str) -> tuple[OpRecord, Phase]:
        with self.lock:
            op = self._require(project, op_id)
            return op, phase_at(op, self.clock.now())

    def find(self, project: str, op_id: str) -> tuple[OpRecord, Phase] | None:
        with self.lock:
            found = self._projects.get(project)
            op = found.by_id.get(op_id) if found else None
            return None if op is None else (op, phase_at(op, self.clock.now()))

    def names(self, project: str | None) -> list[str]:
        with self.lock:
            projects = (
                [self._projects.get(project)] if project is not None else self._projects.values()
            )
            return [op.name for p in projects if p for op in p.ops if not op.deleted]

    def page(
        self, project: str, flt: Filter, cursor: tuple[int, int] | None, size: int
    ) -> tuple[list[tuple[OpRecord, Phase]], tuple[int, int] | None]:
        """Up to `size` matches, newest first, from `cursor` on; and the next match's cursor."""
        found: list[tuple[OpRecord, Phase]] = []
        with self.lock:
            entry = self._projects.get(project)
            if entry is None:
                return found, None
            now = self.clock.now()
            ops = entry.ops
            start = 0 if cursor is None else bisect_left(entry.keys, cursor)
            for index in range(start, len(ops)):
                op = ops[index]
                if op.deleted:
                    continue
                phase = phase_at(op, now)
                if not flt.matches(op, phase):
                    continue
                if len(found) == size:
                    return found, op.order
                found.append((op, phase))
        return found, None

    # -- mutations ----------------------------------------------------------------------------

    def cancel(self, project: str, op_id: str) -> bool:
        """Request cancellation; True when this call applied the side effect."""
        with self.changed:
            effects = self._effects_of(f"projects/{project}/operations/{op_id}")
            effects.cancel_executions += 1
            op = self._require(project, op_id)
            now = self.clock.now()
            phase = phase_at(op, now)
            if phase.done:
                raise ApiError(
                    "FAILED_PRECONDITION",
                    f"Operation {op.name} is already done (state {phase.state}); "
                    "it cannot be cancelled.",
                )
            if op.cancel_requested_at is not None:
                return False  # already CANCELLING: Earth Engine answers {} again
            op.cancel_requested_at = now
            op.cancel_at = now + self.cancel_delay
            effects.cancel_effects += 1
            self.changed.notify_all()
            return True

    def delete(self, project: str, op_id: str) -> None:
        name = f"projects/{project}/operations/{op_id}"
        with self.changed:
            effects = self._effects_of(name)
            effects.delete_executions += 1
            op = self._require(project, op_id)
            self._projects[project].remove(op)
            effects.delete_effects += 1
            self.changed.notify_all()

    def effects(self, name: str) -> Effects:
        with self.lock:
            return copy.copy(self._effects.get(name, Effects()))

    def _effects_of(self, name: str) -> Effects:
        found = self._effects.get(name)
        if found is None:
            found = Effects()
            # Names a client invents (deletes of unknown ids) must not grow this without bound.
            if len(self._effects) < _MAX_EFFECTS:
                self._effects[name] = found
        return found

    def advance(self, seconds: float) -> None:
        with self.changed:
            self.clock.advance(seconds)
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self._closed = True
            self.changed.notify_all()

    def reopen(self) -> None:
        with self.lock:
            self._closed = False

    # -- wait ---------------------------------------------------------------------------------

    def wait(self, project: str, op_id: str, timeout: float) -> tuple[OpRecord, Phase]:
        """Block until done or `timeout` clock seconds pass; without realtime, return at once."""
        with self.changed:
            deadline = self.clock.now() + timeout
            while True:
                op = self._require(project, op_id)
                now = self.clock.now()
                phase = phase_at(op, now)
                if phase.done or now >= deadline or self._closed or not self.clock.realtime:
                    return op, phase
                upcoming = next_change(op, now)
                until = deadline if upcoming is None else min(deadline, upcoming)
                # A hair past the change, so a wake-up never lands just before it.
                self.changed.wait(until - now + 0.001)

    def _require(self, project: str, op_id: str) -> OpRecord:
        entry = self._projects.get(project)
        op = entry.by_id.get(op_id) if entry else None
        if op is None:
            raise ApiError(
                "NOT_FOUND", f"Operation projects/{project}/operations/{op_id} was not found."
            )
        return op


def _schedule(spec: NewOperation, now: float) -> tuple[float, float, float]:
    """(create, start, end) clock times, back-dated so an op born finished has a plausible past."""
    wait, run = spec.start_after, spec.duration
    if spec.state == "PENDING":
        create, start, end = now, now + wait, now + wait + run
    elif spec.state in ("RUNNING", "CANCELLING"):
        create, start, end = now - wait, now, now + run
    elif spec.state == "CANCELLED":
        half = run / 2
        create, start, end = now - wait - half, now - half, now + max(half, 1.0)
    else:
        create, start, end = now - wait - run, now - run, now
    if spec.create_at is None:
        return create, start, end
    # An explicit create time moves the past, never the state asked for: a RUNNING op created
    # three days ago has been running since start_after seconds after its creation.
    create = spec.create_at
    if spec.state in ("RUNNING", "CANCELLING"):
        start = min(create + wait, now)
    elif spec.state != "PENDING":
        start = max(start, create)
    return create, start, max(end, start)
