"""The auth stage: google-auth credentials, Earth Engine scopes, and the bearer header.

Per attempt it adds the credentials' headers (``Authorization: Bearer …``) and
``X-Goog-User-Project``. Which scopes a call needs comes from one table,
:data:`REQUIRED_SCOPES`, read per call kind: credentials that can be scoped get the
missing scope added; credentials that cannot be scoped but report their scopes are
checked, a missing scope is warned about (:class:`MissingScopeWarning`) and named again if
the server answers 403. Tokens are refreshed ahead of expiry (google-auth's threshold),
one refresh at a time across threads, and a 401 triggers one refresh and one re-send.

A token is never sent over plain http except to a loopback address, and never appears in
a log line, span, repr or error message: errors quote the token endpoint's answer at most,
never what was sent to it, and google-auth's own DEBUG records of the token requests it
makes for eemw have their credential fields redacted.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import urlsplit

from google.auth import exceptions as ga_exceptions

from .._errors import (
    ConnectError,
    InsecureTransportError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from .._http import CallKind, Request, Response
from .._net import is_loopback
from .._pipeline import Handler
from .._redact import REDACTED, redact_url
from .check import safe_text

if TYPE_CHECKING:
    # Imported for types only: at run time google.auth.credentials pulls in asyncio,
    # which `import eemw` should not pay for before a client exists.
    from google.auth import credentials as ga_credentials

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_SCOPES",
    "EARTHENGINE_SCOPE",
    "REQUIRED_SCOPES",
    "Auth",
    "MissingScopeWarning",
    "ensure_scopes",
]

logger = logging.getLogger("eemw.auth")

EARTHENGINE_SCOPE = "https://www.googleapis.com/auth/earthengine"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_SCOPES: tuple[str, ...] = (EARTHENGINE_SCOPE, CLOUD_PLATFORM_SCOPE)
"""What every Earth Engine operations call accepts; the first is the one injected."""

REQUIRED_SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    kind: DEFAULT_SCOPES for kind in get_args(CallKind)
})
"""Per call kind, the scopes of which a token needs at least one; the first is injected.

The read-only default table (a kind missing from a table falls back to
:data:`DEFAULT_SCOPES`). A client takes its own: ``Client(scopes={**REQUIRED_SCOPES,
"cancel": (MY_SCOPE,)})``, passed to its auth stage as ``required_scopes``.
"""

_SCOPE_REASON = "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
_REFRESH_ERROR_CHARS = 200
# What google-auth's own DEBUG log of a token request may show in clear (it hashes a few
# fields, but not a service account's signed assertion, an STS subject token or headers).
_GOOGLE_AUTH_LOGGER = "google.auth.transport.requests"
_CREDENTIAL_FIELDS = frozenset({
    "assertion", "client_assertion", "subject_token", "actor_token", "code",
    "code_verifier", "password", "refresh_token", "client_secret", "access_token", "id_token",
})
_CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-goog-api-key", "cookie",
})
_install_lock = threading.Lock()


class MissingScopeWarning(UserWarning):
    """Credentials that cannot be re-scoped report scopes without an accepted one."""


def ensure_scopes(
    credentials: ga_credentials.Credentials, accepted: Sequence[str] = DEFAULT_SCOPES
) -> ga_credentials.Credentials:
    """Credentials that carry one of ``accepted`` scopes, when that can be arranged.

    Scopable credentials (``google.auth.credentials.Scoped``) that require scopes, or whose
    scopes include none of ``accepted``, are copied with ``accepted[0]`` added to their
    scopes; ones that already carry an accepted scope are returned as they are. Credentials
    that cannot be scoped are returned unchanged; if they report scopes and none is
    accepted, a :class:`MissingScopeWarning` names the scope to request.
    """
    if not accepted:
        return credentials
    scopes = _known_scopes(credentials)
    from google.auth.credentials import Scoped

    scopable = isinstance(credentials, Scoped)
    needs_scopes = scopable and bool(credentials.requires_scopes)  # type: ignore[attr-defined]
    if not needs_scopes and scopes is not None and not scopes.isdisjoint(accepted):
        return credentials
    if needs_scopes or (scopable and scopes is not None):
        try:
            return _with_scope(credentials, accepted[0])
        except NotImplementedError:
            pass  # a Scoped class that refuses to be re-scoped: check it like any other
    if scopes is not None:
        warnings.warn(
            f"eemw: the credentials ({type(credentials).__name__}) carry the scopes "
            f"{sorted(scopes)} but none of {list(accepted)}, and cannot be re-scoped; "
            f"Earth Engine will answer 403 PERMISSION_DENIED. Create them with the "
            f"{accepted[0]} scope.",
            MissingScopeWarning,
            stacklevel=_caller_stacklevel(),
        )
    return credentials


def _with_scope(credentials: Any, scope: str) -> ga_credentials.Credentials:
    scoped: ga_credentials.Credentials = credentials.with_scopes(
        [*(credentials.scopes or ()), scope], default_scopes=credentials.default_scopes
    )
    return scoped


def _known_scopes(credentials: object) -> frozenset[str] | None:
    """The scopes the credentials report (as ``has_scopes`` reads them), if any."""
    for attribute in ("scopes", "default_scopes", "granted_scopes"):
        scopes = getattr(credentials, attribute, None)
        if isinstance(scopes, str):
            scopes = scopes.split()
        if scopes:
            return frozenset(scopes)
    return None


def _caller_stacklevel() -> int:
    # Point the warning at the first frame outside eemw: the line that built the client.
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and _in_eemw(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def _in_eemw(module: str) -> bool:
    return module == "eemw" or module.startswith("eemw.")


class Auth:
    """Adds credentials to each attempt (attempt phase).

    ``credentials``: any google-auth credentials; ``AnonymousCredentials`` send no
    ``Authorization``. ``refresh_request`` makes the ``google.auth.transport.Request``
    used to refresh tokens (called once per refresh). ``quota_project`` is sent as
    ``X-Goog-User-Project`` on every attempt (``None``: only what the credentials apply).
    ``required_scopes`` replaces :data:`REQUIRED_SCOPES` for this stage.

    Raises :class:`~eemw.InsecureTransportError` before any I/O when a token would go
    over plain http to a host that is not loopback; :class:`~eemw.UnauthenticatedError`
    when the credentials cannot be refreshed or a re-sent request gets a second 401;
    :class:`~eemw.ConnectError` when the token endpoint cannot be reached.
    """

    def __init__(
        self,
        credentials: ga_credentials.Credentials,
        *,
        refresh_request: Callable[[], Any],
        quota_project: str | None = None,
        required_scopes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._credentials = credentials
        self._refresh_request = refresh_request
        self._quota_project = quota_project
        self._table: Mapping[str, Sequence[str]] = (
            REQUIRED_SCOPES if required_scopes is None else required_scopes
        )
        from google.auth.credentials import AnonymousCredentials

        self._anonymous = isinstance(credentials, AnonymousCredentials)
        self._applied: tuple[str, dict[str, str]] | None = None
        self._lock = threading.Lock()
        # Per call kind, the table entry the credentials were last scoped for.
        self._scoped_for: dict[str, Sequence[str]] = {}
        self.refreshes = 0
        """How many times the stage refreshed the credentials."""
        _redact_google_auth_log()
        if not self._anonymous:
            for kind in list(self._table):
                self._accepted(kind)

    @property
    def credentials(self) -> ga_credentials.Credentials:
        """The credentials in use (scoped for Earth Engine when they could be)."""
        return self._credentials

    @property
    def quota_project(self) -> str | None:
        return self._quota_project

    def __call__(self, request: Request, call_next: Handler) -> Response:
        if self._anonymous:
            return call_next(self._with_quota(request))
        _refuse_insecure(request.url)
        accepted = self._accepted(request.call.kind)
        token = self._token(request.timeout)
        try:
            return self._send(request, token, accepted, call_next)
        except UnauthenticatedError:
            # The token may have been revoked or expired early: refresh once, re-send once.
            fresh = self._token(request.timeout, stale=token)
            if fresh == token:
                raise
        return self._send(request, fresh, accepted, call_next)

    def _send(
        self, request: Request, token: str, accepted: Sequence[str], call_next: Handler
    ) -> Response:
        cached = self._applied
        if cached is not None and cached[0] == token:
            headers = cached[1]
        else:
            # apply() re-reads the environment on every call; its result only changes
            # with the token. One tuple, replaced whole, so threads never see a mix.
            headers = {}
            self._credentials.apply(headers, token=token)  # type: ignore[no-untyped-call]
            if self._quota_project is not None:
                headers["x-goog-user-project"] = self._quota_project
            self._applied = (token, headers)
        try:
            return call_next(request.with_headers(headers))
        except PermissionDeniedError as error:
            if not _lacks_scope(error):
                raise
            raise self._explain_scope(error, accepted) from error

    def _with_quota(self, request: Request) -> Request:
        if self._quota_project is None:
            return request
        return request.with_header("X-Goog-User-Project", self._quota_project)

    def _accepted(self, kind: str) -> Sequence[str]:
        """The table's scopes for ``kind``, re-scoping the credentials when it changed."""
        accepted = self._table.get(kind) or DEFAULT_SCOPES
        if self._scoped_for.get(kind) is not accepted:
            with self._lock:
                # Scoping once per distinct entry keeps one warning for one missing scope.
                if accepted not in self._scoped_for.values():
                    self._credentials = ensure_scopes(self._credentials, accepted)
                self._scoped_for[kind] = accepted
        return accepted

    def _token(self, timeout: float | None, stale: str | None = None) -> str:
        """A valid token other than ``stale``, refreshing under the lock when needed."""
        token = _usable_token(self._credentials, stale)
        if token is not None:
            return token
        wait = -1 if timeout is None else min(max(timeout, 0.0), threading.TIMEOUT_MAX)
        if not self._lock.acquire(timeout=wait):
            raise ConnectError(
                f"gave up after {timeout:.3g}s waiting for another thread's token refresh"
            )
        try:
            # Another thread may have refreshed while this one waited for the lock.
            token = _usable_token(self._credentials, stale)
            if token is None:
                token = self._refresh(after_401=stale is not None, timeout=timeout)
        finally:
            self._lock.release()
        return token

    def _refresh(self, *, after_401: bool, timeout: float | None) -> str:
        credentials = self._credentials
        why = "after the server rejected the token (401)" if after_401 else "before sending"
        request = _Bounded(self._refresh_request(), timeout)
        try:
            credentials.refresh(request)  # type: ignore[no-untyped-call]
        except ga_exceptions.RefreshError as exc:
            if not getattr(exc, "retryable", False):
                raise self._refresh_failed(credentials, why, exc) from exc
            # A 5xx or 429 from the token endpoint: nothing reached the API, so the retry
            # stage may try again, exactly as for a refused connection.
            raise ConnectError(
                f"the token endpoint{_token_url(credentials)} failed temporarily while "
                f"refreshing the credentials {why} ({_refresh_failure(exc)})"
            ) from exc
        except ga_exceptions.TransportError as exc:
            raise ConnectError(
                f"could not reach the token endpoint{_token_url(credentials)} to refresh the "
                f"credentials {why} ({type(exc).__name__})"
            ) from exc
        except (ga_exceptions.GoogleAuthError, ValueError, KeyError, OSError) as exc:
            raise self._refresh_failed(credentials, why, exc) from exc
        self.refreshes += 1
        logger.debug("refreshed credentials (%s) %s", type(credentials).__name__, why)
        token = credentials.token
        if not token:
            raise UnauthenticatedError(
                f"the credentials ({type(credentials).__name__}) produced no token on refresh",
                http_status=401, rpc_status="UNAUTHENTICATED",
            )
        return str(token)

    @staticmethod
    def _refresh_failed(credentials: object, why: str, exc: Exception) -> UnauthenticatedError:
        return UnauthenticatedError(
            f"could not refresh the credentials ({type(credentials).__name__}) {why}: "
            f"{_refresh_failure(exc)}",
            http_status=401, rpc_status="UNAUTHENTICATED",
        )

    def _explain_scope(
        self, error: PermissionDeniedError, accepted: Sequence[str]
    ) -> PermissionDeniedError:
        have = _known_scopes(self._credentials)
        carried = f"; the credentials carry {sorted(have)}" if have else ""
        alternatives = "".join(f" (or {scope})" for scope in accepted[1:])
        message = (
            f"{error.message} The token lacks the {accepted[0]} scope{alternatives} that "
            f"this call needs{carried}."
        )
        return type(error)(
            message,
            http_status=error.http_status, rpc_status=error.rpc_status, reason=error.reason,
            details=error.details, retry_after=error.retry_after,
            operation=error.operation, call=error.call,
        )

    def __repr__(self) -> str:
        return (
            f"Auth(credentials={type(self._credentials).__name__}, "
            f"quota_project={self._quota_project!r})"
        )


def _token_url(credentials: object) -> str:
    """`` <url>`` of the credentials' token endpoint, when they name one (never a secret)."""
    url = getattr(credentials, "token_uri", None) or getattr(credentials, "_token_uri", None)
    return f" {redact_url(url)}" if isinstance(url, str) and url else ""


def _usable_token(credentials: ga_credentials.Credentials, stale: str | None) -> str | None:
    # ``valid`` is false from google-auth's refresh threshold before expiry, not at it.
    token = credentials.token
    if token and token != stale and credentials.valid:
        return str(token)
    return None


def _lacks_scope(error: PermissionDeniedError) -> bool:
    return error.reason == _SCOPE_REASON or (
        "insufficient authentication scopes" in error.message.lower()
    )


def _refresh_failure(exc: Exception) -> str:
    # google-auth puts the token endpoint's answer (``invalid_grant: …``) or its own
    # explanation first; it never holds what was sent, so a bounded excerpt is safe.
    # Other exceptions may say anything: name their type only.
    first = exc.args[0] if exc.args else None
    text = ""
    if isinstance(exc, ga_exceptions.GoogleAuthError) and isinstance(first, str):
        text = safe_text(first, _REFRESH_ERROR_CHARS)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _refuse_insecure(url: str) -> None:
    if url[:8].lower() == "https://":
        return
    # The verdict depends only on scheme and authority: one parse per origin, not per call.
    origin = url.split("/", 3)[:3]
    key = "/".join(origin)
    if key in _SAFE_ORIGINS:
        return
    _check_origin(url)
    if len(_SAFE_ORIGINS) < 256:
        _SAFE_ORIGINS.add(key)


_SAFE_ORIGINS: set[str] = set()


def _check_origin(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and is_loopback(host):
        return
    raise InsecureTransportError(
        f"refusing to send credentials to {host!r} over {parts.scheme or 'a non-https URL'}: "
        "use https, or a loopback address (127.0.0.1, ::1, localhost) for a local emulator"
    )


class _RedactGoogleAuthLog(logging.Filter):
    """Redacts credentials in google-auth's DEBUG records of the requests it makes.

    With the ``google`` logger at DEBUG, google-auth logs each token request's body and
    headers as a structured ``httpRequest`` attribute; a JSON log formatter would print a
    service account's signed JWT assertion (good for an hour of access tokens) and any
    ``Authorization`` header. The record is kept, with those values replaced.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        http = getattr(record, "httpRequest", None)
        if isinstance(http, Mapping):
            record.httpRequest = {
                **http,
                "body": _redacted(http.get("body"), _CREDENTIAL_FIELDS),
                "headers": _redacted(http.get("headers"), _CREDENTIAL_HEADERS),
            }
        return True


def _redacted(values: object, secret: frozenset[str]) -> object:
    if not isinstance(values, Mapping):
        return values
    return {k: REDACTED if str(k).lower() in secret else v for k, v in values.items()}


def _redact_google_auth_log() -> None:
    logger = logging.getLogger(_GOOGLE_AUTH_LOGGER)
    with _install_lock:
        if not any(isinstance(f, _RedactGoogleAuthLog) for f in logger.filters):
            logger.addFilter(_RedactGoogleAuthLog())


class _Bounded:
    """A google-auth transport request whose timeout never exceeds the attempt's time left.

    google-auth otherwise uses its own 120 s default for the token request, which would let
    a slow token endpoint hold a call far past its deadline.
    """

    __slots__ = ("_inner", "_timeout")

    def __init__(self, inner: Any, timeout: float | None) -> None:
        self._inner = inner
        self._timeout = timeout

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Any = None, timeout: float | None = None, **kwargs: Any) -> Any:
        if self._timeout is not None:
            timeout = self._timeout if timeout is None else min(timeout, self._timeout)
        return self._inner(url, method=method, body=body, headers=headers, timeout=timeout,
                           **kwargs)
