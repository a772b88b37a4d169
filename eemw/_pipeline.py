"""The middleware pipeline: ``Middleware``, ``Handler``, the two-phase ``Stack`` and its
built form, the ``Pipeline``.

A middleware is any callable ``(request, call_next) -> Response``. The stack has two
phases split by the retry stage::

    call phase (once per logical call)      attempt phase (once per pass of retry)
    tracing → idempotency → [call] → retry → auth → [attempt] → check → http-tracing → transport

The first entry is the outermost. The built-in ``retry`` and ``check`` stages *close*
their phase: an entry without an anchor goes at the end of its phase, in front of that
phase's closing stage, which is where the diagram puts plugins. ``before=`` / ``after=``
place an entry next to a named one; the anchor must exist and be in the same phase.

A :class:`Stack` is an immutable description: ``add``, ``replace`` and ``without`` return
new stacks. :meth:`Stack.build` resolves it once around a transport into a
:class:`Pipeline`, a frozen chain of handlers that is safe to call from many threads.

Every stage that is not one of eemw's own stage classes (an inline stage, a replacement,
a plugin) is guarded: an exception other than an :class:`~eemw.EemwError` that escapes it
becomes a :class:`MiddlewareError` (a :class:`~eemw.PluginError` for a plugin) naming the
stage, and so does returning something that is not a :class:`Response`. Errors that merely
pass through a stage on their way up are never blamed on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol, runtime_checkable

from ._errors import EemwError, PluginError, UsageError
from ._http import Request, Response
from ._value import frozen

__all__ = [
    "Closeable",
    "Entry",
    "Handler",
    "Middleware",
    "MiddlewareError",
    "Phase",
    "Pipeline",
    "Stack",
    "StackError",
    "as_entry",
]

Phase = Literal["call", "attempt"]
"""Where a stage runs: ``"call"`` (once per logical call) or ``"attempt"`` (once per HTTP send)."""
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


@runtime_checkable
class Closeable(Protocol):
    """A stage that holds a resource (a file, a pool, a thread) and releases it on ``close``.

    ``close`` MUST release what the stage holds, MUST be safe to call more than once, and
    SHOULD NOT raise. :meth:`eemw.Client.close` calls it on the stages the client created
    (the built-in ones and those of plugins), innermost first.
    """

    def close(self) -> None: ...


class StackError(UsageError):
    """A stack cannot be built: a duplicate name, a missing anchor, or a bad phase."""


class MiddlewareError(EemwError):
    """A stage raised something other than an :class:`EemwError`, or returned a non-Response.

    ``stage`` names it; the original exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, stage: str | None = None) -> None:
        super().__init__(message)
        self.stage = stage


@frozen
class Entry:
    """A named middleware and its placement. ``plugin`` names the distribution, if any
    (set by the plugin loader)."""

    name: str
    middleware: Middleware
    phase: Phase
    before: str | None = None
    after: str | None = None
    plugin: str | None = None

    def __init__(
        self,
        name: str,
        middleware: Middleware,
        phase: Phase,
        before: str | None = None,
        after: str | None = None,
        plugin: str | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "middleware", middleware)
        object.__setattr__(self, "phase", phase)
        object.__setattr__(self, "before", before)
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "plugin", plugin)
        self.__post_init__()

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


def as_entry(item: object) -> Entry:
    """``item`` as a stack entry: an :class:`Entry` as it is, or a plain named callable as
    an attempt-phase entry named after it. Anything else is a :class:`StackError` saying how
    to wrap it."""
    if isinstance(item, Entry):
        return item
    name = getattr(item, "__name__", None)
    if callable(item) and isinstance(name, str) and name.isidentifier():
        return Entry(name, item, "attempt")
    what = repr(item) if len(repr(item)) <= 60 else type(item).__name__
    problem = "has no usable name" if callable(item) else "is not callable"
    raise StackError(
        f"middleware {what} {problem}: pass eemw.Entry('my-stage', middleware, 'attempt') "
        "(or phase 'call', with before=/after= to place it), or a named function "
        "(request, call_next) -> Response"
    )


def _fits(entries: list[Entry], position: int, phase: Phase, closing: frozenset[str]) -> bool:
    """Whether ``position`` lies inside ``phase``: call entries never follow the call phase's
    closing stage (they would run once per attempt), attempt entries never precede a call one.
    """
    before = entries[position - 1] if position > 0 else None
    after = entries[position] if position < len(entries) else None
    if phase == "call":
        return before is None or (before.phase == "call" and before.name not in closing)
    return after is None or after.phase == "attempt"


class Stack:
    """An immutable, ordered description of a pipeline. ``add``, ``replace`` and
    ``without`` return a new stack."""

    __slots__ = ("_closing", "_entries")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: tuple[Entry, ...] = ()
        self._closing: frozenset[str] = frozenset()
        for entry in entries:
            self._entries = self._with(entry)

    @classmethod
    def _builtin(cls, entries: Iterable[Entry], closing: Iterable[str]) -> Stack:
        """eemw's own layout, as given: the ``closing`` stages end their phase."""
        return cls.__new__(cls)._copy(tuple(entries), frozenset(closing))

    def _copy(self, entries: tuple[Entry, ...], closing: frozenset[str]) -> Stack:
        new = Stack.__new__(Stack)
        new._entries, new._closing = entries, closing
        return new

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

    def add_entry(self, entry: Entry | Middleware) -> Stack:
        """A copy with ``entry`` placed (a plain named callable: see :func:`as_entry`)."""
        return self._copy(self._with(as_entry(entry)), self._closing)

    def replace(self, name: str, middleware: Middleware) -> Stack:
        """A copy where the stage ``name`` is ``middleware``, in the same place and role.

        A replaced built-in stage keeps its place (``retry`` still closes the call phase);
        being your code, it is guarded (an exception escaping it is a
        :class:`MiddlewareError`).
        """
        old = self._get(name)
        if not callable(middleware):
            raise StackError(f"the replacement for stage {name!r} must be callable")
        new = Entry(old.name, middleware, old.phase, old.before, old.after)
        entries = tuple(new if e.name == name else e for e in self._entries)
        return self._copy(entries, self._closing)

    def without(self, name: str) -> Stack:
        """A copy without the named entry (raises :class:`StackError` if it is absent)."""
        self._get(name)
        entries = tuple(e for e in self._entries if e.name != name)
        return self._copy(entries, self._closing - {name})

    def _get(self, name: str) -> Entry:
        for entry in self._entries:
            if entry.name == name:
                return entry
        raise StackError(f"no stage named {name!r} in {self.names()}")

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
            if not _fits(entries, position, entry.phase, self._closing):
                where = "before" if entry.before else "after"
                raise StackError(
                    f"stage {entry.name!r} ({entry.phase} phase) cannot go {where} {anchor!r}: "
                    f"that place is outside the {entry.phase} phase (the call phase ends at "
                    "its closing stage, 'retry' by default)"
                )
            return position
        same = [i for i, e in enumerate(entries) if e.phase == entry.phase]
        closing = [i for i in same if entries[i].name in self._closing]
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


def _own(entry: Entry) -> bool:
    """Whether the stage is one of eemw's own (a built-in stage class), trusted to raise only
    eemw errors: those are the only ones left unguarded."""
    return entry.plugin is None and type(entry.middleware).__module__.startswith("eemw.")


def _link(entry: Entry, call_next: Handler) -> Handler:
    # Built once per stack, so a call pays one closure call per stage and nothing else.
    if not _own(entry):
        return _guarded(entry, call_next)
    middleware = entry.middleware

    def handler(request: Request) -> Response:
        return middleware(request, call_next)

    return handler


def _guarded(entry: Entry, call_next: Handler) -> Handler:
    middleware, name = entry.middleware, entry.name
    who = f"plugin {name!r} (from {entry.plugin})" if entry.plugin else f"stage {name!r}"

    def handler(request: Request) -> Response:
        # Errors raised further down the stack pass through the stage's frame too; they
        # are recorded here so they are re-raised as they are, not blamed on the stage.
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
            if entry.plugin and exc.plugin is None and not any(exc is s for s in passed_up):
                _blame(exc, name, entry.plugin)
            raise
        except Exception as exc:
            if any(exc is seen for seen in passed_up):
                raise
            raise _failure(entry, f"{who} raised {type(exc).__name__} while handling "
                           f"{request.call.label}: {exc}") from exc
        if not isinstance(response, Response):
            raise _failure(entry, f"{who} returned {type(response).__name__} instead of an "
                           f"eemw.Response while handling {request.call.label}")
        return response

    return handler


def _failure(entry: Entry, message: str) -> EemwError:
    if entry.plugin:
        return PluginError(message, plugin=entry.name, distribution=entry.plugin)
    return MiddlewareError(message, stage=entry.name)


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
