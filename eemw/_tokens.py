"""How eemw sends google-auth's token requests: through the transport, inside a deadline.

:class:`TokenRequest` is the ``google.auth.transport.Request`` a :class:`RequestsTransport`
hands out: token requests then get the transport's contracts (no redirects, no
environment proxy to loopback, body cap, whole-exchange deadline, bounded name
resolution) and share its pooled connections. :class:`RefreshRequests` makes one for a
client whose own transport cannot (e.g. ``MockTransport``), and closes it.
:func:`refresh_within` is how the auth stage refreshes: the whole refresh, google-auth's own
retries included, inside an attempt's deadline (:class:`Bounded`), every failure typed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._errors import ConnectError, TransportError, UnauthenticatedError
from ._http import Call, Headers, Request
from ._net import secs

if TYPE_CHECKING:
    from ._transport import RequestsTransport

__all__ = [
    "Bounded",
    "NoTimeLeft",
    "RefreshRequests",
    "TokenEndpointBusy",
    "TokenRequest",
    "TokenResponse",
    "refresh_within",
]

# google-auth's own default for a token request that names no timeout.
_TOKEN_TIMEOUT = 120.0
# Token endpoint answers google-auth would retry after sleeping (its _can_retry rule).
_BUSY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BUSY_ERRORS = frozenset({"internal_failure", "server_error", "temporarily_unavailable"})


class TokenResponse:
    """A ``google.auth.transport.Response``: status, headers and the whole body."""

    __slots__ = ("data", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data


# Token requests name no operation; errors then name the token URL only (redacted).
_TOKEN_CALL = Call("get", "", "")


class TokenRequest:
    """google-auth's request callable, sending through a :class:`RequestsTransport`.

    Failures raise eemw's :class:`ConnectError` or :class:`ReadError`, which google-auth
    does not catch: they reach whoever called ``credentials.refresh``.
    """

    __slots__ = ("transport",)

    def __init__(self, transport: RequestsTransport) -> None:
        self.transport = transport

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 **kwargs: Any) -> TokenResponse:
        if isinstance(body, str):
            body = body.encode()
        elif isinstance(body, Mapping):
            body = urlencode(body).encode()
        request = Request(
            method.upper(), url, Headers(headers), _TOKEN_CALL, body,
            _TOKEN_TIMEOUT if timeout is None else float(timeout),
        )
        response = self.transport._send_token_request(request)
        return TokenResponse(response.status, response.headers, response.body)


class RefreshRequests:
    """Token requests for a client whose transport cannot send them (e.g. MockTransport).

    Called with no argument it gives a ``google.auth.transport.Request`` (what the auth
    stage's ``refresh_request`` expects); the :class:`RequestsTransport` behind it is made
    on the first call and closed by :meth:`close`.
    """

    def __init__(self) -> None:
        self._transport: RequestsTransport | None = None

    def __call__(self) -> TokenRequest:
        if self._transport is None:
            from ._transport import RequestsTransport

            self._transport = RequestsTransport()
        return self._transport.google_auth_request()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


class NoTimeLeft(Exception):
    """The attempt's deadline passed before a token request could start."""


class TokenEndpointBusy(Exception):
    """The token endpoint answered with a failure google-auth would sleep and retry."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Bounded:
    """A google-auth transport request that keeps every token request inside a deadline.

    Each request may use only the time left (google-auth otherwise allows 120 s per
    request), none starts once the deadline has passed, and an answer google-auth would
    retry after sleeping ends the refresh at once: retrying is the retry stage's job,
    which knows the call's deadline.
    """

    __slots__ = ("_deadline", "_inner")

    def __init__(self, inner: Any, deadline: float | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Any = None, timeout: float | None = None, **kwargs: Any) -> Any:
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise NoTimeLeft
            timeout = left if timeout is None else min(timeout, left)
        response = self._inner(url, method=method, body=body, headers=headers,
                               timeout=timeout, **kwargs)
        status = getattr(response, "status", 200)
        if status != 200 and _busy(status, getattr(response, "data", b"")):
            raise TokenEndpointBusy(status)
        return response


def _busy(status: int, data: object) -> bool:
    if status in _BUSY_STATUSES:
        return True
    try:
        reply = json.loads(data) if isinstance(data, (bytes, str)) else None
    except ValueError:
        return False
    if not isinstance(reply, dict):
        return False
    return any(reply.get(key) in _BUSY_ERRORS for key in ("error", "error_description"))


# --- one refresh, its failures typed -------------------------------------------------------

_REFRESH_ERROR_CHARS = 200
# What google-auth raises on a token reply that is not a JSON object of the right shape
# (it indexes a string or a list, or makes a timedelta of a dict).
_MALFORMED_REPLY = TypeError


def refresh_within(
    credentials: Any, request: Any, deadline: float | None, timeout: float | None, why: str
) -> str:
    """Refresh ``credentials`` over ``request`` before ``deadline``; the new token.

    Raises :class:`ConnectError` when nothing reached the API and trying again may work
    (no time left, token endpoint unreachable, timed out or answering 429/5xx), and
    :class:`UnauthenticatedError` when the grant is refused or the reply is not a token.
    Messages quote the token endpoint's answer at most, never what was sent to it.
    """
    from google.auth import exceptions as ga_exceptions

    name = type(credentials).__name__
    try:
        credentials.refresh(Bounded(request, deadline))
    except NoTimeLeft as exc:
        raise ConnectError(
            f"the attempt timeout of {secs(timeout)} passed while refreshing the credentials {why}"
        ) from exc
    except TokenEndpointBusy as exc:
        # Nothing reached the API: the retry stage may try again, as for a refused
        # connection, instead of google-auth sleeping past the call's deadline.
        raise ConnectError(
            f"the token endpoint failed temporarily while refreshing the credentials {why} ({exc})"
        ) from exc
    except ga_exceptions.RefreshError as exc:
        if not getattr(exc, "retryable", False):
            raise _unauthenticated(name, why, _quoted(exc)) from exc
        raise ConnectError(
            f"the token endpoint failed temporarily while refreshing the credentials {why}"
            f" ({_quoted(exc)})"
        ) from exc
    except TransportError as exc:
        # eemw's own transport: its message names the (redacted) URL and what failed.
        raise ConnectError(
            f"the token request failed while refreshing the credentials {why}: {exc}"
        ) from exc
    except ga_exceptions.TransportError as exc:
        raise ConnectError(
            f"could not reach the token endpoint to refresh the credentials {why} ({_quoted(exc)})"
        ) from exc
    except _MALFORMED_REPLY as exc:
        raise _unauthenticated(
            name, why, f"the token endpoint's answer is not a token reply ({type(exc).__name__})"
        ) from exc
    except (ga_exceptions.GoogleAuthError, ValueError, KeyError, OSError) as exc:
        raise _unauthenticated(name, why, _quoted(exc)) from exc
    token = credentials.token
    if not token:
        raise UnauthenticatedError(
            f"the credentials ({name}) produced no token on refresh",
            http_status=401, rpc_status="UNAUTHENTICATED",
        )
    return str(token)


def _unauthenticated(name: str, why: str, what: str) -> UnauthenticatedError:
    return UnauthenticatedError(
        f"could not refresh the credentials ({name}) {why}: {what}",
        http_status=401, rpc_status="UNAUTHENTICATED",
    )


def _quoted(exc: Exception) -> str:
    # google-auth puts the token endpoint's answer (``invalid_grant: …``) or its own
    # explanation first; it never holds what was sent, so a bounded excerpt is safe.
    # Other exceptions may say anything: name their type only.
    from google.auth.exceptions import GoogleAuthError

    # Here, not at the top: eemw.middleware's own stages import this module.
    from .middleware.check import safe_text

    first = exc.args[0] if exc.args else None
    text = ""
    if isinstance(exc, GoogleAuthError) and isinstance(first, str):
        text = safe_text(first, _REFRESH_ERROR_CHARS)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name

