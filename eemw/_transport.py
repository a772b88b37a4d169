"""The HTTP transport on requests: the only module of eemw that imports requests.

``RequestsTransport`` sends one attempt and returns what came back. Its contracts:

* It never retries: urllib3's retries are off and the retry stage owns retrying, so a
  dropped connection is one attempt at the server.
* It never follows redirects: a 3xx comes back as a :class:`Response`.
* It reads at most ``max_body_bytes`` of a (decoded) body; a longer body comes back cut
  to that size with ``Response.truncated`` set, and the connection is discarded.
* The attempt's ``timeout`` is a total deadline for the exchange: it is the read timeout
  of each socket read, the body is read in a loop that stops once it has passed, and on
  the pooled path a watchdog shuts the socket down at the deadline, so a server trickling
  its headers or body cannot hold an attempt open.
* Every requests/urllib3/socket failure becomes :class:`ConnectError` (the request was
  not sent) or :class:`ReadError` (it may have reached the server), with the original
  exception chained as ``__cause__``.

Per-call work is kept small. Environment proxies, CA bundle and adapter settings are
resolved once per scheme and host, not on every call as ``Session.request`` does. When
the session's adapter for a host is a stock :class:`~requests.adapters.HTTPAdapter` and
no proxy applies, attempts go straight to that adapter's urllib3 connection pool (the
pool ``adapter.send`` would use, with the same TLS settings), skipping requests'
response building and cookie extraction; any other adapter is called through its
``send``, as requests itself would.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.response import HTTPResponse
from urllib3.util import Retry, Timeout

from ._errors import (
    ConnectError,
    InvalidHeaderError,
    ReadError,
    TransportError,
    UsageError,
)
from ._errors import ConnectTimeoutError as ConnectTimedOut
from ._errors import ReadTimeoutError as AttemptTimedOut
from ._http import Headers, Request, Response
from ._net import is_loopback
from ._redact import redact_url
from ._watchdog import WATCHDOG, tracked

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestsTransport"]

logger = logging.getLogger("eemw.transport")


class _RedactUrls(logging.Filter):
    """Redacts URLs in urllib3's DEBUG records, which print each request target in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(a) if isinstance(a, str) and ("?" in a or "@" in a) else a
                for a in record.args
            )
        return True


# Installed once, on import: eemw's own requests go through this logger.
logging.getLogger("urllib3.connectionpool").addFilter(_RedactUrls())

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
_CHUNK = 256 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The scheme and authority of a URL: everything a route (adapter, proxy, pool) depends on.
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_UNSAFE_VALUE = re.compile(r"[\r\n\x00]")
_UNSAFE_NAME = re.compile(r"[^!#$%&'*+.^_`|~0-9A-Za-z-]")
# urllib3 failures that happen before any byte of the request is written.
_NOT_SENT = (
    NewConnectionError, ConnectTimeoutError, SSLError, ProxyError, ClosedPoolError, EmptyPoolError,
)
_TIMEOUTS = (ReadTimeoutError, TimeoutError, requests.Timeout)
# What urlopen makes of retries=False on every call (no retries, redirects returned as
# responses), built once: Retry values are immutable.
_NO_RETRIES = Retry(total=False, redirect=False)
_WATCHDOG_GRACE = 0.1
_UNKNOWN: Any = object()


class _Route(NamedTuple):
    """How to reach one scheme+host: resolved once, reused by every attempt."""

    adapter: BaseAdapter
    proxies: dict[str, str]
    verify: bool | str
    pool: Any  # the adapter's urllib3 pool for the fast path, else None


class RequestsTransport:
    """Sends requests through one pooled :class:`requests.Session`.

    ``session``: your own session. Its mounted adapters, ``proxies``, ``verify``,
    ``cert`` and ``trust_env`` are used (settings are read once per host, when the host
    is first called); its headers, cookies, auth and hooks are not, since the stack
    supplies what a call needs. eemw never closes a session it did not create. A stock
    ``HTTPAdapter``'s pool is used directly, without its ``max_retries``; any other
    adapter's ``send`` is called, so what that adapter does (retries included) applies.
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
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
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

    @property
    def session(self) -> requests.Session:
        return self._session

    def __call__(self, request: Request) -> Response:
        """Send one attempt. Raises :class:`TransportError` when no response arrives."""
        url = request.url
        match = _ORIGIN.match(url)
        if match is None:
            raise ConnectError(f"{request.method} {redact_url(url)}: not an absolute http(s) URL")
        origin = match.group()
        route = self._routes.get(origin) or self._resolve(origin, url)
        headers = request.headers._items
        if _UNSAFE_VALUE.search("".join(headers.values())) or _UNSAFE_NAME.search("".join(headers)):
            raise _bad_header(headers)
        timeout = request.timeout
        connect = self.connect_timeout if timeout is None else min(timeout, self.connect_timeout)
        started = time.monotonic()
        pool = route.pool
        if pool is not None and pool.pool is None:
            route = self._resolve(origin, url)  # the adapter closed this pool; get its new one
            pool = route.pool
        if pool is not None:
            return self._pooled(pool, request, url[match.end():] or "/", connect, started)
        sent = self._adapter_send(route, request, connect)
        received = {k.lower(): v for k, v in sent.headers.items()}
        body, truncated = self._read(sent.raw, request, started, "content-encoding" in received)
        return Response(sent.status_code, Headers._of(received), body, request, truncated=truncated)

    def _pooled(
        self, pool: Any, request: Request, target: str, connect: float, started: float
    ) -> Response:
        timeout = request.timeout
        # Socket timeouts bound each read; the watchdog bounds the whole exchange, headers
        # included, by shutting the socket down at the attempt's deadline.
        # A little after the deadline, so an ordinary socket read timeout reports first.
        alarm = None if timeout is None else WATCHDOG.arm(started + timeout + _WATCHDOG_GRACE)
        try:
            raw = self._urlopen(pool, request, target, connect)
            received = {k.lower(): v for k, v in raw.headers.itermerged()}
            body, truncated = self._read(raw, request, started, "content-encoding" in received)
        except TransportError as error:
            if alarm is not None and alarm.fired:
                raise _too_slow(request) from error
            raise
        finally:
            if alarm is not None:
                WATCHDOG.disarm(alarm)
        if alarm is not None and alarm.fired:
            # A shutdown mid-headers reads as their end: what arrived is not a response.
            raise _too_slow(request)
        return Response(raw.status, Headers._of(received), body, request, truncated=truncated)

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
        connect = getattr(adapter, "get_connection_with_tls_context", None)
        if (
            type(adapter) is HTTPAdapter
            and connect is not None
            and select_proxy(url, proxies) is None
            and "@" not in origin
        ):
            probe = requests.PreparedRequest()
            probe.url = url
            try:
                pool = connect(probe, verify, proxies=proxies, cert=session.cert)
                # The TLS settings requests applies to the pool before every send: once is
                # enough. It raises OSError when the CA bundle named by ``verify`` is missing.
                adapter.cert_verify(pool, url, verify, session.cert)  # type: ignore[no-untyped-call]
            except (requests.RequestException, ValueError, OSError) as exc:
                raise ConnectError(
                    f"cannot connect to {redact_url(origin)} ({type(exc).__name__})"
                ) from exc
        if pool is not None and not getattr(pool.ConnectionCls, "_eemw_tracked", False):
            pool.ConnectionCls = tracked(pool.ConnectionCls)
        route = _Route(adapter, proxies, verify, pool)
        self._routes[origin] = route
        return route

    def _urlopen(self, pool: Any, request: Request, target: str, connect: float) -> Any:
        try:
            return pool.urlopen(
                request.method, target, body=request.body, headers=request.headers._items,
                retries=_NO_RETRIES, redirect=False, assert_same_host=False,
                timeout=Timeout(connect=connect, read=request.timeout),
                preload_content=False, decode_content=True, release_conn=False,
            )
        except (Urllib3HTTPError, OSError) as exc:
            raise _failure(exc, request, sent=not isinstance(exc, _NOT_SENT)) from exc

    def _adapter_send(
        self, route: _Route, request: Request, connect: float
    ) -> requests.Response:
        try:
            return route.adapter.send(
                _prepare(request),
                stream=True,
                timeout=(connect, request.timeout),  # type: ignore[arg-type]
                verify=route.verify,
                cert=self._session.cert,
                proxies=route.proxies,
            )
        except requests.RequestException as exc:
            raise _map_requests_error(exc, request) from exc

    def _read(
        self, raw: Any, request: Request, started: float, encoded: bool
    ) -> tuple[bytes, bool]:
        """Read the body up to the cap, within the attempt's total timeout.

        The connection goes back to the pool only after a complete, uncut body; otherwise
        it is closed, so no later attempt can read this response's leftovers.
        """
        limit = self.max_body_bytes
        timeout = request.timeout
        deadline = None if timeout is None else started + timeout
        read = _reader(raw)
        # urllib3 hands the connection back once the body's last byte is read; with no
        # decoder holding bytes back, that ends the body without one more (empty) read.
        releases = not encoded and isinstance(raw, HTTPResponse)
        chunks: list[bytes] = []
        size = 0
        complete = False
        try:
            while size <= limit:
                chunk = read(min(_CHUNK, limit + 1 - size))
                if not chunk:
                    complete = True
                    break
                chunks.append(chunk)
                size += len(chunk)
                if releases and raw.connection is None and size <= limit:
                    complete = True
                    break
                if deadline is not None:
                    _check_deadline(raw, request, deadline)
        except (Urllib3HTTPError, requests.RequestException, OSError) as exc:
            raise _failure(exc, request, sent=True, reading=True) from exc
        finally:
            _finish(raw, complete)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if size > limit:
            return body[:limit], True
        return body, False

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

    def google_auth_request(self) -> Any:
        """A ``google.auth.transport.Request`` that refreshes tokens over this session.

        It never follows a redirect: a 307 from a token endpoint would re-post the refresh
        token and client secret to wherever it points.
        """
        from google.auth.transport.requests import Request as AuthRequest

        class NoRedirects(AuthRequest):
            def __call__(self, url: str, method: str = "GET", body: Any = None,
                         headers: Any = None, timeout: Any = None, **kwargs: Any) -> Any:
                kwargs["allow_redirects"] = False
                if is_loopback(urlsplit(url).hostname or ""):
                    # As for API calls: an environment proxy must not carry the refresh
                    # token off the machine (None values drop requests' env proxies).
                    kwargs.setdefault("proxies", {"http": None, "https": None})
                if timeout is None:
                    return super().__call__(  # type: ignore[no-untyped-call]
                        url, method, body, headers, **kwargs
                    )
                return super().__call__(  # type: ignore[no-untyped-call]
                    url, method, body, headers, timeout, **kwargs
                )

        return NoRedirects(self._session)

    def __repr__(self) -> str:
        return f"<RequestsTransport max_body_bytes={self.max_body_bytes}>"


def _too_slow(request: Request) -> ReadError:
    return AttemptTimedOut(
        f"{request.method} {redact_url(request.url)}: no complete response within the "
        f"attempt timeout of {_secs(request.timeout)}",
        operation=request.call.name,
    )


def _bad_header(headers: dict[str, str]) -> InvalidHeaderError:
    # Name the header, never its value: values carry tokens.
    name = next(
        (k for k, v in headers.items() if _UNSAFE_NAME.search(k) or _UNSAFE_VALUE.search(v)),
        "?",
    )
    shown = name if not _UNSAFE_NAME.search(name) else repr(name)
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


def _reader(raw: Any) -> Callable[[int], bytes]:
    read: Callable[..., bytes] = getattr(raw, "read1", None) or raw.read
    if isinstance(raw, HTTPResponse):
        # requests asks urllib3 for undecoded bytes; eemw wants the JSON, gzip or not.
        return partial(read, decode_content=True)
    return read


def _check_deadline(raw: Any, request: Request, deadline: float) -> None:
    # A server that trickles bytes never trips the per-read socket timeout, so the total
    # is checked between reads and the next read may wait only for the time left.
    connection = getattr(raw, "connection", _UNKNOWN)
    if connection is None:
        return  # urllib3 released it: the whole body is in, no read will wait any more
    left = deadline - time.monotonic()
    if left <= 0:
        raise AttemptTimedOut(
            f"{request.method} {redact_url(request.url)}: the response body did not "
            f"arrive within the attempt timeout of {_secs(request.timeout)}",
            operation=request.call.name,
        )
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(left)


def _finish(raw: Any, complete: bool) -> None:
    if not complete:
        raw.close()
    release = getattr(raw, "release_conn", None)
    if release is not None:
        release()


def _failure(
    exc: BaseException, request: Request, *, sent: bool, reading: bool = False
) -> TransportError:
    where = f"{request.method} {redact_url(request.url)}"
    op = request.call.name
    if not sent:
        # One timeout base class for every limit: a connect timeout is both kinds.
        kind = ConnectTimedOut if isinstance(exc, requests.ConnectTimeout) else ConnectError
        return kind(f"{where}: could not connect ({_root(exc)})", operation=op)
    if isinstance(exc, _TIMEOUTS):
        what = "the response body did not arrive" if reading else "no response"
        return AttemptTimedOut(
            f"{where}: {what} within the attempt timeout of {_secs(request.timeout)}",
            operation=op,
        )
    if reading:
        return ReadError(
            f"{where}: the connection failed while reading the response ({_root(exc)})",
            operation=op,
        )
    return ReadError(f"{where}: the connection failed after sending ({_root(exc)})", operation=op)


def _map_requests_error(exc: requests.RequestException, request: Request) -> TransportError:
    not_sent = isinstance(exc, (
        requests.ConnectTimeout, requests.exceptions.ProxyError,
        requests.exceptions.SSLError, requests.exceptions.InvalidURL,
    )) or (isinstance(exc, requests.ConnectionError) and _never_sent(exc))
    return _failure(exc, request, sent=not not_sent)


def _never_sent(exc: BaseException) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, _NOT_SENT)


def _root(exc: BaseException) -> str:
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return type(exc).__name__


def _secs(timeout: float | None) -> str:
    return "none" if timeout is None else f"{timeout:.3g}s"
