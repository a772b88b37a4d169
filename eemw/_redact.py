"""Redaction of secrets before they reach a log line, a span or an error message.

The one place that knows what a secret looks like in a URL (:func:`redact_url`) and in the
DEBUG records of the libraries eemw drives (:func:`install_log_filters`); the transport, the
auth stage and tracing all use it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "RedactGoogleAuthRequests",
    "RedactUrls",
    "install_log_filters",
    "redact_url",
]

REDACTED = "REDACTED"

# Query keys that carry credentials in Google and cloud URLs (compared lower-cased).
_SECRET_KEYS = frozenset({
    "access_token", "token", "key", "api_key", "apikey", "sig", "signature",
    "x-goog-signature", "x-goog-credential", "awsaccesskeyid", "x-amz-signature",
    "x-amz-credential", "x-amz-security-token", "client_secret", "refresh_token", "id_token",
    "assertion", "code", "password",
})


def redact_url(url: str) -> str:
    """``url`` with user:password and the values of credential query keys replaced.

    Follows the OpenTelemetry ``url.full`` guidance: credentials in the authority become
    ``REDACTED:REDACTED`` and sensitive query values become ``REDACTED``. Every other part
    of the URL is kept exactly as it was. The fragment is treated like the query (OAuth
    implicit flows put tokens there). A URL too broken to parse becomes ``REDACTED``: this
    function never raises, since it runs while reporting some other failure.
    """
    if "@" not in url and "?" not in url and "#" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}:{REDACTED}@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((
        parts.scheme, netloc, parts.path, _redact_params(parts.query),
        _redact_params(parts.fragment),
    ))


def _redact_params(text: str) -> str:
    # Split by hand rather than parse_qsl/urlencode, which would re-encode the other
    # parameters and so change what the log line shows.
    if not text:
        return text
    fields = text.split("&")
    for i, pair in enumerate(fields):
        key, sep, _ = pair.partition("=")
        if sep and unquote_plus(key).strip().lower() in _SECRET_KEYS:
            fields[i] = f"{key}={REDACTED}"
    return "&".join(fields)


# --- log records of the libraries eemw drives ------------------------------------------------

_URLLIB3_LOGGER = "urllib3.connectionpool"
# google-auth's own DEBUG log of each token request it makes (a structured ``httpRequest``).
_GOOGLE_AUTH_LOGGER = "google.auth.transport.requests"
_CREDENTIAL_FIELDS = frozenset({
    "assertion", "client_assertion", "subject_token", "actor_token", "code",
    "code_verifier", "password", "refresh_token", "client_secret", "access_token", "id_token",
})
_CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-goog-api-key", "cookie",
})
_install_lock = threading.Lock()


class RedactUrls(logging.Filter):
    """Redacts URLs in urllib3's DEBUG records, which print each request target in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(a) if isinstance(a, str) and ("?" in a or "@" in a) else a
                for a in record.args
            )
        return True


class RedactGoogleAuthRequests(logging.Filter):
    """Redacts credentials in google-auth's DEBUG records of the token requests it makes.

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


def install_log_filters() -> None:
    """Add the redacting filters to urllib3's and google-auth's loggers, once per process.

    Called when a transport or an auth stage is built, never on import: importing eemw
    leaves every logger as it found it. Calling it again adds nothing.
    """
    with _install_lock:
        for name, kind in ((_URLLIB3_LOGGER, RedactUrls),
                           (_GOOGLE_AUTH_LOGGER, RedactGoogleAuthRequests)):
            logger = logging.getLogger(name)
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())
