"""Argument checks shared by the client and its resources, all run before any network I/O.

Every function here either returns the checked (and normalised) value or raises a
:class:`~eemw.UsageError` subclass naming the argument. None of them reads the network,
the environment or a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ._errors import InvalidHeaderError, UsageError
from ._models import Operation, OperationName, State

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_WATCH_INTERVAL",
    "MAX_TIMEOUT",
    "check_endpoint",
    "check_poll",
    "check_timeout",
    "header_value",
    "is_int",
    "matcher",
    "operation_name",
    "operation_names",
    "states",
    "types",
]

DEFAULT_TIMEOUTS: Mapping[str, float] = MappingProxyType({
    "get": 60.0, "list": 60.0, "cancel": 60.0, "delete": 60.0, "wait": 600.0,
})
"""The default deadline of each kind of call, in seconds (``wait``: the whole wait).

A call of any other kind defaults to :data:`DEFAULT_TIMEOUT`."""

DEFAULT_TIMEOUT = 60.0

DEFAULT_WATCH_INTERVAL = 5.0
"""Seconds between two rounds of a watch: one page request per round for most projects."""

MAX_TIMEOUT = 864_000.0
"""The longest timeout accepted, in seconds: ten days, as long as a task lives."""
_HEADER_SAFE = frozenset(map(chr, range(0x20, 0x7F)))

NameLike = str | OperationName | Operation


def operation_name(name: NameLike, project: str | None) -> OperationName:
    """``name`` as a validated :class:`OperationName`; a bare id is taken within ``project``."""
    if isinstance(name, OperationName):
        return name
    if isinstance(name, Operation):
        return OperationName.parse(name.name)
    return OperationName.parse(name, project)


def operation_names(names: Iterable[NameLike], project: str | None) -> list[OperationName]:
    """Every name of a bulk call, validated up front: one bad name fails the whole call."""
    if isinstance(names, (str, bytes, OperationName, Operation)):
        raise UsageError("names must be a list of operation names, not a single name")
    if not isinstance(names, Iterable):
        raise UsageError(f"names must be a list of operation names, not {type(names).__name__}")
    return [operation_name(n, project) for n in names]


def check_timeout(timeout: float | None, default: float) -> float:
    """``timeout`` in seconds (``default`` for ``None``): a number in (0, ten days]."""
    if timeout is None:
        return default
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (0 < timeout <= MAX_TIMEOUT):
        raise UsageError(
            f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g} "
            f"(ten days, as long as a task lives), not {timeout!r}"
        )
    return float(timeout)


def check_poll(poll_interval: object, max_poll_interval: object) -> None:
    """Polling intervals: numbers with 0 < ``poll_interval`` <= ``max_poll_interval``."""
    for value in (poll_interval, max_poll_interval):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError("poll_interval and max_poll_interval must be numbers of seconds")
    assert isinstance(poll_interval, (int, float)) and isinstance(max_poll_interval, (int, float))
    if not (0 < poll_interval <= max_poll_interval <= MAX_TIMEOUT):
        raise UsageError("poll_interval must be > 0 and <= max_poll_interval")


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` reduced to ``scheme://host[:port]``; anything else is refused.

    Messages never quote a URL that carries credentials.
    """
    if not isinstance(endpoint, str):
        raise UsageError(f"endpoint must be a string URL, not {type(endpoint).__name__}")
    shown = _shown(endpoint)
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:
        raise UsageError(f"endpoint is not a valid URL: {shown}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"endpoint must be an http(s) URL, not {shown}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("endpoint must not carry credentials, a query or a fragment")
    if parts.path not in ("", "/"):
        raise UsageError(f"endpoint must be a scheme and host only, not {shown}")
    return f"{parts.scheme}://{parts.netloc}"


def _shown(endpoint: str) -> str:
    from ._redact import redact_url

    # A refused endpoint may still hold user:password@; the message must not.
    return repr(redact_url(endpoint)[:200])


def header_value(what: str, value: str | None) -> str | None:
    """``value`` if it is safe as a header value: printable ASCII, no line breaks."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or not set(value) <= _HEADER_SAFE:
        raise InvalidHeaderError(
            f"{what} must be non-empty printable ASCII without line breaks or control characters"
        )
    return value


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def states(state: State | str | Iterable[State | str] | None) -> frozenset[State] | None:
    """A ``state=`` filter as a set of :class:`State` (``None``: no filter)."""
    if state is None:
        return None
    items = [state] if isinstance(state, (str, State)) else _iterable("state", state)
    out = set()
    for item in items:
        try:
            out.add(State(item))
        except (ValueError, TypeError):
            raise UsageError(
                f"unknown state {item!r}: use one of {[s.value for s in State]}"
            ) from None
    return frozenset(out)


def types(kind: str | Iterable[str] | None) -> frozenset[str] | None:
    """A ``type=`` filter as a set of task type strings (``None``: no filter)."""
    if kind is None:
        return None
    kinds = [kind] if isinstance(kind, str) else _iterable("type", kind)
    if not all(isinstance(k, str) for k in kinds):
        raise UsageError(f"type must be a task type string or a list of them, not {kind!r}")
    return frozenset(kinds)


def _iterable(what: str, value: object) -> list[Any]:
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        return list(value)
    raise UsageError(f"{what} must be a string or a list of strings, not {value!r}")


def matcher(
    wanted_states: frozenset[State] | None, wanted_types: frozenset[str] | None
) -> Callable[[Operation], bool]:
    """A predicate keeping operations in one of ``wanted_states`` and of ``wanted_types``."""

    def keep(op: Operation) -> bool:
        if wanted_states is not None and op.state not in wanted_states:
            return False
        return wanted_types is None or op.metadata.type in wanted_types

    return keep
