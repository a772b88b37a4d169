"""The built-in stack of a client: its six stages, and how a caller changes it.

::

    call phase                                attempt phase
    tracing → idempotency → [call] → retry → auth → [attempt] → check → http-tracing

``retry`` closes the call phase and ``check`` the attempt phase: unanchored stages of a
phase go in front of them. ``http-tracing`` is the attempt span, right above the
transport. A caller may replace any built-in stage (``replace={"retry": MyRetry()}``:
same place, same role), remove any but ``check`` (``without=["tracing"]``), then add
plugins and stages of its own, in that order, so an anchor to a removed stage is a
:class:`~eemw.StackError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._errors import UsageError
from ._http import ContextKey
from ._keys import ATTEMPT, CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES
from ._metrics import Metrics
from ._pipeline import Entry, Middleware, Stack, StackError, as_entry
from ._plugins import CALLER_IDENTITY, plugin_entries
from .middleware.auth import Auth
from .middleware.check import Check
from .middleware.idempotency import Idempotency
from .middleware.retry import RETRY_POLICY, Retry, RetryBudget, RetryPolicy
from .middleware.tracing import Tracing

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["BUILTIN_STAGES", "RESERVED_KEYS", "StageSettings", "build_stack"]

BUILTIN_STAGES = ("tracing", "idempotency", "retry", "auth", "check", "http-tracing")
"""The names of the built-in stages, outermost first."""
_CLOSING = ("retry", "check")
_KEPT = "check"

RESERVED_KEYS: Mapping[ContextKey[Any], str] = MappingProxyType({
    DEADLINE: "pass timeout= instead",
    IDEMPOTENCY_KEY: "pass idempotency_key= instead",
    TRACE_ATTRIBUTES: "pass trace_attributes= instead",
    RETRY_POLICY: "pass retry= instead",
    CLOCK: "the client's clock= sets it",
    SLEEP: "the client's sleep= (or its clock's) sets it",
    CALLER_IDENTITY: "the client sets it from its credentials",
    ATTEMPT: "the retry stage sets it",
})
"""The context keys a caller may not set through ``context=``, and what to do instead."""


class StageSettings:
    """What the built-in stages are made from (the client's own arguments).

    A plain class: a NamedTuple or dataclass of sixteen fields costs every client process
    half a millisecond to define.
    """

    __slots__ = (
        "clock", "credentials", "idempotency_header", "meter_provider", "quota_project",
        "random", "refresh", "replay_cache_bytes", "replay_cache_size", "replay_ttl",
        "retry", "retry_budget", "scopes", "server_honours_keys", "sleep",
        "tracer_provider",
    )

    def __init__(
        self,
        *,
        credentials: ga_credentials.Credentials | None,
        quota_project: str | None,
        scopes: Mapping[str, Sequence[str]] | None,
        refresh: Callable[[], Any],
        retry: RetryPolicy | None,
        retry_budget: RetryBudget | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        idempotency_header: str,
        replay_cache_size: int,
        replay_cache_bytes: int,
        replay_ttl: float,
        server_honours_keys: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        random: Callable[[], float],
    ) -> None:
        self.credentials = credentials
        self.quota_project = quota_project
        self.scopes = scopes
        self.refresh = refresh
        self.retry = retry
        self.retry_budget = retry_budget
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.idempotency_header = idempotency_header
        self.replay_cache_size = replay_cache_size
        self.replay_cache_bytes = replay_cache_bytes
        self.replay_ttl = replay_ttl
        self.server_honours_keys = server_honours_keys
        self.clock = clock
        self.sleep = sleep
        self.random = random


def build_stack(
    settings: StageSettings,
    middleware: Sequence[Entry | Middleware],
    replace: Mapping[str, Middleware],
    without: Sequence[str],
    plugins: Sequence[str] | None,
    plugin_settings: Mapping[str, Mapping[str, object]] | None,
    owned: list[object],
) -> Stack:
    """The client's stack; ``owned`` receives every middleware the client creates (built-in
    stages it keeps and plugins' stages), which the client closes."""
    removed = _removed(without, replace)
    _check_settings(settings, set(replace) | removed)
    stack = Stack._builtin(_builtin_entries(settings, set(replace) | removed), _CLOSING)
    for name, stage in replace.items():
        stack = stack.replace(name, stage)
    for name in removed:
        stack = stack.without(name)
    owned.extend(e.middleware for e in stack.entries if e.name not in replace)
    for entry in plugin_entries(plugins, plugin_settings):
        stack = stack.add_entry(entry)
        owned.append(entry.middleware)
    items: object = middleware
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise StackError("middleware must be a list of stages (eemw.Entry or functions)")
    for item in items:
        stack = stack.add_entry(as_entry(item))
    return stack


def _removed(without: Sequence[str], replace: Mapping[str, Middleware]) -> set[str]:
    if isinstance(without, str):
        raise StackError(f"without must be a list of stage names, e.g. [{without!r}]")
    names = set(without)
    for name in (*names, *replace):
        if name not in BUILTIN_STAGES:
            raise StackError(
                f"{name!r} is not a built-in stage; replace= and without= take "
                f"{list(BUILTIN_STAGES)} (your own stages are yours to leave out)"
            )
    if _KEPT in names:
        raise StackError(
            "the check stage cannot be removed: every call relies on it to turn HTTP "
            "statuses into typed errors; replace it instead (replace={'check': ...})"
        )
    both = names & set(replace)
    if both:
        raise StackError(f"stage(s) {sorted(both)} are both replaced and removed")
    return names


def _check_settings(settings: StageSettings, gone: set[str]) -> None:
    if "retry" in gone and (settings.retry is not None or settings.retry_budget is not None):
        raise UsageError("retry= and retry_budget= configure the built-in retry stage, "
                         "which replace=/without= take out: configure your own instead")
    if "auth" in gone and settings.scopes is not None:
        raise UsageError("scopes= configures the built-in auth stage, which "
                         "replace=/without= take out: configure your own instead")


def _builtin_entries(settings: StageSettings, gone: set[str]) -> list[Entry]:
    s = settings
    metrics = Metrics(s.meter_provider)
    tracing = Tracing(tracer_provider=s.tracer_provider, metrics=metrics, clock=s.clock)
    made: dict[str, Callable[[], Middleware]] = {
        "tracing": lambda: tracing,
        "idempotency": lambda: Idempotency(
            header=s.idempotency_header, cache_size=s.replay_cache_size,
            cache_bytes=s.replay_cache_bytes, ttl=s.replay_ttl, clock=s.clock,
            server_honours_keys=s.server_honours_keys,
        ),
        "retry": lambda: Retry(
            s.retry, budget=s.retry_budget, clock=s.clock, sleep=s.sleep, random=s.random,
            metrics=metrics,
        ),
        "auth": lambda: _auth(s),
        "check": Check,
        "http-tracing": tracing.http,
    }
    phases = {"tracing": "call", "idempotency": "call", "retry": "call"}
    # A stage that is replaced or removed is never made: its side effects (scoping
    # credentials, warnings) would belong to a stage that does not run.
    return [
        Entry(name, _placeholder if name in gone else made[name](),
              "call" if name in phases else "attempt",
              after="check" if name == "http-tracing" else None)
        for name in BUILTIN_STAGES
    ]


def _auth(settings: StageSettings) -> Auth:
    if settings.credentials is None:  # only when auth is replaced: never built then
        raise UsageError("the auth stage needs credentials")
    return Auth(
        settings.credentials, refresh_request=settings.refresh,
        quota_project=settings.quota_project, required_scopes=_scopes(settings.scopes),
    )


def _scopes(table: Mapping[str, Sequence[str]] | None) -> Mapping[str, tuple[str, ...]] | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise UsageError("scopes must map call kinds to scopes, e.g. {'cancel': [SCOPE]}")
    checked: dict[str, tuple[str, ...]] = {}
    for kind, scopes in table.items():
        if isinstance(scopes, str) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise UsageError(f"scopes[{kind!r}] must be a non-empty list of scope URLs")
        checked[str(kind)] = tuple(scopes)
    return MappingProxyType(checked)


def _placeholder(request: Any, call_next: Any) -> Any:  # pragma: no cover - never called
    return call_next(request)
