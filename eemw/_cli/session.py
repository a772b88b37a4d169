"""The global options and the client (and, with ``--emulator``, the emulator) they make."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._client import DEFAULT_ENDPOINT, Client
from .._credentials import default_credentials
from .._errors import EemwError, UsageError
from .._net import is_loopback
from ..middleware.auth import EARTHENGINE_SCOPE
from ..middleware.retry import RetryPolicy
from .seed import seed_demo
from .verbose import http_log

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = [
    "EMULATOR_PROJECT", "SetupError", "Settings", "is_loopback", "open_client",
    "show_log_records",
]

EMULATOR_PROJECT = "demo"

class SetupError(UsageError):
    """The global options cannot make a client (bad credentials file, unknown plugin, …)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The global options, wherever they were given on the command line."""

    project: str | None = None
    endpoint: str | None = None
    api_version: str = "v1"
    credentials: str | None = None
    quota_project: str | None = None
    plugins: tuple[str, ...] | None = None
    json: bool = False
    emulator: bool = False
    timeout: float | None = None
    retry_attempts: int | None = None
    verbose: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        plugins = getattr(args, "plugins", None)
        return cls(
            project=getattr(args, "project", None),
            endpoint=getattr(args, "endpoint", None),
            api_version=getattr(args, "api_version", "v1"),
            credentials=getattr(args, "credentials", None),
            quota_project=getattr(args, "quota_project", None),
            plugins=None if plugins is None else tuple(_split(plugins)),
            json=getattr(args, "json", False),
            emulator=getattr(args, "emulator", False),
            timeout=getattr(args, "client_timeout", None),
            retry_attempts=getattr(args, "retry_attempts", None),
            verbose=getattr(args, "verbose", False),
        )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@contextlib.contextmanager
def open_client(settings: Settings, *, need_credentials: bool = True) -> Iterator[Client]:
    """A client for the options; with ``--emulator``, one bound to a fresh embedded emulator.

    Raises :class:`SetupError` when the options cannot make a client. Without
    ``need_credentials`` (``eemw stack``) anonymous credentials stand in when none are given,
    so describing the stack never needs a login.
    """
    if settings.emulator:
        if settings.endpoint or settings.credentials:
            raise SetupError("--emulator runs its own server: drop --endpoint and --credentials")
        with embedded_emulator() as emu, _client(settings, emu.url, emu.credentials()) as client:
            yield client
        return
    credentials, found_project = _load_credentials(settings.credentials, need_credentials)
    endpoint = settings.endpoint or DEFAULT_ENDPOINT
    with _client(settings, endpoint, credentials, found_project) as client:
        yield client


def _client(
    settings: Settings, endpoint: str, credentials: Any, found_project: str | None = None
) -> Client:
    project = settings.project or found_project
    if settings.emulator:
        project = project or EMULATOR_PROJECT
    # None leaves the client to read EEMW_TIMEOUT and EEMW_RETRY_ATTEMPTS, as a library
    # user's client does: the command and the library share one set of variable names.
    attempts = settings.retry_attempts
    try:
        return Client(
            project,
            endpoint=endpoint,
            api_version=settings.api_version,
            credentials=credentials,
            quota_project=settings.quota_project,
            plugins=settings.plugins,
            timeout=settings.timeout,
            retry=None if attempts is None else RetryPolicy(max_attempts=attempts),
            middleware=[http_log()] if settings.verbose else (),
        )
    except EemwError as error:
        raise SetupError(str(error)) from error


def _load_credentials(path: str | None, needed: bool) -> tuple[Any, str | None]:
    """Credentials and the project they name, from ``path`` or application defaults."""
    import google.auth
    from google.auth import exceptions

    if path is None:
        if not needed:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials(), None  # type: ignore[no-untyped-call]
        try:
            return default_credentials()
        except UsageError as error:
            # The library's message names credentials=; a CLI user needs the flags.
            raise SetupError(
                "no credentials: pass --credentials FILE, set GOOGLE_APPLICATION_CREDENTIALS, "
                "or run 'gcloud auth application-default login' (or try --emulator)"
            ) from error.__cause__
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
        found, project = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
            info, scopes=[EARTHENGINE_SCOPE]
        )
    except (exceptions.GoogleAuthError, OSError, ValueError) as error:
        # google-auth's messages name the problem, never a key or secret.
        raise SetupError(f"cannot load credentials from {path}: {error}") from error
    return _local_token_uri(found, info), project


def _local_token_uri(credentials: Any, info: Any) -> Any:
    # google-auth pins authorized-user files to Google's token endpoint, so a file cannot
    # send its refresh token elsewhere. A loopback token_uri can only be a local emulator
    # (`eemw emulator --credentials-file`), which is where the user means to send it.
    uri = info.get("token_uri") if isinstance(info, dict) else None
    if info.get("type") != "authorized_user" or not isinstance(uri, str):
        return credentials
    parts = urlsplit(uri)
    if parts.scheme != "http" or not is_loopback(parts.hostname or ""):
        return credentials
    return credentials.with_token_uri(uri)


@contextlib.contextmanager
def embedded_emulator() -> Iterator[Emulator]:
    """A running emulator on loopback with a realtime clock, seeded in project ``demo``."""
    from ..emulator import Emulator

    with Emulator(realtime=True, default_project=EMULATOR_PROJECT) as emu:
        seed_demo(emu)
        yield emu


def check_project(client: Client) -> str:
    """The client's project, or a usage error saying how to give one."""
    if client.project is None:
        raise UsageError("no project: pass --project, or set GOOGLE_CLOUD_PROJECT")
    return client.project


def show_log_records() -> None:
    """Show INFO records on stderr, one message a line, when logging is not configured.

    A plugin that reports through logging (an audit trail) would otherwise write nowhere
    from a command: Python drops INFO records while no handler is set up. The command
    never names a plugin or its logger; a program that configured logging keeps its own
    handlers, untouched.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
