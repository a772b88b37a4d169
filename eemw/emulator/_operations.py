"""One emulated operation: its schedule, the state it is in at a given time, and its wire JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._wire import rfc3339

EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
INITIAL_STATES = frozenset({"PENDING", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED"})
CANCELLED_ERROR: Mapping[str, Any] = {"code": 1, "message": "Cancelled."}
DEFAULT_FAILURE: Mapping[str, Any] = {
    "code": 3,
    "message": "Export failed: the computation exceeded the allowed memory.",
}
# Cycling precisions across fields and operations makes clients parse every form the service
# writes. Earth Engine writes 0, 3 or 6 digits (earthengine-api parses them with %f, which
# stops at 6); nanoseconds are for hostile-input tests only.
SERVICE_DIGITS = (0, 3, 6)
HOSTILE_DIGITS = (0, 3, 6, 9)
_ZEROS: tuple[Any, ...] = (0, 0.0, "", [], None)


@dataclass(frozen=True, slots=True)
class WireStyle:
    """How operations are written for one request: the calendar, the version, the precisions."""

    epoch_ns: int
    version: str = "v1"
    digits: tuple[int, ...] = SERVICE_DIGITS

    @property
    def metadata_type(self) -> str:
        return f"type.googleapis.com/google.earthengine.{self.version}.OperationMetadata"

    def time(self, clock_seconds: float, digits: int) -> str:
        return rfc3339(self.epoch_ns + round(clock_seconds * 1_000_000_000), digits)


@dataclass(slots=True)
class OpRecord:
    """Mutable only in its cancel fields, and only under the store's lock."""

    project: str
    op_id: str
    seq: int
    type: str
    description: str
    priority: int
    create_at: float
    start_at: float
    end_at: float
    outcome: str
    error: Mapping[str, Any]
    extra: Mapping[str, Any]
    omit: frozenset[str]
    script_uri: str | None
    destination_uris: tuple[str, ...]
    cancel_requested_at: float | None = None
    cancel_at: float | None = None
    deleted: bool = False
    name: str = field(init=False)
    # Newest first, as the service lists: later create time first, then later creation.
    order: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"projects/{self.project}/operations/{self.op_id}"
        self.order = (-round(self.create_at * 1_000_000_000), -self.seq)


@dataclass(frozen=True, slots=True)
class Phase:
    state: str
    done: bool
    started: bool
    ended_at: float | None
    progress: float
    updated_at: float


def _progress(op: OpRecord, at: float) -> float:
    if at <= op.start_at:
        return 0.0
    span = op.end_at - op.start_at
    return 1.0 if span <= 0 else min(1.0, (at - op.start_at) / span)


def _ended(op: OpRecord, state: str, at: float) -> Phase:
    progress = 1.0 if state == "SUCCEEDED" else min(0.99, _progress(op, at))
    return Phase(state, True, at > op.start_at or state == "SUCCEEDED", at, progress, at)


def phase_at(op: OpRecord, now: float) -> Phase:
    # A cancel only wins if it takes effect before the natural end: cancel is best effort.
    if op.cancel_at is not None and op.cancel_at <= now and op.cancel_at < op.end_at:
        return _ended(op, "CANCELLED", op.cancel_at)
    if now >= op.end_at:
        return _ended(op, op.outcome, op.end_at)
    started = now >= op.start_at
    if op.cancel_requested_at is not None:
        return Phase("CANCELLING", False, started, None, _progress(op, now), op.cancel_requested_at)
    if started:
        return Phase("RUNNING", False, True, None, _progress(op, now), now)
    return Phase("PENDING", False, False, None, 0.0, op.create_at)


def next_change(op: OpRecord, now: float) -> float | None:
    """Emulator time of the op's next state change after `now`, if any."""
    moments = [t for t in (op.start_at, op.end_at, op.cancel_at) if t is not None and t > now]
    return min(moments) if moments else None


def render(op: OpRecord, phase: Phase, style: WireStyle) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": op.name, "metadata": _metadata(op, phase, style)}
    if phase.done:
        wire["done"] = True
        if phase.state == "SUCCEEDED":
            wire["response"] = {"@type": EMPTY_TYPE}
        elif phase.state == "CANCELLED":
            wire["error"] = dict(CANCELLED_ERROR)
        else:
            wire["error"] = dict(op.error)
    return wire


def _metadata(op: OpRecord, phase: Phase, style: WireStyle) -> dict[str, Any]:
    cycle = style.digits
    digits = [cycle[(op.seq + i) % len(cycle)] for i in range(4)]
    meta: dict[str, Any] = {
        "@type": style.metadata_type,
        "state": phase.state,
        "description": op.description,
        "type": op.type,
        "priority": op.priority,
        "createTime": style.time(op.create_at, digits[0]),
        "updateTime": style.time(phase.updated_at, digits[1]),
    }
    if phase.started:
        meta["startTime"] = style.time(op.start_at, digits[2])
        meta["attempt"] = 1
    if phase.ended_at is not None:
        meta["endTime"] = style.time(phase.ended_at, digits[3])
    meta["progress"] = round(phase.progress, 4)
    if phase.started:
        meta["stages"] = _stages(op.type, phase.progress)
        meta["batchEecuUsageSeconds"] = round(phase.progress * (op.end_at - op.start_at) * 1.7, 3)
    if op.script_uri:
        meta["scriptUri"] = op.script_uri
    if op.destination_uris:
        meta["destinationUris"] = list(op.destination_uris)
    # proto3 JSON leaves out fields holding their zero value: progress 0, empty strings...
    meta = {key: value for key, value in meta.items() if value not in _ZEROS}
    meta.update(op.extra)
    for key in op.omit:
        meta.pop(key, None)
    return meta


def _stages(op_type: str, progress: float) -> list[dict[str, Any]]:
    if op_type.startswith("INGEST"):
        names = (("Ingest", "Ingestion of the asset."), ("Publish", "Publication of the asset."))
    else:
        names = (
            ("Create Local Files", "Computation and writing of temporary files."),
            ("Write Files to Destination", "Uploading of files to the export destination."),
        )
    stages = []
    for index, (display, description) in enumerate(names):
        share = min(1.0, max(0.0, progress * 2 - index))
        # totalWorkUnits is an int64, which proto3 JSON sends as a string; completeWorkUnits is not.
        stage: dict[str, Any] = {
            "displayName": display,
            "description": description,
            "completeWorkUnits": int(share * 100),
            "totalWorkUnits": "100",
        }
        if not stage["completeWorkUnits"]:
            del stage["completeWorkUnits"]  # proto3 JSON omits a zero
        stages.append(stage)
    return stages
