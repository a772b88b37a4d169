"""Credential discovery: what a client uses when it is given no credentials.

Only the client calls into this module; it is the one place eemw asks google-auth to look
for application default credentials, and the one place that builds the fallback session
for token refreshes when a client's transport has none of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import UsageError
from .middleware.auth import EARTHENGINE_SCOPE

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials

__all__ = ["RefreshSession", "default_credentials", "given_credentials"]


def given_credentials(
    credentials: ga_credentials.Credentials,
) -> tuple[ga_credentials.Credentials, str | None]:
    """``credentials`` checked to be google-auth credentials, and the project they name."""
    from google.auth.credentials import Credentials

    if not isinstance(credentials, Credentials):
        raise UsageError(
            f"credentials must be google-auth credentials, not {type(credentials).__name__}"
        )
    return credentials, getattr(credentials, "project_id", None)


def default_credentials() -> tuple[ga_credentials.Credentials, str | None]:
    """``google.auth.default()`` with the Earth Engine scope, and the project it names.

    Raises :class:`~eemw.UsageError` (its ``__cause__`` google-auth's error) when none are
    found.
    """
    import google.auth
    from google.auth import exceptions

    try:
        found, project = google.auth.default(scopes=[EARTHENGINE_SCOPE])
    except exceptions.DefaultCredentialsError as exc:
        raise UsageError(
            "no credentials given and none found by google.auth.default(): pass "
            "credentials=..., or run 'gcloud auth application-default login'"
        ) from exc
    return found, project


class RefreshSession:
    """Token refreshes for a transport that has no session of its own (e.g. MockTransport).

    One requests-based transport is made on the first refresh and reused after, so a client
    does not open a new connection pool per refresh; :meth:`close` releases it.
    """

    def __init__(self) -> None:
        self._transport: Any = None
        self._request: Any = None

    def __call__(self) -> Any:
        if self._request is None:
            from ._transport import RequestsTransport

            self._transport = RequestsTransport()
            self._request = self._transport.google_auth_request()
        return self._request

    def close(self) -> None:
        transport, self._transport, self._request = self._transport, None, None
        if transport is not None:
            transport.close()
