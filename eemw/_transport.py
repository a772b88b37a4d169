"""The HTTP transport on requests: the only module of eemw that imports requests.

``RequestsTransport`` sends one attempt and returns what came back. Its contracts:

* It never retries: urllib3's retries are off and the retry stage owns retrying, so a
  dropped connection is one attempt at the server. (An adapter you mount on your own
  session is called as requests would call it: what it does, retries included, applies.)
* It never follows redirects: a 3xx comes back as a :class:`Response`.
* It reads at most ``max_body_bytes`` of a (decoded) body; a longer body comes back cut
  to that size with ``Response.truncated`` set, and the connection is discarded.
* The attempt's ``timeout`` is a total deadline for the exchange, on every path (eemw's
  own pools, your session's adapters, an environment proxy): it is the read timeout of
  each socket read, the body is read in a loop that stops once it has passed, and the
  watchdog (:mod:`eemw._watchdog`) shuts the attempt's socket down at the deadline, so a
  server trickling its headers or body cannot hold an attempt open. This holds in a
  process forked after the transport was used.
* On the pools eemw creates, resolving the host name is bounded by the connect timeout
  too, and a failure to resolve is a :class:`ConnectError`.
* A session you pass in is used, never changed: no adapter, pool or connection class of
  yours is replaced, and its adapters' ``send`` is what sends.
* Every requests/urllib3/socket failure becomes :class:`ConnectError` (the request was
  not sent) or :class:`ReadError` (it may have reached the server), with the original
  exception chained as ``__cause__``.

Per-call work is kept small. Environment proxies, CA bundle and adapter settings are
resolved once per scheme and host, not on every call as ``Session.request`` does. On the
session eemw creates, attempts that need no proxy go straight to the adapter's urllib3
connection pool (the pool ``adapter.send`` would use, with the same TLS settings),
skipping requests' response building and cookie extraction.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3 import ProxyManager
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    NewConnectionError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.util import Retry

from ._attempt import Sent, detach, failure, finish, read_body, too_slow
from ._errors import ConnectError, InvalidHeaderError, TransportError, UsageError
from ._http import Headers, Request, Response
from ._net import HEADER_NAME_CHARS, is_loopback
from ._redact import install_log_filters, redact_url
from ._watchdog import WATCHDOG, AttemptTimeout, ResolvingHTTPPool, ResolvingHTTPSPool

if TYPE_CHECKING:
    from ._tokens import TokenRequest

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestsTransport"]

logger = logging.getLogger("eemw.transport")

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The scheme and authority of a URL: everything a route (adapter, proxy, pool) depends on.
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# urllib3 failures that happen before any byte of the request is written.
_NOT_SENT = (
    NewConnectionError, ConnectTimeoutError, SSLError, ProxyError, ClosedPoolError, EmptyPoolError,
)
# What urlopen makes of retries=False on every call (no retries, redirects returned as
# responses), built once: Retry values are immutable.
_NO_RETRIES = Retry(total=False, redirect=False)
# A little after the deadline, so an ordinary socket read timeout reports first.
_WATCHDOG_GRACE = 0.1
_POOLS = {"http": ResolvingHTTPPool, "https": ResolvingHTTPSPool}


class _Adapter(HTTPAdapter):
    """The adapter of the session eemw creates: its pools bound name resolution."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # a SOCKS manager keeps its own connection classes
            manager.pool_classes_by_scheme = _POOLS
        return manager


class _Route:
    """How to reach one scheme+host: resolved once, reused by every attempt. ``pool`` is
    the adapter's urllib3 pool for the fast path, else None."""

    __slots__ = ("adapter", "pool", "proxies", "verify")

    def __init__(
        self, adapter: BaseAdapter, proxies: dict[str, str], verify: bool | str, pool: Any
    ) -> None:
        self.adapter = adapter
        self.proxies = proxies
        self.verify = verify
        self.pool = pool


class RequestsTransport:
    """Sends requests through one pooled :class:`requests.Session`.

    ``session``: your own session. Its mounted adapters, ``proxies``, ``verify``,
    ``cert`` and ``trust_env`` are used (settings are read once per host, when the host
    is first called); its headers, cookies, auth and hooks are not, since the stack
    supplies what a call needs. Attempts go through its adapters' ``send``, and nothing
    of the session is modified; eemw never closes a session it did not create.
    ``connect_timeout`` caps the connect phase of every attempt; the rest of the attempt
    is bounded by the request's ``timeout``. ``verify=False`` turns TLS verification off
    and logs a warning: it exists for debugging against a local proxy, never for
    production.
    """

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        connect_timeout: float = 10.0,
        verify: bool | str | None = None,
        pool_maxsize: int = 32,
    ) -> None:
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        if verify is not None and not isinstance(verify, (bool, str)):
            raise UsageError("verify must be True, False or the path of a CA bundle")
        if verify == "":
            raise UsageError("verify='' is not a CA bundle; pass False to turn checks off")
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            adapter = _Adapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self.max_body_bytes = max_body_bytes
        self.connect_timeout = connect_timeout
        if verify is False or (verify is None and session.verify is False):
            logger.warning(
                "TLS certificate verification is OFF for this eemw transport: "
                "anyone on the network path can read and change its traffic"
            )
        self._verify: bool | str = session.verify if verify is None else verify  # type: ignore[assignment]
        self._routes: dict[str, _Route] = {}
        install_log_filters()

    @property
    def session(self) -> requests.Session:
        return self._session

    def __call__(self, request: Request) -> Response:
        """Send one attempt. Raises :class:`TransportError` when no response arrives."""
        return self._exchange(request, via_session=False)

    def _send_token_request(self, request: Request) -> Response:
        """Send a token request, with the contracts of an attempt.

        On the session eemw created it goes through ``Session.send``, which requests'
        auto-instrumentation traces: a token fetch keeps a client span of its own, while
        eemw's attempts are traced by eemw itself. A caller's session is not used that way,
        since ``Session.send`` would store the token endpoint's cookies in it.
        """
        return self._exchange(request, via_session=self._owns_session)

    def _exchange(self, request: Request, *, via_session: bool) -> Response:
        url = request.url
        match = _ORIGIN.match(url)
        if match is None:
            raise ConnectError(f"{request.method} {redact_url(url)}: not an absolute http(s) URL")
        origin = match.group()
        route = self._routes.get(origin) or self._resolve(origin, url)
        headers = request.headers._items
        if _breaks("".join(headers.values())) or "".join(headers).strip(HEADER_NAME_CHARS):
            raise _bad_header(headers)
        pool = route.pool
        if pool is not None and pool.pool is None:
            route = self._resolve(origin, url)  # the adapter closed this pool; get its new one
            pool = route.pool
        timeout = request.timeout
        started = time.monotonic()
        alarm = None if timeout is None else WATCHDOG.arm(started + timeout + _WATCHDOG_GRACE)
        limits = AttemptTimeout(
            self.connect_timeout if timeout is None else min(timeout, self.connect_timeout),
            timeout, alarm,
        )
        try:
            if pool is not None and not via_session:
                sent = self._urlopen(pool, request, url[match.end():] or "/", limits)
            else:
                sent = self._send(route, request, limits, via_session)
            complete = False
            try:
                body, truncated, complete = read_body(
                    sent, request, started, self.max_body_bytes
                )
            finally:
                # Disarmed before the connection can go back to the pool: from here on the
                # watchdog cannot touch a socket another thread may check out.
                fired = alarm is not None and WATCHDOG.disarm(alarm)
                finish(sent, complete and not fired)
        except TransportError as error:
            if alarm is not None and WATCHDOG.disarm(alarm):
                raise too_slow(request) from error
            raise
        finally:
            if alarm is not None:
                WATCHDOG.disarm(alarm)
        if fired:
            # A shutdown mid-headers reads as their end: what arrived is not a response.
            raise too_slow(request)
        return Response(sent.status, Headers._of(sent.headers), body, request,
                        truncated=truncated)

    def _resolve(self, origin: str, url: str) -> _Route:
        # Session.request re-reads proxies and CA settings from the environment on every
        # call; one lookup per host is enough for a long-lived client.
        session = self._session
        try:
            settings = session.merge_environment_settings(
                url, {}, True, self._verify, session.cert
            )
            adapter = session.get_adapter(url)
        except (requests.RequestException, ValueError) as exc:
            raise ConnectError(
                f"cannot send to {redact_url(origin)} ({type(exc).__name__})"
            ) from exc
        proxies = dict(settings.get("proxies") or {})
        if is_loopback(urlsplit(url).hostname or ""):
            # Plain http with a token is allowed only because loopback never leaves the
            # machine; an environment proxy would carry the token off it.
            proxies = {}
        verify = settings["verify"]
        verify = True if verify is None else verify
        pool = None
        if type(adapter) is _Adapter and select_proxy(url, proxies) is None and "@" not in origin:
            probe = requests.PreparedRequest()
            probe.url = url
            try:
                pool = adapter.get_connection_with_tls_context(
                    probe, verify, proxies=proxies, cert=session.cert
                )
                # The TLS settings requests applies to the pool before every send: once is
                # enough. It raises OSError when the CA bundle named by ``verify`` is missing.
                adapter.cert_verify(pool, url, verify, session.cert)  # type: ignore[no-untyped-call]
            except (requests.RequestException, ValueError, OSError) as exc:
                raise ConnectError(
                    f"cannot connect to {redact_url(origin)} ({type(exc).__name__})"
                ) from exc
        route = _Route(adapter, proxies, verify, pool)
        self._routes[origin] = route
        return route

    def _urlopen(self, pool: Any, request: Request, target: str, limits: AttemptTimeout) -> Sent:
        try:
            raw = pool.urlopen(
                request.method, target, body=request.body, headers=request.headers._items,
                retries=_NO_RETRIES, redirect=False, assert_same_host=False, timeout=limits,
                preload_content=False, decode_content=True, release_conn=False,
            )
        except (Urllib3HTTPError, OSError) as exc:
            raise failure(exc, request, sent=not isinstance(exc, _NOT_SENT)) from exc
        received = {k.lower(): v for k, v in raw.headers.itermerged()}
        return Sent(raw.status, received, raw, detach(raw))

    def _send(
        self, route: _Route, request: Request, limits: AttemptTimeout, via_session: bool
    ) -> Sent:
        options: dict[str, Any] = {
            "stream": True, "timeout": limits, "verify": route.verify,
            "cert": self._session.cert, "proxies": route.proxies,
        }
        try:
            if via_session:
                prepared = _prepare(request)
                prepared.prepare_cookies(RequestsCookieJar())  # Session.send reads its jar
                sent = self._session.send(prepared, allow_redirects=False, **options)
            else:
                sent = route.adapter.send(_prepare(request), **options)
        except requests.RequestException as exc:
            raise _map_requests_error(exc, request) from exc
        received = {k.lower(): v for k, v in sent.headers.items()}
        raw = sent.raw
        return Sent(sent.status_code, received, raw, detach(raw))

    def close(self) -> None:
        """Close the pooled connections (only of a session this transport created).

        urllib3 2 no longer closes the pools a cleared pool manager drops, so the pools
        this transport holds are closed here too. A caller's session is left open: its
        pools stay usable by the caller.
        """
        routes, self._routes = self._routes, {}
        if not self._owns_session:
            return
        self._session.close()
        for route in routes.values():
            if route.pool is not None:
                route.pool.close()

    def google_auth_request(self) -> TokenRequest:
        """A ``google.auth.transport.Request`` that sends token requests through this transport.

        Token requests get every contract above: no redirect is followed (a 307 from a
        token endpoint would re-post the refresh token and client secret to wherever it
        points), an environment proxy never carries them off a loopback address, the body
        is capped, and the timeout google-auth passes bounds the whole exchange. Nothing
        is opened: closing this transport releases its connections.
        """
        from ._tokens import TokenRequest

        return TokenRequest(self)

    def __repr__(self) -> str:
        return f"<RequestsTransport max_body_bytes={self.max_body_bytes}>"


def _bad_header(headers: dict[str, str]) -> InvalidHeaderError:
    # Name the header, never its value: values carry tokens.
    name = next(
        (k for k, v in headers.items() if k.strip(HEADER_NAME_CHARS) or _breaks(v)), "?"
    )
    shown = name if not name.strip(HEADER_NAME_CHARS) else repr(name)
    return InvalidHeaderError(
        f"request header {shown} has a line break, NUL or other character HTTP forbids there"
    )


def _prepare(request: Request) -> requests.PreparedRequest:
    headers = CaseInsensitiveDict(request.headers._items)
    body = request.body
    if body is not None:
        headers["Content-Length"] = str(len(body))
    elif request.method in _BODY_METHODS:
        headers["Content-Length"] = "0"
    prepared = requests.PreparedRequest()
    prepared.method = request.method
    prepared.url = request.url
    prepared.headers = headers
    prepared.body = body
    prepared.hooks = {"response": []}
    return prepared


def _map_requests_error(exc: requests.RequestException, request: Request) -> TransportError:
    not_sent = isinstance(exc, (
        requests.ConnectTimeout, requests.exceptions.ProxyError,
        requests.exceptions.SSLError, requests.exceptions.InvalidURL,
    )) or (isinstance(exc, requests.ConnectionError) and _never_sent(exc))
    return failure(exc, request, sent=not not_sent, timed_out=isinstance(exc, requests.Timeout))


def _never_sent(exc: BaseException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, _NOT_SENT)


def _breaks(value: str) -> bool:
    """Whether a header value holds a line break or a NUL, which HTTP forbids there."""
    return "\r" in value or "\n" in value or "\x00" in value
