"""earthengine-api's whole traffic through an eemw :class:`~eemw.Client`'s pipeline.

Two lines turn it on::

    client = eemw.Client("my-project")
    eemw.earthengine.initialize(client)

:func:`initialize` points earthengine-api (``ee``) at the client's endpoint and project with
an :class:`EarthEngineTransport`, the httplib2-style object ``ee.Initialize(http_transport=…)``
accepts. From then on every request ``ee`` makes (discovery, algorithms, ``value:compute``,
``computePixels``, exports, assets, operations) is one logical call of the client, named
after the REST method it hits (``earthengine.projects.value.compute``), so tracing,
retries, the retry budget, rate limits, audit and every plugin apply to it.

Contracts:

* One retry owner. ``ee``'s own retries are off while the transport is installed
  (:func:`uninstall` restores them); eemw repeats a request only when that is safe: reads,
  read-only computations, and creates that carry a ``requestId``. A create without one
  (an export started through ``ee.data`` without a request id, ``assets.create``, copy,
  move, asset delete) is sent exactly once: never again after a lost answer or a 5xx.
* One auth owner. When ``ee`` holds credentials, its ``AuthorizedHttp`` signs each request
  and eemw's auth stage only adds ``X-Goog-User-Project``; otherwise eemw's credentials
  sign it. Never two ``Authorization`` headers; the quota project header is the client's.
* ``ee`` sees what it expects: a non-2xx answer reaches it as the status, headers and body
  the server sent (so ``ee.EEException`` messages are unchanged) after eemw's stages saw it
  as a typed error; a call that ran out of time raises :class:`TimeoutError`, a connection
  failure :class:`ConnectionError` (the eemw error is the ``__cause__``), as ``ee``'s own
  transport does. Other eemw errors (bad input, a plugin refusing) propagate as they are.
* Secrets stay out of logs and spans: on top of eemw's own redaction, the URLs that
  googleapiclient logs at DEBUG (an API key among them) are redacted.
* Requests outside the Earth Engine API (the token requests of ``ee``'s own credentials)
  are sent directly with google-auth's transport, never through the pipeline; an API
  request for another host than the client's endpoint is refused
  (:class:`~eemw.UsageError`), never sent around the pipeline.

earthengine-api is an optional extra (``pip install 'eemw[earthengine]'``); this module
imports ``ee`` only inside :func:`initialize` and :func:`uninstall`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._client import Client
from ._ee_methods import METHODS, Method, Route, classify
from ._ee_wire import (
    Answer,
    EarthEngineResponse,
    answer_for_ee,
    redact_googleapiclient_log,
    reply,
)
from ._errors import EemwError, MalformedResponseError, UsageError
from ._http import Call, ContextKey
from ._validate import check_timeout
from ._version import __version__
from .middleware.auth import CALLER_AUTHORIZED
from .middleware.check import ANSWER_SINK
from .middleware.retry import RetryPolicy

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "DEFAULT_TIMEOUT",
    "METHODS",
    "RESOURCE",
    "EarthEngineResponse",
    "EarthEngineTransport",
    "Method",
    "initialize",
    "uninstall",
]

DEFAULT_TIMEOUT = 300.0
"""The default deadline of one ``ee`` request in seconds: Earth Engine's own limit on an
interactive computation is about five minutes."""

RESOURCE = "earthengine"
"""``Call.resource`` of every request the transport sends: labels read
``earthengine.<REST method id>``."""

# Set by the transport's own requests and rebuilt by requests; never forwarded from ee.
_DROPPED = frozenset({"content-length", "host", "connection", "transfer-encoding"})
class EarthEngineTransport:
    """An httplib2-style transport that sends ``ee``'s requests through ``client``.

    Pass it as ``ee.Initialize(http_transport=…)``, or let :func:`initialize` do that (and
    switch ``ee``'s own retries off). ``timeout`` is each request's deadline in seconds,
    retries included. Thread-safe: it keeps no per-request state.
    """

    def __init__(self, client: Client, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not isinstance(client, Client):
            raise UsageError(f"client must be an eemw.Client, not {type(client).__name__}")
        self.client = client
        self.timeout = check_timeout(timeout, DEFAULT_TIMEOUT)
        self._prefix = client.endpoint + "/"
        # Unsafe creates are sent once: no retry of any kind, whatever the client's policy.
        self._once = dataclasses.replace(_client_policy(client), max_attempts=1)
        self._direct: Any = None
        self._lock = threading.Lock()
        redact_googleapiclient_log()

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        redirections: int = 5,
        connection_type: object = None,
        **kwargs: object,
    ) -> tuple[EarthEngineResponse, bytes]:
        """Send one request of ``ee`` as one call of the client; httplib2's signature.

        Returns ``(response, content)``. Raises :class:`TimeoutError` when the call ran
        out of time, :class:`ConnectionError` when no answer came, and eemw's own error
        for anything eemw refused to send.
        """
        if body is not None and not isinstance(body, (bytes, str)):
            raise UsageError(
                f"EarthEngineTransport sends bytes or str bodies, not {type(body).__name__}"
            )
        data = body.encode() if isinstance(body, str) else body
        parts = urlsplit(uri)
        route = classify(method, parts.path, data, self.client.api_version)
        if route is None:  # a token request of ee's own credentials
            return self._send_direct(uri, method, data, headers)
        if not uri.startswith(self._prefix):
            # An API call elsewhere would escape the pipeline: refuse rather than bypass.
            raise UsageError(
                f"earthengine-api sent an API request to {parts.scheme}://{parts.hostname}, "
                f"not the client's endpoint {self.client.endpoint}; initialize ee with "
                "url=client.endpoint"
            )
        target = uri[len(self.client.endpoint):]
        return self._send(route, method.upper(), target, data, headers or {})

    def _send(
        self, route: Route, method: str, target: str, data: bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[EarthEngineResponse, bytes]:
        client = self.client
        call = Call(
            kind=route.kind, project=route.project or client.project or "",
            api_version=route.api_version, resource=RESOURCE, repeat=route.repeat,
            mutates=route.mutates,
        )
        sent = self._headers(headers)
        answer = Answer()
        context: dict[ContextKey[Any], Any] = {ANSWER_SINK: answer.record}
        if "authorization" in sent:
            context[CALLER_AUTHORIZED] = True
        started = client.clock()
        try:
            response = client.send(
                call, method, target, body=data, headers=sent, timeout=self.timeout,
                retry=self._once if route.repeat == "unsafe" else None, context=context,
            )
        except EemwError as error:
            return answer_for_ee(error, answer, client.clock() - started >= self.timeout)
        if response.truncated:
            raise MalformedResponseError(
                f"{call.label}: the answer is longer than the client transport's "
                f"max_body_bytes and was cut after {len(response.body)} bytes; build the "
                "client with a transport that allows larger bodies",
                call=call.label,
            )
        return reply(response.status, response.headers, response.body)

    def _headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        sent = {}
        for name, value in headers.items():
            key = str(name).lower()
            if key in _DROPPED or value in ("", None):
                continue
            sent[key] = str(value)
        if self.client.quota_project is not None:
            # The auth stage sets the client's quota project: one header, one value.
            sent.pop("x-goog-user-project", None)
        if "x-goog-api-client" in sent:
            sent["x-goog-api-client"] += f" eemw/{__version__}"
        return sent

    def _send_direct(
        self, uri: str, method: str, data: bytes | None, headers: Mapping[str, str] | None
    ) -> tuple[EarthEngineResponse, bytes]:
        with self._lock:
            if self._direct is None:
                from google.auth.transport.requests import Request as AuthRequest

                self._direct = AuthRequest()
        answer = self._direct(
            uri, method=method, body=data, headers=dict(headers or {}), timeout=self.timeout
        )
        return reply(answer.status, answer.headers, answer.data)

    def close(self) -> None:
        """Close the session of direct (token) requests, if one was opened. The client
        stays open: it is the caller's to close."""
        with self._lock:
            direct, self._direct = self._direct, None
        session = getattr(direct, "session", None)
        if session is not None:
            session.close()

    def __repr__(self) -> str:
        return f"EarthEngineTransport({self.client!r}, timeout={self.timeout:g})"


def _client_policy(client: Client) -> RetryPolicy:
    for entry in client.stack.entries:
        policy = getattr(entry.middleware, "policy", None)
        if entry.name == "retry" and isinstance(policy, RetryPolicy):
            return policy
    return RetryPolicy()


# --- installing into ee ------------------------------------------------------------------


@dataclasses.dataclass
class _Saved:
    """What ee had before eemw was installed, restored by :func:`uninstall`."""

    max_retries: int
    version: str


class _Installation:
    saved: _Saved | None = None
    lock = threading.Lock()


_installation = _Installation()


def _import_ee() -> ModuleType:
    try:
        import ee
    except ImportError as exc:
        raise UsageError(
            "eemw.earthengine needs earthengine-api: pip install 'eemw[earthengine]'"
        ) from exc
    return ee


def initialize(
    client: Client, *, timeout: float = DEFAULT_TIMEOUT, **ee_initialize_kwargs: Any
) -> EarthEngineTransport:
    """Initialize earthengine-api so that every request it makes goes through ``client``.

    Calls ``ee.Initialize`` with ``url=client.endpoint``, ``project=client.project`` and
    an :class:`EarthEngineTransport`, after switching ``ee``'s own retries off (see
    :func:`uninstall`). ``credentials`` (default ``None``) decides who authorizes: ``None``
    means the client's credentials do; ``ee`` credentials mean ``ee`` does, and the
    client's auth stage only adds the quota project. Other keyword arguments go to
    ``ee.Initialize`` (``project`` overrides the client's). Returns the transport.
    Raises :class:`~eemw.UsageError` before any request when ``ee`` is missing or
    ``url``/``http_transport`` are passed (they are the client's).
    """
    for reserved in ("url", "http_transport"):
        if reserved in ee_initialize_kwargs:
            raise UsageError(f"initialize() sets {reserved}= from the client; do not pass it")
    transport = EarthEngineTransport(client, timeout=timeout)
    ee = _import_ee()
    credentials = ee_initialize_kwargs.pop("credentials", None)
    project = ee_initialize_kwargs.pop("project", None) or client.project
    with _installation.lock:
        if _installation.saved is None:
            _installation.saved = _Saved(_ee_max_retries(ee), ee._cloud_api_utils.VERSION)
        ee.data.setMaxRetries(0)
        # ee reads its API version from this module global when it builds its client.
        ee._cloud_api_utils.VERSION = client.api_version
        if credentials is None:
            # ee keeps the credentials of an earlier Initialize when given none.
            ee.data._get_state().credentials = None
    try:
        ee.Initialize(
            credentials=credentials, url=client.endpoint, project=project,
            http_transport=transport, **ee_initialize_kwargs,
        )
    except BaseException:
        uninstall()
        raise
    return transport


def uninstall() -> None:
    """Detach eemw from earthengine-api and give ``ee`` its own retries back.

    ``ee`` is reset (``ee.Reset()``): call ``ee.Initialize`` again to use it on its own.
    Does nothing when :func:`initialize` was not called.
    """
    with _installation.lock:
        saved, _installation.saved = _installation.saved, None
    if saved is None:
        return
    ee = _import_ee()
    ee.Reset()
    ee.data.setMaxRetries(saved.max_retries)
    ee._cloud_api_utils.VERSION = saved.version


def _ee_max_retries(ee: ModuleType) -> int:
    # ee has a setter but no getter for it.
    value = getattr(ee.data._get_state(), "max_retries", 5)
    return value if isinstance(value, int) else 5

