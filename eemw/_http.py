"""Frozen request and response values, and the typed context that rides on a request.

A middleware never edits what it was given: every ``with_*`` method returns a new value.
The copies are shallow and cheap (headers are a small dict copied once per change), which
keeps the per-call cost of a stage to a few hundred nanoseconds.
"""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, Mapping
from typing import Any, Generic, Literal, TypeVar

from ._redact import redact_url
from ._value import frozen

__all__ = [
    "Call",
    "CallKind",
    "Context",
    "ContextKey",
    "Headers",
    "PartlyDecoded",
    "Repeat",
    "Request",
    "Response",
]

T = TypeVar("T")

CallKind = Literal["get", "list", "cancel", "delete", "wait"]
"""The kinds of call of the operations resource (``Call.kind`` when ``resource`` is
``"operations"``); other resources name their own kinds."""

Repeat = Literal["safe", "reconcile", "unsafe"]
"""Whether a call may be sent again after an attempt that may have reached the server:
``"safe"`` (a read, or a change that is the same done twice), ``"reconcile"`` (a change
whose second answer can be checked against the server's state, e.g. cancel, delete), or
``"unsafe"`` (a create without a request id)."""

# The operations resource's calls: reads and wait repeat safely; cancel and delete are
# checked against the server's state when a repeat's answer says "already done/gone".
_OPERATIONS_REPEAT: Mapping[str, Repeat] = {
    "get": "safe", "list": "safe", "wait": "safe", "cancel": "reconcile", "delete": "reconcile",
}
_MUTATING = frozenset({"cancel", "delete"})


class Headers(Mapping[str, str]):
    """An immutable, case-insensitive header mapping.

    Keys are stored lower-cased (HTTP header names are case-insensitive), so lookups are a
    single dict access. ``set`` and ``merge`` return new ``Headers``.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = (
            {k.lower(): v for k, v in items.items()} if items else {}
        )

    @classmethod
    def _of(cls, lowered: dict[str, str]) -> Headers:
        # Skips re-lowering when the caller already owns a lower-cased dict.
        new = cls.__new__(cls)
        new._items = lowered
        return new

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def set(self, name: str, value: str) -> Headers:
        """Return a copy with ``name`` set to ``value``."""
        items = self._items.copy()
        items[name.lower()] = value
        return Headers._of(items)

    def merge(self, other: Mapping[str, str]) -> Headers:
        """Return a copy with every header of ``other`` set."""
        items = self._items.copy()
        for k, v in other.items():
            items[k.lower()] = v
        return Headers._of(items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Header values may hold credentials; a repr shows names only.
        return f"Headers({sorted(self._items)!r})"


class ContextKey(Generic[T]):
    """A typed key for a value carried on :attr:`Request.context`.

    Keys compare by identity, so two libraries can both define a ``"deadline"`` key
    without clashing. The ``default`` is returned when a context has no value for it.
    """

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: T) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"ContextKey({self.name!r})"


class Context:
    """An immutable mapping from :class:`ContextKey` to values; ``set`` returns a copy."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[ContextKey[Any], Any] | None = None) -> None:
        self._values: dict[ContextKey[Any], Any] = dict(values) if values else {}

    def get(self, key: ContextKey[T]) -> T:
        value: T = self._values.get(key, key.default)
        return value

    def set(self, key: ContextKey[T], value: T) -> Context:
        new = Context.__new__(Context)
        new._values = self._values.copy()
        new._values[key] = value
        return new

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def items(self) -> ItemsView[ContextKey[Any], Any]:
        """Every key set on this context and its value."""
        return self._values.items()

    def __repr__(self) -> str:
        return f"Context({sorted(k.name for k in self._values)!r})"


_EMPTY_CONTEXT = Context()


@frozen
class Call:
    """The logical call a request belongs to: what every attempt of it shares.

    ``kind`` names the call within its ``resource`` (for operations a :data:`CallKind`;
    ``label`` joins the two, e.g. ``operations.cancel``). ``name`` is the full operation
    name for get/cancel/delete/wait and ``None`` for list. ``repeat`` and ``mutates``
    default to the operations resource's table for its kinds (and to ``"unsafe"`` and
    ``True`` for any other kind, the cautious choice); other resources set them.
    """

    kind: str
    project: str
    api_version: str
    name: str | None = None
    resource: str = "operations"
    repeat: Repeat | None = None
    mutates: bool | None = None

    def __init__(
        self,
        kind: str,
        project: str,
        api_version: str,
        name: str | None = None,
        resource: str = "operations",
        repeat: Repeat | None = None,
        mutates: bool | None = None,
    ) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "project", project)
        object.__setattr__(self, "api_version", api_version)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "repeat", repeat)
        object.__setattr__(self, "mutates", mutates)

    @property
    def repeat_policy(self) -> Repeat:
        """:data:`Repeat` for this call (set, or from the operations table)."""
        if self.repeat is not None:
            return self.repeat
        if self.resource == "operations":
            return _OPERATIONS_REPEAT.get(self.kind, "unsafe")
        return "unsafe"

    @property
    def safe_to_repeat(self) -> bool:
        """True when sending the call twice has the same effect as sending it once."""
        return self.repeat_policy == "safe"

    @property
    def mutating(self) -> bool:
        """True for calls that change server state (cancel, delete, creates)."""
        if self.mutates is not None:
            return self.mutates
        return self.kind in _MUTATING if self.resource == "operations" else True

    @property
    def label(self) -> str:
        """The call's public name, e.g. ``operations.cancel``."""
        return f"{self.resource}.{self.kind}"


@frozen
class Request:
    """One HTTP request as it travels down the stack.

    ``timeout`` is this attempt's total timeout in seconds (``None``: no limit); the retry
    stage shrinks it to the time left before the call's deadline.
    """

    method: str
    url: str
    headers: Headers
    call: Call
    body: bytes | None = None
    timeout: float | None = None
    context: Context = _EMPTY_CONTEXT

    def __init__(
        self,
        method: str,
        url: str,
        headers: Headers,
        call: Call,
        body: bytes | None = None,
        timeout: float | None = None,
        context: Context = _EMPTY_CONTEXT,
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "call", call)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "context", context)

    def with_header(self, name: str, value: str) -> Request:
        return Request(
            self.method, self.url, self.headers.set(name, value), self.call,
            self.body, self.timeout, self.context,
        )

    def with_headers(self, headers: Mapping[str, str]) -> Request:
        return Request(
            self.method, self.url, self.headers.merge(headers), self.call,
            self.body, self.timeout, self.context,
        )

    def with_timeout(self, timeout: float | None) -> Request:
        return Request(
            self.method, self.url, self.headers, self.call, self.body, timeout, self.context
        )

    def with_context(self, key: ContextKey[T], value: T) -> Request:
        return Request(
            self.method, self.url, self.headers, self.call, self.body, self.timeout,
            self.context.set(key, value),
        )

    def __repr__(self) -> str:
        # Never show header values, the body or URL credentials: they may be secrets.
        return f"<Request {self.method} {redact_url(self.url)} call={self.call.label}>"


_UNPARSED: Any = object()


class PartlyDecoded:
    """What a stage may leave in :attr:`Response.data` that is not the body's JSON value.

    eemw's check stage leaves one for an ``operations.list`` page it cut into its
    operations without decoding them; :meth:`Response.json` decodes the body instead.
    """

    __slots__ = ()


@frozen
class Response:
    """One HTTP response.

    ``truncated`` is true when the body was longer than the transport's cap and ``body``
    holds only its first part. ``data`` is what a stage made of ``body``: its JSON value,
    or a partial reading of it (an ``operations.list`` page that eemw cut into its
    operations without decoding them). :meth:`json` is always the JSON value.
    """

    status: int
    headers: Headers
    body: bytes
    request: Request
    truncated: bool = False
    data: Any = _UNPARSED

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        request: Request,
        truncated: bool = False,
        data: Any = _UNPARSED,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "truncated", truncated)
        object.__setattr__(self, "data", data)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON (the value a stage already parsed, when there is one)."""
        data = self.data
        if data is _UNPARSED or isinstance(data, PartlyDecoded):
            return json.loads(self.body)
        return data

    def with_data(self, data: Any) -> Response:
        return Response(self.status, self.headers, self.body, self.request, self.truncated, data)

    def __repr__(self) -> str:
        request = self.request
        return f"<Response {self.status} for {request.method} {redact_url(request.url)}>"
