"""The auth stage: google-auth credentials, Earth Engine scopes, and the bearer header.

Per attempt it adds the credentials' headers (``Authorization: Bearer …``) and
``X-Goog-User-Project``. Which scopes a call needs comes from one table,
:data:`REQUIRED_SCOPES`, read per call kind: credentials that can be scoped get the
missing scope added; credentials that cannot be scoped but report their scopes are
checked, a missing scope is warned about (:class:`MissingScopeWarning`) and named again if
the server answers 403. Tokens are refreshed ahead of expiry (google-auth's threshold),
one refresh at a time across threads, and a 401 triggers one refresh and one re-send.

A refresh happens inside the attempt's deadline: the token requests, the wait for another
thread's refresh and google-auth's own retries all end by then. A refresh that cannot
finish in time, or whose token endpoint is unreachable or answers 429/5xx, raises
:class:`~eemw.ConnectError` (nothing reached the API, so the retry stage may try again,
and turns it into :class:`~eemw.DeadlineExceededError` once the call's deadline has
passed); google-auth's sleeping retries are cut short for the same reason. A token
endpoint that answers with something that is not a token (HTML, an empty body, a JSON
array, a malformed ``expires_in``), or refuses the grant, raises
:class:`~eemw.UnauthenticatedError`.

A token is never sent over plain http except to a loopback address, and never appears in
a log line, span, repr or error message: errors quote the token endpoint's answer at most,
never what was sent to it, and google-auth's own DEBUG records of token requests have
their credential fields redacted (:func:`eemw._redact.install_log_filters`, installed when
a stage is built).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import urlsplit

from .._errors import (
    ConnectError,
    InsecureTransportError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from .._http import CallKind, ContextKey, Request, Response
from .._net import is_loopback, secs
from .._pipeline import Handler
from .._redact import install_log_filters, redact_url
from .._tokens import refresh_within

if TYPE_CHECKING:
    # Imported for types only: at run time google.auth.credentials pulls in asyncio,
    # which `import eemw` should not pay for before a client exists.
    from google.auth import credentials as ga_credentials

__all__ = [
    "CALLER_AUTHORIZED",
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
"""The Earth Engine OAuth scope, added to credentials that accept scopes."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The cloud-platform OAuth scope; Earth Engine accepts it in place of the earthengine scope."""
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

CALLER_AUTHORIZED: ContextKey[bool] = ContextKey("eemw.caller_authorized", False)
"""True when the request already carries its sender's own ``Authorization`` (e.g.
earthengine-api's credentials): the stage MUST then add only ``X-Goog-User-Project``,
never a second token, and leave a 401 to that sender."""

_SCOPE_REASON = "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
_SAFE_ORIGINS_MAX = 256
_LIVE: weakref.WeakSet[Auth] = weakref.WeakSet()


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
    when the credentials cannot be refreshed (the grant is refused or the reply is not a
    token) or a re-sent request gets a second 401; :class:`~eemw.ConnectError` when the
    token endpoint cannot be reached, answers 429/5xx, or the refresh (or the wait for
    another thread's) cannot finish within the attempt's timeout.

    :meth:`close` closes ``refresh_request`` when it has a ``close`` method (e.g.
    :class:`eemw._transport.RefreshRequests`); the client calls it when it closes.
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
        _LIVE.add(self)
        _watch_forks()
        # The scheme+authority of http URLs already found to be loopback: per stage, bounded.
        self._safe_origins: set[str] = set()
        # Per call kind, the table entry the credentials were last scoped for.
        self._scoped_for: dict[str, Sequence[str]] = {}
        self.refreshes = 0
        """How many times the stage refreshed the credentials."""
        install_log_filters()
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
        url = request.url
        if request.context.get(CALLER_AUTHORIZED):
            if url[:8].lower() != "https://":
                self._refuse_insecure(url)  # the sender's token deserves the same care
            return call_next(self._with_quota(request))
        if self._anonymous:
            return call_next(self._with_quota(request))
        if url[:8].lower() != "https://":
            self._refuse_insecure(url)
        accepted = self._accepted(request.call.kind)
        timeout = request.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        token = self._token(deadline, timeout)
        try:
            return self._send(request, token, accepted, call_next)
        except UnauthenticatedError:
            # The token may have been revoked or expired early: refresh once, re-send once.
            fresh = self._token(deadline, timeout, stale=token)
            if fresh == token:
                raise
        return self._send(request, fresh, accepted, call_next)

    def _refuse_insecure(self, url: str) -> None:
        # The verdict depends only on scheme and authority: one parse per origin, not per call.
        key = "/".join(url.split("/", 3)[:3])
        if key in self._safe_origins:
            return
        _check_origin(url)
        if len(self._safe_origins) < _SAFE_ORIGINS_MAX:
            self._safe_origins.add(key)

    def close(self) -> None:
        """Close what the stage's ``refresh_request`` opened, if it can be closed."""
        close = getattr(self._refresh_request, "close", None)
        if close is not None:
            close()

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

    def _token(
        self, deadline: float | None, timeout: float | None, stale: str | None = None
    ) -> str:
        """A valid token other than ``stale``, refreshing under the lock when needed."""
        token = _usable_token(self._credentials, stale)
        if token is not None:
            return token
        # Waiting for another thread's refresh uses this caller's own time left, no more.
        wait = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._lock.acquire(timeout=min(wait, threading.TIMEOUT_MAX)):
            raise ConnectError(
                f"gave up after {secs(timeout)} waiting for another thread's token refresh"
            )
        try:
            # Another thread may have refreshed while this one waited for the lock.
            token = _usable_token(self._credentials, stale)
            if token is None:
                token = self._refresh(after_401=stale is not None, deadline=deadline,
                                      timeout=timeout)
        finally:
            self._lock.release()
        return token

    def _refresh(self, *, after_401: bool, deadline: float | None, timeout: float | None) -> str:
        credentials = self._credentials
        why = "after the server rejected the token (401)" if after_401 else "before sending"
        token = refresh_within(credentials, self._refresh_request(), deadline, timeout, why)
        self.refreshes += 1
        logger.debug("refreshed credentials (%s) %s", type(credentials).__name__, why)
        return token

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


def _check_origin(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and is_loopback(host):
        return
    raise InsecureTransportError(
        f"refusing to send credentials to {host!r} over {parts.scheme or 'a non-https URL'}: "
        "use https, or a loopback address (127.0.0.1, ::1, localhost) for a local emulator"
    )


def _reset_after_fork() -> None:
    # A lock some other thread held at the fork would stay held in the child forever.
    for stage in list(_LIVE):
        stage._lock = threading.Lock()


@functools.cache
def _watch_forks() -> None:
    # Once per process, when the first stage is built: importing eemw registers nothing.
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_after_fork)
