"""Configuration a deployment sets outside code: every environment variable eemw reads.

:data:`ENVIRONMENT` is the one list. The library and the ``eemw`` command read the same
names, and an argument given in code (or on the command line) always wins over the
environment. A value that cannot be used is a :class:`~eemw.UsageError` naming the
variable, raised when the client is built, before any network I/O.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ._errors import UsageError
from ._value import frozen

__all__ = ["ENVIRONMENT", "EnvVar", "env_attempts", "env_text", "env_timeout"]


@frozen
class EnvVar:
    """One environment variable eemw (or google-auth on its behalf) reads."""

    name: str
    meaning: str
    read_by: str = "eemw"

    def __init__(self, name: str, meaning: str, read_by: str = "eemw") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "meaning", meaning)
        object.__setattr__(self, "read_by", read_by)


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("EEMW_ENDPOINT", "The API endpoint, scheme and host only "
           "(default https://earthengine.googleapis.com)."),
    EnvVar("EEMW_API_VERSION", "The API version: v1 (default), v1beta or v1alpha."),
    EnvVar("EEMW_PROJECT", "The Cloud project whose operations calls address, when none is "
           "passed; then the credentials' project, then GOOGLE_CLOUD_PROJECT."),
    EnvVar("GOOGLE_CLOUD_PROJECT", "The project, when no other source names one."),
    EnvVar("GOOGLE_CLOUD_QUOTA_PROJECT", "The quota project sent as X-Goog-User-Project "
           "(read by google-auth into the credentials); default: the project.", "google-auth"),
    EnvVar("GOOGLE_APPLICATION_CREDENTIALS", "A credentials file for google.auth.default().",
           "google-auth"),
    EnvVar("EEMW_TIMEOUT", "The client-wide default deadline of get, list (per page), cancel "
           "and delete, in seconds (default 60); wait keeps its own default (600)."),
    EnvVar("EEMW_RETRY_ATTEMPTS", "The most attempts a call makes, the first included "
           "(default 5; 1 turns retries off), when no retry= policy is given."),
    EnvVar("EEMW_PLUGINS", "Installed plugins to enable, comma-separated, when plugins= is "
           "not given."),
    EnvVar("EEMW_PLUGIN_<NAME>_<KEY>", "A setting of an enabled plugin, e.g. "
           "EEMW_PLUGIN_RATELIMIT_QPS=50."),
    EnvVar("EEMW_DEBUG", "The eemw command prints a traceback for an unexpected error."),
)
"""Every environment variable eemw reads, in the order a reader meets them."""


def env_text(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value with surrounding spaces removed; ``None`` when unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def env_timeout(name: str, environ: Mapping[str, str] | None = None) -> float | None:
    """A number of seconds above 0 from ``name``, or ``None`` when unset."""
    text = env_text(name, environ)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"{name} must be a number of seconds above 0, not {text!r}")
    return seconds


def env_attempts(name: str, environ: Mapping[str, str] | None = None) -> int | None:
    """A whole number of attempts (at least 1) from ``name``, or ``None`` when unset."""
    text = env_text(name, environ)
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{name} must be a whole number of attempts, at least 1, not {text!r}")
    return int(text)
