"""Operation values parsed tolerantly from the wire, and operation names.

Parsing never rejects an operation for a missing or unknown field: every field may be
absent, values of the wrong type read as absent, and the full wire mapping is kept in
``raw`` so nothing the server sent is lost. Operations made for a list page build their
typed fields on first access (:mod:`eemw._lazyops`).

:class:`OperationName` lives in :mod:`eemw._names` and is re-exported here.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import field, fields
from datetime import datetime, timedelta, timezone
from enum import Enum
from types import MappingProxyType
from typing import Any

from ._errors import MalformedResponseError
from ._names import OperationName, collection_path, is_operation_name
from ._value import frozen

__all__ = [
    "Notification",
    "Operation",
    "OperationMetadata",
    "OperationName",
    "OperationStage",
    "State",
    "Status",
    "collection_path",
    "is_operation_name",
    "parse_duration",
    "parse_timestamp",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# re.ASCII: without it \d also matches other scripts' digits, which int() would accept.
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_DURATION = re.compile(r"(\d{1,12}(?:\.\d{0,9})?)s", re.ASCII)
_INTEGER = re.compile(r"-?\d{1,20}", re.ASCII)
_NUMBER = re.compile(r"-?\d{1,400}(?:\.\d{1,400})?(?:[eE][+-]?\d{1,4})?", re.ASCII)
_INT64 = range(-(2**63), 2**63)


def parse_timestamp(text: object) -> datetime | None:
    """An RFC 3339 timestamp (0 to 9 fractional digits) as an aware datetime, else None.

    Digits past microseconds are truncated: Python datetimes stop at microseconds.
    """
    if not isinstance(text, str):
        return None
    if _FAST_ISO and len(text) in _ZULU_LENGTHS and _zulu_shape(text):
        # Google's own form, "…T…Z" with 0/3/6/9 digits: the C parser is ten times faster.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    try:
        # Inside the try: an offset of 24h or more is as invalid as a 13th month.
        tz = timezone.utc if zone in ("Z", "z") else _offset(zone)
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
    except ValueError:
        return None


# Python 3.11's fromisoformat reads "Z" and up to 9 fractional digits; 3.10's does not.
_FAST_ISO = sys.version_info >= (3, 11)
_ZULU_LENGTHS = frozenset({20, 24, 27, 30})


def _zulu_shape(text: str) -> bool:
    # The separators pin the calendar form (no week or ordinal dates); fromisoformat checks
    # the digits, and anything it rejects is invalid in RFC 3339 too.
    return (
        text[-1] == "Z" and text[4] == "-" and text[7] == "-" and text[10] == "T"
        and text[13] == ":" and text[16] == ":" and (len(text) == 20 or text[19] == ".")
        and text.isascii()
    )


def _offset(zone: str) -> timezone:
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59:
        raise ValueError(zone)
    sign = 1 if zone[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_duration(text: object) -> float | None:
    """A google.protobuf.Duration in JSON form (``"2.5s"``) as seconds, else None."""
    if not isinstance(text, str):
        return None
    m = _DURATION.fullmatch(text.strip())
    return float(m.group(1)) if m else None


class State(str, Enum):
    """The state of an Earth Engine operation (``metadata.state``)."""

    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @classmethod
    def parse(cls, value: object) -> State:
        """The state for a wire value; anything unknown is ``STATE_UNSPECIFIED``."""
        try:
            return cls(value)
        except ValueError:
            return cls.STATE_UNSPECIFIED

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({State.SUCCEEDED, State.CANCELLED, State.FAILED})


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: object) -> float | None:
    """A finite JSON number, or a number sent as a string (proto3 JSON does that)."""
    if isinstance(value, str):
        # Strict: float() alone would also take "nan", " 1 ", "1_000" and non-ASCII digits.
        if not _NUMBER.fullmatch(value):
            return None
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    n = float(value)
    return n if math.isfinite(n) else None


def _int(value: object) -> int | None:
    """An int64, as a JSON number with no fraction or as a string (proto3 JSON int64)."""
    if isinstance(value, str):
        # Parsed exactly: through float, ids past 2**53 would silently change.
        n = int(value) if _INTEGER.fullmatch(value) else None
    elif isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        n = None
    return n if n is not None and n in _INT64 else None


def _reduce(value: Any) -> tuple[Any, ...]:
    # mappingproxy cannot be pickled or deep-copied: send plain dicts, wrap them again.
    return (_rebuild, (type(value), tuple(_thaw(getattr(value, f.name)) for f in fields(value))))


def _thaw(value: object) -> object:
    if isinstance(value, MappingProxyType):
        return dict(value)
    if isinstance(value, tuple):
        return tuple(_thaw(v) for v in value)
    return value


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return MappingProxyType(value)
    if isinstance(value, tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _rebuild(cls: type[Any], values: tuple[Any, ...]) -> Any:
    return cls(*(_freeze(v) for v in values))


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: object) -> Mapping[str, Any]:
    # A copy, so changing the parsed JSON afterwards cannot change a frozen value.
    return MappingProxyType(dict(value)) if isinstance(value, dict) else _EMPTY


@frozen
class Status:
    """A ``google.rpc.Status``: the error of a finished operation."""

    code: int = 0
    message: str = ""
    # Left out of the hash (mappings are unhashable), so every Status stays hashable.
    details: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)

    def __init__(
        self, code: int = 0, message: str = "", details: tuple[Mapping[str, Any], ...] = ()
    ) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "details", details)

    @classmethod
    def from_wire(cls, data: object) -> Status | None:
        if not isinstance(data, dict):
            return None
        details = tuple(_map(d) for d in _list(data.get("details")) if isinstance(d, dict))
        return cls(_int(data.get("code")) or 0, _str(data.get("message")) or "", details)

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)


@frozen
class OperationStage:
    """One stage of a task's progress (``metadata.stages[]``); not a middleware stage."""

    display_name: str | None = None
    description: str | None = None
    complete_work_units: int | None = None
    total_work_units: int | None = None

    def __init__(
        self,
        display_name: str | None = None,
        description: str | None = None,
        complete_work_units: int | None = None,
        total_work_units: int | None = None,
    ) -> None:
        object.__setattr__(self, "display_name", display_name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "complete_work_units", complete_work_units)
        object.__setattr__(self, "total_work_units", total_work_units)


@frozen
class Notification:
    """A notice attached to a task (``metadata.notifications[]``)."""

    severity: str | None = None
    topic: str | None = None
    detail: str | None = None

    def __init__(
        self, severity: str | None = None, topic: str | None = None, detail: str | None = None
    ) -> None:
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "detail", detail)


@frozen
class OperationMetadata:
    """Earth Engine's ``OperationMetadata``. ``raw`` keeps every field, known or not."""

    state: State = State.STATE_UNSPECIFIED
    description: str | None = None
    type: str | None = None
    priority: int = 100
    create_time: datetime | None = None
    update_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    progress: float | None = None
    stages: tuple[OperationStage, ...] = ()
    attempt: int | None = None
    script_uri: str | None = None
    destination_uris: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()
    batch_eecu_usage_seconds: float | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)

    def __init__(
        self,
        state: State = State.STATE_UNSPECIFIED,
        description: str | None = None,
        type: str | None = None,
        priority: int = 100,
        create_time: datetime | None = None,
        update_time: datetime | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        progress: float | None = None,
        stages: tuple[OperationStage, ...] = (),
        attempt: int | None = None,
        script_uri: str | None = None,
        destination_uris: tuple[str, ...] = (),
        notifications: tuple[Notification, ...] = (),
        batch_eecu_usage_seconds: float | None = None,
        raw: Mapping[str, Any] = _EMPTY,
    ) -> None:
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "create_time", create_time)
        object.__setattr__(self, "update_time", update_time)
        object.__setattr__(self, "start_time", start_time)
        object.__setattr__(self, "end_time", end_time)
        object.__setattr__(self, "progress", progress)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "attempt", attempt)
        object.__setattr__(self, "script_uri", script_uri)
        object.__setattr__(self, "destination_uris", destination_uris)
        object.__setattr__(self, "notifications", notifications)
        object.__setattr__(self, "batch_eecu_usage_seconds", batch_eecu_usage_seconds)
        object.__setattr__(self, "raw", raw)

    @classmethod
    def from_wire(cls, data: object) -> OperationMetadata:
        if not isinstance(data, dict):
            return cls()
        g = data.get
        priority = _int(g("priority"))
        return cls(
            state=State.parse(g("state")),
            description=_str(g("description")),
            type=_str(g("type")),
            priority=100 if priority is None else priority,
            create_time=parse_timestamp(g("createTime")),
            update_time=parse_timestamp(g("updateTime")),
            start_time=parse_timestamp(g("startTime")),
            end_time=parse_timestamp(g("endTime")),
            progress=_num(g("progress")),
            stages=tuple(_stage(s) for s in _list(g("stages")) if isinstance(s, dict)),
            attempt=_int(g("attempt")),
            script_uri=_str(g("scriptUri")),
            destination_uris=tuple(u for u in _list(g("destinationUris")) if isinstance(u, str)),
            notifications=tuple(
                _notification(n) for n in _list(g("notifications")) if isinstance(n, dict)
            ),
            batch_eecu_usage_seconds=_num(g("batchEecuUsageSeconds")),
            raw=_map(data),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)


_NO_METADATA = OperationMetadata()


def _stage(d: dict[str, Any]) -> OperationStage:
    return OperationStage(
        _str(d.get("displayName")),
        _str(d.get("description")),
        _int(d.get("completeWorkUnits")),
        _int(d.get("totalWorkUnits")),
    )


def _notification(d: dict[str, Any]) -> Notification:
    return Notification(_str(d.get("severity")), _str(d.get("topic")), _str(d.get("detail")))


@frozen
class Operation:
    """A long-running operation (an Earth Engine task).

    ``done`` says whether it finished; ``error`` is set when it finished with an error
    (``code == 1`` means it was cancelled) and ``response`` when it succeeded.

    Operations are frozen, hashable, and survive ``pickle`` and ``copy.deepcopy``.
    Equality and hashing ignore ``raw``.
    """

    name: str
    metadata: OperationMetadata = _NO_METADATA
    done: bool = False
    error: Status | None = None
    response: Mapping[str, Any] | None = field(default=None, hash=False)
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False, compare=False)

    def __init__(
        self,
        name: str,
        metadata: OperationMetadata = _NO_METADATA,
        done: bool = False,
        error: Status | None = None,
        response: Mapping[str, Any] | None = None,
        raw: Mapping[str, Any] = _EMPTY,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "metadata", metadata)
        object.__setattr__(self, "done", done)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "raw", raw)

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Operation:
        """Parse a wire Operation; a ``name`` that is not a string reads as ``""``."""
        response = data.get("response")
        return cls(
            name=_str(data.get("name")) or "",
            metadata=OperationMetadata.from_wire(data.get("metadata")),
            done=data.get("done") is True,
            error=Status.from_wire(data.get("error")),
            response=_map(response) if isinstance(response, dict) else None,
            raw=MappingProxyType(dict(data)),
        )

    def __repr__(self) -> str:
        # The generated repr prints metadata in full: far too long for a log line.
        try:
            text = f"Operation(name={self.name!r}, state={self.state.name}, done={self.done}"
            if self.error is not None:
                text += f", error={self.error.code}"
        except MalformedResponseError:
            # A listed operation whose JSON is corrupt: a log line or a debugger must not
            # fail on it; reading its fields raises.
            return f"Operation(name={self.name!r}, <not valid JSON>)"
        return text + ")"

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self)

    @property
    def state(self) -> State:
        """The task state; derived from ``done``/``error`` when the metadata has none."""
        return self._settled(self.metadata.state)

    def _settled(self, state: State) -> State:
        # The metadata's state, else the one done and error imply (eemw._lazyops reads
        # the metadata's state without building the metadata, then comes here).
        if state is not State.STATE_UNSPECIFIED or not self.done:
            return state
        if self.error is None:
            return State.SUCCEEDED
        return State.CANCELLED if self.error.code == 1 else State.FAILED

    @property
    def cancelled(self) -> bool:
        return self.state is State.CANCELLED

    @property
    def succeeded(self) -> bool:
        return self.state is State.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.state is State.FAILED

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def project(self) -> str:
        parts = self.name.split("/")
        return parts[1] if len(parts) > 1 else ""
