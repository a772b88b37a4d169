"""Redaction of URLs before they reach a log line, a span or an error message."""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = ["REDACTED", "redact_url"]

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
