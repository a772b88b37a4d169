"""Credential discovery: what a client uses when it is given no credentials.

Only the client calls into this module; it is the one place eemw asks google-auth to look
for application default credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import UsageError
from .middleware.auth import EARTHENGINE_SCOPE

if TYPE_CHECKING:
    from google.auth import credentials as ga_credentials

__all__ = ["default_credentials", "given_credentials"]


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
