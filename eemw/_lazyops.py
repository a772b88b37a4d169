"""Operations made for a list page, whose fields are built when first read.

Listing a big project yields thousands of operations that callers often only count,
filter by name or pass on; decoding each one's JSON, let alone building its typed
metadata, costs far more than that. An operation made by :func:`lazy_operation` keeps
its wire mapping, and one made by :func:`listed_operation` only its JSON text; either
builds ``done``, ``metadata``, ``error``, ``response`` and ``raw`` on first access
(decoding the text first), through descriptors that wrap the slots the dataclass made.
The values users see are the same as :meth:`Operation.from_wire`'s: the fields,
equality, hashing, repr, pickling and ``dataclasses.replace()`` all read through the same
descriptors, so they build whatever they touch first; ``state`` reads only the metadata's
``state`` while the metadata is unbuilt. The descriptors are installed when
this module is imported, which every maker of such operations does first; an operation
that never held a pending field reads through them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._models import Operation, OperationMetadata, State, Status, _map

__all__ = ["lazy_operation", "listed_operation"]


class _OnDemand:
    """A data descriptor over one slot of :class:`Operation`, building it on first read.

    The ``raw`` slot holds the operation's source: its JSON text (bytes) until first read,
    then the decoded mapping. Every other lazy slot starts unset and is built from it.
    """

    __slots__ = ("_build", "_slot")

    def __init__(self, slot: Any, build: Callable[[Mapping[str, Any]], object]) -> None:
        self._slot = slot
        self._build = build

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return self._slot.__get__(obj, owner)
        except AttributeError:
            # Two threads may both build it: the results are equal, either may stay.
            value = self._build(_RAW.__get__(obj, owner))
            self._slot.__set__(obj, value)
            return value

    def __set__(self, obj: object, value: object) -> None:
        self._slot.__set__(obj, value)


class _Source:
    """The descriptor over the ``raw`` slot: decodes the operation's text on first read."""

    __slots__ = ("_slot",)

    def __init__(self, slot: Any) -> None:
        self._slot = slot

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self._slot.__get__(obj, owner)
        if type(value) is bytes:
            from ._pagesplit import operation_json

            # The mapping came straight from the decoder and nobody else holds it: no copy.
            value = MappingProxyType(operation_json(obj.name, value))
            self._slot.__set__(obj, value)
        return value

    def __set__(self, obj: object, value: object) -> None:
        self._slot.__set__(obj, value)


def _response(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    response = data.get("response")
    return _map(response) if isinstance(response, dict) else None


_RAW = _Source(Operation.__dict__["raw"])
setattr(Operation, "raw", _RAW)  # noqa: B010  # mypy refuses a plain assignment over a slot
for _field, _build in (
    ("done", lambda d: d.get("done") is True),
    ("metadata", lambda d: OperationMetadata.from_wire(d.get("metadata"))),
    ("error", lambda d: Status.from_wire(d.get("error"))),
    ("response", _response),
):
    setattr(Operation, _field, _OnDemand(Operation.__dict__[_field], _build))

_METADATA_SLOT = Operation.__dict__["metadata"]._slot


def _state(op: Operation) -> State:
    """``op.state``, reading only the metadata's ``state`` while the metadata is unbuilt."""
    try:
        metadata = _METADATA_SLOT.__get__(op, Operation)
    except AttributeError:
        # Reading the state of every listed operation is common (a filter, a summary);
        # building the whole metadata for it would cost several times the decode.
        wire = _RAW.__get__(op, Operation).get("metadata")
        unset = State.STATE_UNSPECIFIED
        return op._settled(State.parse(wire.get("state")) if isinstance(wire, dict) else unset)
    return op._settled(metadata.state)


setattr(Operation, "state", property(_state, doc=Operation.state.__doc__))  # noqa: B010

# The slots' own setters, bound once: the functions below run for every listed operation.
_SET_NAME = Operation.__dict__["name"].__set__
_SET_DONE = Operation.__dict__["done"]._slot.__set__
_SET_RAW = _RAW._slot.__set__


def lazy_operation(data: dict[str, Any]) -> Operation:
    """An :class:`Operation` whose metadata, error, response and raw are built on first use.

    ``data`` MUST be a mapping the caller owns and never changes afterwards (one just
    decoded from a response body): it is kept, not copied. ``name`` and ``done`` are read
    at once, as :meth:`Operation.from_wire` reads them.
    """
    op: Operation = object.__new__(Operation)
    name = data.get("name")
    _SET_NAME(op, name if isinstance(name, str) else "")
    _SET_DONE(op, data.get("done") is True)
    _SET_RAW(op, MappingProxyType(data))
    return op


def listed_operation(name: str, text: bytes) -> Operation:
    """An :class:`Operation` named ``name`` whose every other field waits for first use.

    ``text`` MUST be the operation's JSON as :func:`eemw._pagesplit.split_page` cut it, and
    ``name`` the name it starts with: nothing else is read until a field is. A ``text``
    that is not valid JSON, or that names another operation too, raises
    :class:`~eemw.MalformedResponseError` on that read.
    """
    op: Operation = object.__new__(Operation)
    _SET_NAME(op, name)
    _SET_RAW(op, text)
    return op
