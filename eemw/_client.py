"""The ``Client``: configuration, the built pipeline, and the one way calls are sent.

A client resolves its configuration (endpoint, API version, project, credentials, quota
project), builds its stack once into a frozen :class:`~eemw.Pipeline` around one
transport, and sends every logical call through :meth:`Client.send`. Resources such as
``client.operations`` (:mod:`eemw._operations`) build on ``send``; they never touch the
client's private state.
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
from ._keys import CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES
from ._metrics import Metrics
from ._models import collection_path
from ._operations import Operations
from ._pipeline import Entry, Handler, Pipeline, Stack
from ._plugins import CALLER_IDENTITY, caller_identity, plugin_entries
from ._tokens import RefreshRequests
from ._validate import (
    DEFAULT_TIMEOUT,
    DEFAULT_TIMEOUTS,
    check_endpoint,
    check_timeout,
    header_value,
)
from ._version import __version__
from .middleware.auth import Auth
from .middleware.check import Check
from .middleware.idempotency import DEFAULT_CACHE_BYTES, Idempotency, validate_key
from .middleware.retry import RETRY_POLICY, Retry, RetryBudget, RetryPolicy
from .middleware.tracing import Tracing

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["API_VERSIONS", "DEFAULT_ENDPOINT", "Client"]

DEFAULT_ENDPOINT = "https://earthengine.googleapis.com"
"""Earth Engine's API endpoint, used unless ``endpoint=`` or ``EEMW_ENDPOINT`` says otherwise."""
API_VERSIONS = ("v1", "v1beta", "v1alpha")
"""The API versions eemw speaks; ``v1`` is the default."""
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
    ``credentials`` default to ``google.auth.default()``. ``quota_project`` (sent as
    ``X-Goog-User-Project``) defaults to the credentials' quota project, then ``project``.
    ``transport`` is any ``Request -> Response`` callable: a
    :class:`~eemw.RequestsTransport` by default, or :class:`eemw.testing.MockTransport`.
    ``middleware`` adds your own :class:`~eemw.Entry` stages; ``plugins`` enables installed
    plugins by name (also ``EEMW_PLUGINS``). ``clock``, ``sleep`` and ``random`` are
    injectable so tests never really sleep.

    ``server_honours_idempotency_keys`` tells the client that its server (or a proxy in
    front of it) deduplicates on the idempotency key, so any call carrying one may be sent
    again after a lost answer; Earth Engine documents no such thing, so it is off.
    ``replay_cache_size`` and ``replay_cache_bytes`` bound the client-side replay cache of
    outcomes for caller-supplied keys, in entries and in bytes.

    Use it as a context manager, or call :meth:`close`, to release pooled connections.
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
        retry: RetryPolicy | None = None,
        retry_budget: RetryBudget | None = None,
        transport: Handler | None = None,
        middleware: Sequence[Entry] = (),
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
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.endpoint = check_endpoint(endpoint or env_text("EEMW_ENDPOINT") or DEFAULT_ENDPOINT)
        api_version = api_version or env_text("EEMW_API_VERSION") or "v1"
        if api_version not in API_VERSIONS:
            raise UsageError(f"api_version must be one of {API_VERSIONS}, not {api_version!r}")
        self.api_version = api_version
        self.timeout = check_timeout(timeout, env_timeout("EEMW_TIMEOUT") or DEFAULT_TIMEOUT)
        """The default deadline of get, list (per page), cancel and delete, in seconds."""
        self._timeouts = {**DEFAULT_TIMEOUTS, **dict.fromkeys(_SINGLE_CALLS, self.timeout)}
        if retry is None and (attempts := env_attempts("EEMW_RETRY_ATTEMPTS")) is not None:
            retry = RetryPolicy(max_attempts=attempts)
        credentials, found_project = (
            default_credentials() if credentials is None else given_credentials(credentials)
        )
        self.project = (
            project or env_text("EEMW_PROJECT") or found_project
            or env_text("GOOGLE_CLOUD_PROJECT")
        )
        if self.project is not None:
            collection_path(self.project, api_version)  # validates the project id
        self.quota_project = header_value(
            "quota_project",
            quota_project or getattr(credentials, "quota_project_id", None) or self.project,
        )
        self.clock = clock
        """The client's monotonic clock (seconds): every deadline is measured on it."""
        self.sleep = sleep
        """The client's sleep: every wait (backoff, polling) goes through it."""
        # Built once: every request starts from it, so plugins see the injected time.
        self._context = Context().set(CLOCK, clock).set(SLEEP, sleep)
        self._headers = _base_headers(user_agent)
        self._owns_transport = transport is None
        if transport is None:
            from ._transport import RequestsTransport

            transport = RequestsTransport()
        self.transport = transport
        self._refresh = RefreshRequests()
        try:
            self.stack: Pipeline = self._build(
                credentials, retry, retry_budget, middleware, plugins, plugin_settings,
                tracer_provider, meter_provider,
                Idempotency(
                    header=idempotency_header, cache_size=replay_cache_size,
                    cache_bytes=replay_cache_bytes, ttl=replay_ttl, clock=clock,
                    server_honours_keys=server_honours_idempotency_keys,
                ),
                random,
            )
        except BaseException:
            self.close()  # a plugin or placement error must not leak the pool just opened
            raise
        self._caller = caller_identity(self.credentials)
        self.operations = Operations(self)
        """The operations resource: get, list, cancel, delete, wait and the bulk calls."""

    def _build(
        self,
        credentials: ga_credentials.Credentials,
        retry: RetryPolicy | None,
        retry_budget: RetryBudget | None,
        middleware: Sequence[Entry],
        plugins: Sequence[str] | None,
        plugin_settings: Mapping[str, Mapping[str, object]] | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        idempotency: Idempotency,
        random: Callable[[], float],
    ) -> Pipeline:
        clock, sleep, transport = self.clock, self.sleep, self.transport
        metrics = Metrics(meter_provider)
        tracing = Tracing(tracer_provider=tracer_provider, metrics=metrics, clock=clock)
        stack = Stack([
            Entry("tracing", tracing, "call"),
            Entry("idempotency", idempotency, "call"),
            Entry("retry", Retry(
                retry, budget=retry_budget, clock=clock, sleep=sleep, random=random,
                metrics=metrics,
            ), "call", closing=True),
            Entry("auth", self._auth(credentials, transport), "attempt"),
            Entry("check", Check(), "attempt", closing=True),
        ])
        for entry in (*plugin_entries(plugins, plugin_settings), *middleware):
            stack = stack.add_entry(entry)
        return stack.build(tracing.attempts(transport))

    def _auth(self, credentials: ga_credentials.Credentials, transport: Handler) -> Auth:
        refresh = getattr(transport, "google_auth_request", None) or self._refresh
        return Auth(credentials, refresh_request=refresh, quota_project=self.quota_project)

    @property
    def credentials(self) -> ga_credentials.Credentials:
        """The credentials in use (scoped for Earth Engine when they could be)."""
        auth = next(e.middleware for e in self.stack.entries if e.name == "auth")
        return auth.credentials  # type: ignore[attr-defined, no-any-return]

    def send(
        self,
        call: Call,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
        trace_attributes: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        context: Mapping[ContextKey[Any], Any] | None = None,
    ) -> Response:
        """Send one logical call through the whole pipeline and return its checked response.

        ``path`` is appended to the endpoint (``/v1/projects/p/operations/x``), ``query``
        is URL-encoded, and ``body`` (any JSON value) is sent as JSON; ``bytes`` are sent
        as they are, typed by a ``Content-Type`` in ``headers``. ``headers`` are added to
        the client's own (their values must be printable ASCII); ``context`` adds typed
        values to the request's context for the stages that read them. ``timeout`` is the
        whole call's deadline in seconds (default: :data:`~eemw.DEFAULT_TIMEOUTS` for the
        call's kind), ``retry`` overrides the client's policy for this call,
        ``idempotency_key`` is the caller's key for a mutating call, and
        ``trace_attributes`` are added to the call's span. Every option is validated
        before anything is sent. Raises an :class:`~eemw.EemwError` for any failure.
        """
        seconds = check_timeout(timeout, self._timeouts.get(call.kind, self.timeout))
        values = (
            self._context
            .set(DEADLINE, self.clock() + seconds)
            .set(CALLER_IDENTITY, self._caller)
        )
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise UsageError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
            values = values.set(RETRY_POLICY, retry)
        if idempotency_key is not None:
            values = values.set(IDEMPOTENCY_KEY, validate_key(idempotency_key))
        if trace_attributes:
            values = values.set(TRACE_ATTRIBUTES, dict(trace_attributes))
        for key, value in (context or {}).items():
            values = values.set(key, value)
        url = self.endpoint + path
        if query:
            url += "?" + urlencode(query)
        sent = self._headers
        if headers:
            sent = sent.merge({k: str(header_value(f"header {k}", v)) for k, v in headers.items()})
        data = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            sent = sent.set("Content-Type", "application/json")
        return self.stack(Request(method, url, sent, call, data, seconds, values))

    def close(self) -> None:
        """Release what the client opened: its transport's pool and the refresh session.

        A transport passed in by the caller is left open: it is the caller's to close.
        """
        self._refresh.close()
        close = getattr(self.transport, "close", None)
        if self._owns_transport and close is not None:
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client(project={self.project!r}, endpoint={self.endpoint!r}, "
            f"api_version={self.api_version!r})"
        )


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
