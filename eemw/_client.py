"""The ``Client``: configuration, the built pipeline, and the one way calls are sent.

A client resolves its configuration (endpoint, API version, project, credentials, quota
project), builds its stack once (:mod:`eemw._stages` lays out the built-in stages) into a
frozen :class:`~eemw.Pipeline` around one transport, and sends every logical call through
:meth:`Client.send`. Resources such as ``client.operations`` (:mod:`eemw._operations`)
build on ``send``; they never touch the client's private state. :meth:`Client.close`
releases what the client created, stages included.
"""

from __future__ import annotations

import json
import platform
import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._config import env_attempts, env_text, env_timeout
from ._credentials import default_credentials, given_credentials
from ._errors import UsageError
from ._http import Call, Context, ContextKey, Headers, Request, Response
from ._keys import CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES, CallOptions
from ._models import collection_path
from ._operations import Operations
from ._pipeline import Closeable, Entry, Handler, Middleware, Pipeline, Stack
from ._plugins import CALLER_IDENTITY, caller_identity
from ._stages import RESERVED_KEYS, StageSettings, build_stack
from ._tokens import RefreshRequests
from ._validate import (
    DEFAULT_TIMEOUT,
    DEFAULT_TIMEOUTS,
    check_endpoint,
    check_timeout,
    header_value,
)
from ._version import __version__
from .middleware.idempotency import DEFAULT_CACHE_BYTES, validate_key
from .middleware.retry import RETRY_POLICY, RetryBudget, RetryPolicy

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from typing_extensions import Unpack

__all__ = ["API_VERSIONS", "DEFAULT_ENDPOINT", "Client"]

DEFAULT_ENDPOINT = "https://earthengine.googleapis.com"
"""Earth Engine's API endpoint, used unless ``endpoint=`` or ``EEMW_ENDPOINT`` says otherwise."""
API_VERSIONS = ("v1", "v1beta", "v1alpha")
"""The API versions eemw speaks; ``v1`` is the default."""
_OPTION_NAMES = frozenset(CallOptions.__annotations__)
# The calls the client-wide ``timeout`` applies to; ``wait`` keeps its own (a whole wait).
_SINGLE_CALLS = ("get", "list", "cancel", "delete")


class Client:
    """A client for the Earth Engine operations API.

    Every argument left out may come from the environment (``EEMW_ENDPOINT``,
    ``EEMW_API_VERSION``, ``EEMW_PROJECT``, ``EEMW_TIMEOUT``, ``EEMW_RETRY_ATTEMPTS``,
    ``EEMW_PLUGINS``; see :data:`eemw.ENVIRONMENT`); an argument always wins.
    ``project`` defaults to ``EEMW_PROJECT``, the credentials' project, then
    ``GOOGLE_CLOUD_PROJECT``. ``timeout`` is the default deadline of get, list (per page),
    cancel and delete in seconds (60; ``wait`` keeps its own, 600).
    ``credentials`` default to ``google.auth.default()``, unless the transport offers
    its own (``transport.default_credentials()``: :class:`eemw.testing.MockTransport`
    gives anonymous ones, so a unit test never looks for, or refreshes, real ones).
    ``quota_project`` (sent as ``X-Goog-User-Project``) defaults to the credentials' quota
    project, then ``project``. ``scopes`` maps a call kind to the scopes of which its token
    needs one (default: :data:`eemw.REQUIRED_SCOPES`), for this client only.

    ``transport`` is any ``Request -> Response`` callable: a
    :class:`~eemw.RequestsTransport` by default, or :class:`eemw.testing.MockTransport`.
    ``middleware`` adds your own stages (:class:`~eemw.Entry` values, or named functions,
    which go in the attempt phase); ``replace`` swaps a built-in stage for your own
    middleware, in the same place (``replace={"retry": MyRetry()}``); ``without`` removes
    built-in stages (``without=["tracing", "http-tracing"]``). ``plugins`` enables installed
    plugins by name (also ``EEMW_PLUGINS``).

    ``server_honours_idempotency_keys`` tells the client that its server (or a proxy in
    front of it) deduplicates on the idempotency key, so any call carrying one may be sent
    again after a lost answer; Earth Engine documents no such thing, so it is off.
    ``replay_cache_size`` and ``replay_cache_bytes`` bound the client-side replay cache of
    outcomes for caller-supplied keys, in entries and in bytes.

    ``clock`` (monotonic seconds), ``sleep`` and ``random`` are injectable so tests never
    really sleep; a clock that has a ``sleep`` method (a timeline such as
    :class:`eemw.testing.FakeClock`) also gives the sleep.

    Use it as a context manager, or call :meth:`close`, to release pooled connections and
    the resources of the stages it created.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        endpoint: str | None = None,
        api_version: str | None = None,
        credentials: ga_credentials.Credentials | None = None,
        quota_project: str | None = None,
        timeout: float | None = None,
        scopes: Mapping[str, Sequence[str]] | None = None,
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        transport: Handler | None = None,
        middleware: Sequence[Entry | Middleware] = (),
        replace: Mapping[str, Middleware] | None = None,
        without: Sequence[str] = (),
        plugins: Sequence[str] | None = None,
        plugin_settings: Mapping[str, Mapping[str, object]] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        idempotency_header: str = "Idempotency-Key",
        replay_cache_size: int = 1024,
        replay_cache_bytes: int = DEFAULT_CACHE_BYTES,
        replay_ttl: float = 600.0,
        server_honours_idempotency_keys: bool = False,
        user_agent: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._closed = False
        self._owned: list[object] = []
        self.endpoint = check_endpoint(endpoint or env_text("EEMW_ENDPOINT") or DEFAULT_ENDPOINT)
        api_version = api_version or env_text("EEMW_API_VERSION") or "v1"
        if api_version not in API_VERSIONS:
            raise UsageError(f"api_version must be one of {API_VERSIONS}, not {api_version!r}")
        self.api_version = api_version
        self.timeout = check_timeout(timeout, env_timeout("EEMW_TIMEOUT") or DEFAULT_TIMEOUT)
        """The default deadline of get, list (per page), cancel and delete, in seconds."""
        self._timeouts = {**DEFAULT_TIMEOUTS, **dict.fromkeys(_SINGLE_CALLS, self.timeout)}
        if retry is None and "retry" not in (replace or {}):
            attempts = env_attempts("EEMW_RETRY_ATTEMPTS")
            if attempts is not None:
                retry = RetryPolicy(max_attempts=attempts)
        replace = dict(replace or {})
        own_auth = "auth" not in replace and "auth" not in without
        creds, found_project = _credentials(credentials, transport, own_auth)
        self.project = (
            project or env_text("EEMW_PROJECT") or found_project
            or env_text("GOOGLE_CLOUD_PROJECT")
        )
        if self.project is not None:
            collection_path(self.project, api_version)  # validates the project id
        self.quota_project = header_value(
            "quota_project",
            quota_project or getattr(creds, "quota_project_id", None) or self.project,
        )
        self.clock = clock
        """The client's monotonic clock (seconds): every deadline is measured on it."""
        self.sleep: Callable[[float], None] = sleep or _timeline_sleep(clock)
        """The client's sleep: every wait (backoff, polling) goes through it."""
        # Built once: every request starts from it, so plugins see the injected time.
        self._context = Context().set(CLOCK, clock).set(SLEEP, self.sleep)
        self._headers = _base_headers(user_agent)
        self._owns_transport = transport is None
        if transport is None:
            from ._transport import RequestsTransport

            transport = RequestsTransport()
        self.transport = transport
        self._refresh = RefreshRequests()
        settings = StageSettings(
            credentials=creds, quota_project=self.quota_project, scopes=scopes,
            refresh=getattr(transport, "google_auth_request", None) or self._refresh,
            retry=retry, retry_budget=retry_budget, tracer_provider=tracer_provider,
            meter_provider=meter_provider, idempotency_header=idempotency_header,
            replay_cache_size=replay_cache_size, replay_cache_bytes=replay_cache_bytes,
            replay_ttl=replay_ttl, server_honours_keys=server_honours_idempotency_keys,
            clock=clock, sleep=self.sleep, random=random,
        )
        try:
            self.stack: Stack = build_stack(
                settings, middleware, replace, without, plugins, plugin_settings, self._owned
            )
            """The resolved stack: ``describe()`` and ``entries`` show every stage."""
            self.pipeline: Pipeline = self.stack.build(transport)
            """The built stack that sends every call (:meth:`send` runs it)."""
        except BaseException:
            self.close()  # a plugin or placement error must not leak the pool just opened
            raise
        auth = next((e.middleware for e in self.stack.entries if e.name == "auth"), None)
        self._credentials = getattr(auth, "credentials", creds)
        # Known once the stack is built, and the same for every call: part of the base.
        self._context = self._context.set(CALLER_IDENTITY, caller_identity(self._credentials))
        self.operations = Operations(self)
        """The operations resource: get, list, cancel, delete, wait and the bulk calls."""

    @property
    def credentials(self) -> ga_credentials.Credentials | None:
        """The credentials in use (scoped for Earth Engine when they could be); ``None`` when
        the auth stage was replaced or removed and none were given."""
        return self._credentials

    def send(
        self, call: Call, method: str, path: str, *, query: Mapping[str, str] | None = None,
        body: Any = None, **options: Unpack[CallOptions],
    ) -> Response:
        """Send one logical call through the whole pipeline and return its checked response.

        ``path`` is appended to the endpoint (``/v1/projects/p/operations/x``), ``query``
        is URL-encoded, and ``body`` (any JSON value) is sent as JSON; ``bytes`` are sent as
        they are, typed by a ``Content-Type`` in the ``headers`` option. The options
        (:class:`~eemw.CallOptions`): ``timeout`` is the whole call's deadline in seconds
        (default: the client's ``timeout``; ``wait``: :data:`~eemw.DEFAULT_TIMEOUTS`),
        ``headers`` are added to the client's own (printable ASCII values), ``retry`` overrides
        the client's policy for this call, ``idempotency_key`` is the caller's key for a
        mutating call, ``trace_attributes`` are added to the call's span, and ``context``
        sets context keys of your own (a plugin's) on every request of the call. Every
        option is validated before anything is sent. Raises an :class:`~eemw.EemwError`
        for any failure.
        """
        unknown = options.keys() - _OPTION_NAMES
        if unknown:
            raise UsageError(f"unknown option(s) {sorted(unknown)} for send")
        seconds = check_timeout(
            options.get("timeout"), self._timeouts.get(call.kind, self.timeout)
        )
        context = _with_callers(self._context, options.get("context"))
        context = context.set(DEADLINE, self.clock() + seconds)
        retry = options.get("retry")
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise UsageError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
            context = context.set(RETRY_POLICY, retry)
        key = options.get("idempotency_key")
        if key is not None:
            context = context.set(IDEMPOTENCY_KEY, validate_key(key))
        attributes = options.get("trace_attributes")
        if attributes:
            context = context.set(TRACE_ATTRIBUTES, dict(attributes))
        url = self.endpoint + path
        if query:
            url += "?" + urlencode(query)
        headers = self._headers
        extra = options.get("headers")
        if extra:
            headers = headers.merge(
                {k: str(header_value(f"header {k}", v)) for k, v in extra.items()}
            )
        data = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers = headers.set("Content-Type", "application/json")
        return self.pipeline(Request(method, url, headers, call, data, seconds, context))

    def close(self) -> None:
        """Release what the client created: its stages' resources, innermost first (a stage
        with a ``close()`` method, see :class:`~eemw.Closeable`), the refresh session, and
        its transport's pool. Safe to call more than once.

        What the caller passed in (a ``transport``, ``middleware``, ``replace`` values) is
        left open: it is the caller's to close. If a stage's ``close`` raises, the rest are
        still closed and the first error is raised at the end.
        """
        if self._closed:
            return
        self._closed = True
        errors: list[Exception] = []
        stack: Stack | None = getattr(self, "stack", None)
        entries = stack.entries if stack is not None else ()
        owned = [e.middleware for e in entries if any(e.middleware is m for m in self._owned)]
        for middleware in reversed(owned):
            if isinstance(middleware, Closeable):
                _close(middleware.close, errors)
        _close(self._refresh.close, errors)
        close = getattr(getattr(self, "transport", None), "close", None)
        if self._owns_transport and close is not None:
            _close(close, errors)
        if errors:
            raise errors[0]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client(project={self.project!r}, endpoint={self.endpoint!r}, "
            f"api_version={self.api_version!r})"
        )


def _credentials(
    given: ga_credentials.Credentials | None, transport: object, needed: bool
) -> tuple[ga_credentials.Credentials | None, str | None]:
    if given is not None:
        return given_credentials(given)
    offered = getattr(transport, "default_credentials", None)
    if callable(offered):
        return given_credentials(offered())
    if not needed:
        return None, None  # the auth stage is the caller's own: it knows its credentials
    return default_credentials()


def _timeline_sleep(clock: object) -> Callable[[float], None]:
    """The sleep of a timeline clock (one with a ``sleep`` method), else the real one."""
    sleep = getattr(clock, "sleep", None)
    return sleep if callable(sleep) else time.sleep


def _with_callers(base: Context, extra: object) -> Context:
    """``base`` with the caller's own context values, refusing the keys eemw sets itself."""
    if extra is None:
        return base
    if isinstance(extra, (Context, Mapping)):
        items = list(extra.items())
    else:
        raise UsageError(
            f"context must be an eemw.Context or a mapping of ContextKey to value, not "
            f"{type(extra).__name__}"
        )
    context = base
    for key, value in items:
        if not isinstance(key, ContextKey):
            raise UsageError(f"context keys must be eemw.ContextKey values, not {key!r}")
        instead = RESERVED_KEYS.get(key)
        if instead is not None:
            raise UsageError(f"context cannot set {key.name}: {instead}")
        context = context.set(key, value)
    return context


def _close(close: Callable[[], object], errors: list[Exception]) -> None:
    try:
        close()
    except Exception as error:
        errors.append(error)


def _base_headers(user_agent: str | None) -> Headers:
    product = f"eemw/{__version__} python/{platform.python_version()}"
    extra = header_value("user_agent", user_agent)
    agent = product if extra is None else f"{extra} {product}"
    return Headers({
        "User-Agent": agent,
        "X-Goog-Api-Client": product,
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
    })
