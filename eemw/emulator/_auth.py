"""Access tokens, scope checks, and the OAuth 2.0 token endpoint (refresh-token, JWT-bearer)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._clock import Clock

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa
from ._wire import ApiError, Reply, error_info, json_reply

EE_SCOPE = "https://www.googleapis.com/auth/earthengine"
"""The Earth Engine scope the emulator's token endpoint grants and accepts."""
CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The cloud-platform scope the emulator's token endpoint grants and accepts."""
API_SCOPES = frozenset({EE_SCOPE, CLOUD_SCOPE})
DEFAULT_GRANTED_SCOPES = (EE_SCOPE, CLOUD_SCOPE)
# google-auth puts Google's own endpoint in `aud` whatever token_uri says, so accept both.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Assertions carry wall-clock iat/exp made by the client; tolerate the usual skew.
_JWT_SKEW = 300.0
_MAX_JWT_LIFETIME = 3600.0
_PURGE_AT = 50_000
_REALM = 'Bearer realm="https://accounts.google.com/"'


@dataclass(frozen=True, slots=True)
class _Token:
    scopes: frozenset[str]
    expires_at: float


class TokenStore:
    """Issued access tokens; their expiry runs on the emulator clock so tests can age them."""

    def __init__(self, clock: Clock, lifetime: float) -> None:
        self._clock = clock
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self, scopes: Iterable[str], lifetime: float | None = None) -> tuple[str, float]:
        seconds = self.lifetime if lifetime is None else lifetime
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            if len(self._tokens) >= _PURGE_AT:
                self._purge()
            self._tokens[token] = _Token(frozenset(scopes), self._clock.now() + seconds)
        return token, seconds

    def expire_all(self) -> None:
        with self._lock:
            self._tokens = {k: _Token(t.scopes, float("-inf")) for k, t in self._tokens.items()}

    def check(self, authorization: str | None) -> None:
        """Raise 401/403 unless the header carries a live token with an Earth Engine scope."""
        token = _bearer(authorization)
        entry = self._tokens.get(token)
        if entry is None:
            raise _unauthenticated(
                "ACCESS_TOKEN_TYPE_UNSUPPORTED", "The access token is not valid."
            )
        if entry.expires_at <= self._clock.now():
            raise _unauthenticated("ACCESS_TOKEN_EXPIRED", "The access token has expired.")
        if not entry.scopes & API_SCOPES:
            raise _insufficient_scope()

    def _purge(self) -> None:
        now = self._clock.now()
        self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _unauthenticated(
            "CREDENTIALS_MISSING",
            "Request is missing required authentication credential. Expected OAuth 2 access token.",
            invalid_token=False,
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthenticated(
            "ACCESS_TOKEN_TYPE_UNSUPPORTED", "Expected an 'Authorization: Bearer <token>' header."
        )
    return token


def _unauthenticated(reason: str, why: str, *, invalid_token: bool = True) -> ApiError:
    challenge = _REALM + (', error="invalid_token"' if invalid_token else "")
    return ApiError(
        "UNAUTHENTICATED",
        f"Request had invalid authentication credentials. {why}",
        details=[error_info(reason)],
        headers=(("WWW-Authenticate", challenge),),
    )


def _insufficient_scope() -> ApiError:
    needed = " or ".join(sorted(API_SCOPES))
    challenge = f'{_REALM}, error="insufficient_scope", scope="{" ".join(sorted(API_SCOPES))}"'
    return ApiError(
        "PERMISSION_DENIED",
        f"Request had insufficient authentication scopes. Earth Engine needs {needed}.",
        details=[error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT")],
        headers=(("WWW-Authenticate", challenge),),
    )


# -- service account ---------------------------------------------------------------------------


class ServiceAccount:
    """An RSA-keyed service account; the key is made on first use (keygen takes tens of ms)."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.email = f"eemw-emulator@{project}.iam.gserviceaccount.com"
        self.key_id = secrets.token_hex(20)
        self.client_id = str(secrets.randbelow(10**20)).zfill(21)
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = _crypto().rsa.generate_private_key(
                    public_exponent=65537, key_size=2048
                )
            return self._key

    def info(self, token_uri: str) -> dict[str, str]:
        serialization = _crypto().serialization
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self.key_id,
            "private_key": pem.decode("ascii"),
            "client_email": self.email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }


class _Crypto:
    """The pieces of cryptography the service-account flow uses, imported on first use."""

    def __init__(self) -> None:
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
        except ImportError as exc:
            raise RuntimeError(
                "the emulator's service-account flow needs cryptography: "
                "pip install 'eemw[emulator]'"
            ) from exc
        self.InvalidSignature = InvalidSignature
        self.hashes, self.serialization = hashes, serialization
        self.padding, self.rsa = padding, rsa


_CRYPTO: list[_Crypto] = []


def _crypto() -> _Crypto:
    # Only service-account flows need it: user credentials work without the extra.
    if not _CRYPTO:
        _CRYPTO.append(_Crypto())
    return _CRYPTO[0]


class _GrantError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (binascii.Error, ValueError):
        raise _GrantError(
            "invalid_grant", "Invalid JWT: a segment is not base64url JSON."
        ) from None
    if not isinstance(value, dict):
        raise _GrantError("invalid_grant", "Invalid JWT: a segment is not a JSON object.")
    return value


def verify_assertion(
    assertion: str, account: ServiceAccount, audiences: frozenset[str]
) -> dict[str, Any]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _GrantError("invalid_grant", "Invalid JWT: expected three dot-separated segments.")
    header, claims = _json_segment(parts[0]), _json_segment(parts[1])
    if header.get("alg") != "RS256" or header.get("kid", account.key_id) != account.key_id:
        raise _GrantError("invalid_grant", "Invalid JWT Signature.")
    crypto = _crypto()
    try:
        account.private_key.public_key().verify(
            _b64decode(parts[2]),
            f"{parts[0]}.{parts[1]}".encode("ascii"),
            crypto.padding.PKCS1v15(),
            crypto.hashes.SHA256(),
        )
    except (crypto.InvalidSignature, binascii.Error, ValueError):
        raise _GrantError("invalid_grant", "Invalid JWT Signature.") from None
    _check_claims(claims, account, audiences)
    return claims


def _check_claims(
    claims: Mapping[str, Any], account: ServiceAccount, audiences: frozenset[str]
) -> None:
    if claims.get("iss") != account.email:
        raise _GrantError(
            "invalid_grant", "Invalid JWT: iss is not this emulator's service account."
        )
    if claims.get("aud") not in audiences:
        raise _GrantError("invalid_grant", "Invalid JWT: aud is not this token endpoint.")
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
        raise _GrantError("invalid_grant", "Invalid JWT: iat and exp are required numbers.")
    if iat > now + _JWT_SKEW or exp < now - _JWT_SKEW or exp - iat > _MAX_JWT_LIFETIME + _JWT_SKEW:
        raise _GrantError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe.",
        )


# -- token endpoint ----------------------------------------------------------------------------


class TokenEndpoint:
    """POST /token: the two grants google-auth's user and service-account credentials use."""

    def __init__(self, tokens: TokenStore, project: str) -> None:
        self.tokens = tokens
        self.client_id = (
            f"{secrets.randbelow(10**12):012d}-eemw-emulator.apps.googleusercontent.com"
        )
        self.client_secret = "GOCSPX-" + secrets.token_urlsafe(21)
        self.service_account = ServiceAccount(project)
        self.token_uri = ""
        self._lock = threading.Lock()
        self._refresh_tokens: dict[str, frozenset[str]] = {}

    def new_refresh_token(self, granted_scopes: Iterable[str]) -> str:
        token = "1//emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[token] = frozenset(granted_scopes)
        return token

    def handle(self, method: str, content_type: str, body: bytes) -> Reply:
        try:
            if method != "POST":
                raise _GrantError("invalid_request", "The token endpoint only accepts POST.", 405)
            form = _parse_form(content_type, body)
            scopes = self._grant(form)
        except _GrantError as err:
            return json_reply(
                {"error": err.error, "error_description": err.description}, err.status
            )
        token, lifetime = self.tokens.issue(scopes)
        reply = {
            "access_token": token,
            "expires_in": int(lifetime),
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        }
        return json_reply(reply, 200, (("Cache-Control", "no-store"), ("Pragma", "no-cache")))

    def _grant(self, form: Mapping[str, str]) -> frozenset[str]:
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == JWT_GRANT_TYPE:
            return self._jwt_grant(form)
        raise _GrantError("unsupported_grant_type", f"Invalid grant_type: {grant_type!r}.")

    def _refresh_grant(self, form: Mapping[str, str]) -> frozenset[str]:
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise _GrantError("invalid_client", "The OAuth client was not found.", 401)
        with self._lock:
            granted = self._refresh_tokens.get(form.get("refresh_token", ""))
        if granted is None:
            raise _GrantError("invalid_grant", "Token has been expired or revoked.")
        requested = frozenset(form.get("scope", "").split())
        if requested - granted:
            raise _GrantError("invalid_scope", "The requested scopes exceed those granted.")
        return requested or granted

    def _jwt_grant(self, form: Mapping[str, str]) -> frozenset[str]:
        audiences = frozenset({self.token_uri, GOOGLE_TOKEN_URI})
        claims = verify_assertion(form.get("assertion", ""), self.service_account, audiences)
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise _GrantError("invalid_scope", "Empty or missing scope not allowed.")
        return scopes


def _parse_form(content_type: str, body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _GrantError("invalid_request", "The request body is not UTF-8.") from None
    if content_type.split(";", maxsplit=1)[0].strip().lower() == "application/json":
        try:
            value = json.loads(text)
        except ValueError:
            raise _GrantError("invalid_request", "The request body is not JSON.") from None
        if not isinstance(value, dict):
            raise _GrantError("invalid_request", "The request body is not a JSON object.")
        return {str(k): str(v) for k, v in value.items()}
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
