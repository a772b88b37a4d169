"""The middleware pipeline: ``Middleware``, ``Handler``, and the two-phase ``Stack``.

A middleware is any callable ``(request, call_next) -> Response``. The stack has two
phases split by the retry stage::

    call phase (once per logical call)      attempt phase (once per HTTP attempt)
    tracing → idempotency → [call] → retry → auth → [attempt] → check → transport

The first entry is the outermost. An entry without an anchor goes at the end of its phase,
in front of that phase's *closing* entry (``retry`` for the call phase, ``check`` for the
attempt phase), which is where the diagram puts plugins. ``before=`` / ``after=`` place an
entry next to a named one; the anchor must exist and be in the same phase.

A :class:`Stack` is an immutable description; :meth:`Stack.build` resolves it once into a
:class:`Pipeline`, a frozen chain of handlers that is safe to call from many threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from ._errors import EemwError, PluginError, UsageError
from ._http import Request, Response

__all__ = ["Entry", "Handler", "Middleware", "Phase", "Pipeline", "Stack", "StackError"]

Phase = Literal["call", "attempt"]
_PHASES: tuple[Phase, ...] = ("call", "attempt")

Handler = Callable[[Request], Response]
"""Sends a request down the rest of the stack and returns its response."""


class Middleware(Protocol):
    """One stage of the pipeline.

    A middleware MUST return a :class:`Response` or raise an :class:`EemwError`. It MUST
    NOT mutate the request it is given (requests are frozen; use ``request.with_*``), and
    MUST NOT keep per-call state on itself: one instance serves many threads and stacks.
    It MAY call ``call_next`` zero times (short-circuit), once, or several times (retry).
    """

    def __call__(self, request: Request, call_next: Handler, /) -> Response: ...


class StackError(UsageError):
    """A stack cannot be built: a duplicate name, a missing anchor, or a bad phase."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A named middleware and its placement. ``plugin`` names the distribution, if any."""

    name: str
    middleware: Middleware
    phase: Phase
    before: str | None = None
    after: str | None = None
    closing: bool = False
    plugin: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise StackError("a stack entry needs a non-empty name")
        if self.phase not in _PHASES:
            raise StackError(f"entry {self.name!r}: phase must be 'call' or 'attempt'")
        if self.before is not None and self.after is not None:
            raise StackError(f"entry {self.name!r}: give before= or after=, not both")
        if not callable(self.middleware):
            raise StackError(f"entry {self.name!r}: middleware must be callable")

    @property
    def origin(self) -> str:
        """Where the stage comes from: ``plugin from <dist>``, or its middleware's path."""
        return f"plugin from {self.plugin}" if self.plugin else _origin(self.middleware)


def _fits(entries: list[Entry], position: int, phase: Phase) -> bool:
    """Whether ``position`` lies inside ``phase``: call entries never follow the call phase's
    closing stage (they would run once per attempt), attempt entries never precede a call one.
    """
    before = entries[position - 1] if position > 0 else None
    after = entries[position] if position < len(entries) else None
    if phase == "call":
        return before is None or (before.phase == "call" and not before.closing)
    return after is None or after.phase == "attempt"


class Stack:
    """An immutable, ordered description of a pipeline. ``add`` returns a new stack."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: tuple[Entry, ...] = ()
        for entry in entries:
            self._entries = self._with(entry)

    def add(
        self,
        middleware: Middleware,
        *,
        name: str,
        phase: Phase = "attempt",
        before: str | None = None,
        after: str | None = None,
    ) -> Stack:
        """A copy with ``middleware`` placed by phase and, optionally, next to a named entry.

        Raises :class:`StackError` at once for a duplicate name, a missing anchor or an
        anchor in the other phase, so nothing is ever silently dropped.
        """
        return self.add_entry(Entry(name, middleware, phase, before, after))

    def add_entry(self, entry: Entry) -> Stack:
        new = Stack.__new__(Stack)
        new._entries = self._with(entry)
        return new

    def _with(self, entry: Entry) -> tuple[Entry, ...]:
        entries = list(self._entries)
        if any(e.name == entry.name for e in entries):
            raise StackError(f"duplicate stage name {entry.name!r} in {self.names()}")
        entries.insert(self._slot(entries, entry), entry)
        return tuple(entries)

    def _slot(self, entries: list[Entry], entry: Entry) -> int:
        anchor = entry.before or entry.after
        if anchor is not None:
            index = next((i for i, e in enumerate(entries) if e.name == anchor), None)
            if index is None:
                raise StackError(
                    f"stage {entry.name!r} is placed relative to {anchor!r}, which is not in "
                    f"the stack {self.names()}"
                )
            position = index if entry.before else index + 1
            if not _fits(entries, position, entry.phase):
                where = "before" if entry.before else "after"
                raise StackError(
                    f"stage {entry.name!r} ({entry.phase} phase) cannot go {where} {anchor!r}: "
                    f"that place is outside the {entry.phase} phase (the call phase ends at "
                    "its closing stage, 'retry' by default)"
                )
            return position
        same = [i for i, e in enumerate(entries) if e.phase == entry.phase]
        closing = [i for i in same if entries[i].closing]
        if closing:
            return closing[0]
        if same:
            return same[-1] + 1
        # The call phase comes first: an empty call phase starts at 0.
        return 0 if entry.phase == "call" else len(entries)

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The resolved order, outermost first."""
        return self._entries

    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def without(self, name: str) -> Stack:
        """A copy without the named entry (raises :class:`StackError` if it is absent)."""
        if name not in self.names():
            raise StackError(f"no stage named {name!r} in {self.names()}")
        new = Stack.__new__(Stack)
        new._entries = tuple(e for e in self._entries if e.name != name)
        return new

    def describe(self) -> str:
        """The resolved order as text, one stage per line, outermost first."""
        return _describe(self._entries)

    def build(self, transport: Handler) -> Pipeline:
        """Resolve the stack around ``transport`` into a frozen, thread-safe pipeline."""
        handler = transport
        for entry in reversed(self._entries):
            handler = _link(entry, handler)
        return Pipeline(handler, self._entries)

    def __repr__(self) -> str:
        return f"Stack({self.names()!r})"


def _describe(entries: tuple[Entry, ...]) -> str:
    width = max((len(e.name) for e in entries), default=9)
    lines = []
    for i, e in enumerate(entries, 1):
        lines.append(f"{i:>2}. {e.name:<{width}}  {e.phase:<7}  {e.origin}")
    lines.append(f"    {'transport':<{width}}  {'':<7}  sends the request")
    return "\n".join(lines)


def _origin(middleware: object) -> str:
    kind = middleware if isinstance(middleware, type) else type(middleware)
    if kind.__name__ == "function":
        kind_name = getattr(middleware, "__qualname__", "function")
        return f"{getattr(middleware, '__module__', '?')}.{kind_name}"
    return f"{kind.__module__}.{kind.__qualname__}"


def _link(entry: Entry, call_next: Handler) -> Handler:
    # Built once per stack, so a call pays one closure call per stage and nothing else.
    middleware = entry.middleware
    if entry.plugin is None:

        def handler(request: Request) -> Response:
            return middleware(request, call_next)

        return handler
    return _guarded(entry, call_next)


def _guarded(entry: Entry, call_next: Handler) -> Handler:
    middleware, name, dist = entry.middleware, entry.name, entry.plugin

    def handler(request: Request) -> Response:
        # Errors raised further down the stack pass through the plugin's frame too; they
        # are recorded here so they are re-raised as they are, not blamed on the plugin.
        passed_up: list[BaseException] = []

        def next_stage(req: Request) -> Response:
            try:
                return call_next(req)
            except BaseException as exc:
                passed_up.append(exc)
                raise

        try:
            response = middleware(request, next_stage)
        except EemwError as exc:
            if exc.plugin is None and not any(exc is seen for seen in passed_up):
                _blame(exc, name, dist)
            raise
        except Exception as exc:
            if any(exc is seen for seen in passed_up):
                raise
            raise PluginError(
                f"plugin {name!r} (from {dist}) raised {type(exc).__name__} while handling "
                f"{request.call.label}: {exc}",
                plugin=name,
                distribution=dist,
            ) from exc
        if not isinstance(response, Response):
            raise PluginError(
                f"plugin {name!r} (from {dist}) returned {type(response).__name__} instead of "
                f"an eemw.Response while handling {request.call.label}",
                plugin=name,
                distribution=dist,
            )
        return response

    return handler


def _blame(error: EemwError, plugin: str, distribution: str | None) -> None:
    """Name the plugin on a typed error it raised itself (its own, not one from below)."""
    error.plugin = plugin
    error.distribution = distribution
    add_note = getattr(error, "add_note", None)  # Python 3.11+
    if add_note is not None:
        add_note(f"raised by plugin {plugin!r} (from {distribution})")


class Pipeline:
    """A built stack: call it with a request to run every stage and the transport."""

    __slots__ = ("_entries", "_handler")

    def __init__(self, handler: Handler, entries: tuple[Entry, ...]) -> None:
        self._handler = handler
        self._entries = entries

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The resolved order, outermost first (read-only: a pipeline is frozen)."""
        return self._entries

    def __call__(self, request: Request) -> Response:
        return self._handler(request)

    def describe(self) -> str:
        return _describe(self._entries)
