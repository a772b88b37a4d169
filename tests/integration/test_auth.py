"""The auth stage with google-auth's real flows against the emulator over loopback.

Service-account credentials do a JWT-bearer grant and user credentials a refresh-token
grant at the emulator's token endpoint; the emulator checks every bearer token and its
scopes, so these tests see on the wire what a real server would.
"""

from __future__ import annotations

import datetime
import socket
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from google.auth import _helpers as ga_helpers
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

import eemw
from eemw.emulator import Emulator, Fault
from eemw.middleware.auth import EARTHENGINE_SCOPE, MissingScopeWarning

STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
FAST_RETRY = eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def make_client(emu: Emulator, credentials: Any, **kwargs: Any) -> eemw.Client:
    options: dict[str, Any] = {
        "endpoint": emu.url, "credentials": credentials, "retry": FAST_RETRY,
        "sleep": emu.advance,
    }
    options.update(kwargs)
    return eemw.Client("demo", **options)


def api_requests(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if r.path.startswith("/v1")]


def bearer_tokens(emu: Emulator) -> list[str]:
    return [r.headers.get("Authorization", "") for r in api_requests(emu)]


def service_account_creds(emu: Emulator, scopes: list[str] | None = None) -> Any:
    return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        emu.service_account_info(), scopes=scopes
    )


def user_creds(token: str | None, **kwargs: Any) -> Any:
    return user_credentials.Credentials(token, **kwargs)  # type: ignore[no-untyped-call]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- real flows ---------------------------------------------------------------------------


def test_service_account_credentials_get_the_scope_and_a_token_by_jwt_grant(
    emu: Emulator,
) -> None:
    name = emu.add_operation(state="RUNNING")
    with make_client(emu, service_account_creds(emu)) as client:
        assert client.credentials.scopes == [EARTHENGINE_SCOPE]  # type: ignore[attr-defined]
        assert client.operations.get(name).name == name
        client.operations.get(name)
    stats = emu.stats
    assert stats["token_requests"] == 1 and stats["tokens_issued"] == 1
    assert stats["unauthenticated"] == stats["permission_denied"] == 0
    tokens = bearer_tokens(emu)
    assert len(tokens) == 2 and tokens[0] == tokens[1] and tokens[0].startswith("Bearer ")


def test_service_account_credentials_with_another_scope_get_earth_engine_added(
    emu: Emulator,
) -> None:
    name = emu.add_operation(state="RUNNING")
    with make_client(emu, service_account_creds(emu, [STORAGE_SCOPE])) as client:
        scopes = client.credentials.scopes  # type: ignore[attr-defined]
        assert scopes == [STORAGE_SCOPE, EARTHENGINE_SCOPE]
        client.operations.get(name)
    assert emu.stats["permission_denied"] == 0


def test_refresh_token_user_credentials_work_for_every_call(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    other = emu.add_operation(state="RUNNING")
    with make_client(emu, emu.credentials()) as client:
        client.operations.get(name)
        assert [op.name for op in client.operations.list()] == [other, name]  # newest first
        client.operations.cancel(name)
        client.operations.delete(other)
        assert client.operations.wait(name, timeout=5).cancelled
    assert emu.stats["token_requests"] == 1
    assert len(set(bearer_tokens(emu))) == 1
    assert emu.stats["unauthenticated"] == emu.stats["permission_denied"] == 0


@pytest.mark.parametrize("expire", ["clock", "revoke"])
def test_a_token_that_expires_mid_run_is_refreshed_after_one_401(
    expire: str,
) -> None:
    with Emulator(token_lifetime=600) as emu:
        name = emu.add_operation(state="RUNNING")
        with make_client(emu, emu.credentials()) as client:
            client.operations.get(name)
            if expire == "clock":
                emu.advance(601)  # past the token's lifetime on the server's clock only
            else:
                emu.expire_tokens()
            assert client.operations.get(name).name == name
        tokens = bearer_tokens(emu)
        assert emu.stats["unauthenticated"] == 1
        assert emu.stats["token_requests"] == 2
    assert len(tokens) == 3
    assert tokens[0] == tokens[1] != tokens[2], "the 401 was re-sent with a new token"


def test_a_token_near_expiry_is_refreshed_before_sending(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    with make_client(emu, emu.credentials()) as client:
        client.operations.get(name)
        # Inside google-auth's refresh threshold: still accepted by the server, but due.
        client.credentials.expiry = (
            ga_helpers.utcnow() + datetime.timedelta(seconds=60)  # type: ignore[no-untyped-call]
        )
        client.operations.get(name)
    tokens = bearer_tokens(emu)
    assert tokens[0] != tokens[1]
    assert emu.stats["unauthenticated"] == 0, "refreshed ahead of expiry, not after a 401"


def test_concurrent_calls_on_fresh_credentials_share_one_refresh(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    workers = 8
    start = threading.Barrier(workers)
    errors: list[BaseException] = []
    with make_client(emu, service_account_creds(emu)) as client:

        def get() -> None:
            start.wait()
            try:
                client.operations.get(name)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=get) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert emu.stats["token_requests"] == 1
    assert len(set(bearer_tokens(emu))) == 1 and len(bearer_tokens(emu)) == workers


# --- failures -----------------------------------------------------------------------------


def test_a_second_401_surfaces_as_unauthenticated(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    emu.add_fault(Fault(status=401, times=2))
    with make_client(emu, emu.credentials()) as client, pytest.raises(
        eemw.UnauthenticatedError
    ):
        client.operations.get(name)
    tokens = bearer_tokens(emu)
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert emu.stats["token_requests"] == 2


@pytest.mark.parametrize("how", ["bare token", "token with scopes", "refresh grant"])
def test_a_token_without_an_earth_engine_scope_is_a_403_naming_the_scope(
    emu: Emulator, how: str
) -> None:
    name = emu.add_operation(state="RUNNING")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if how == "refresh grant":
            creds = emu.credentials(granted_scopes=[STORAGE_SCOPE])
        else:
            token = emu.issue_token(scopes=(STORAGE_SCOPE,))
            creds = user_creds(token, scopes=[STORAGE_SCOPE] if how != "bare token" else None)
        client = make_client(emu, creds)
    warned = [w for w in caught if issubclass(w.category, MissingScopeWarning)]
    assert len(warned) == (1 if how == "token with scopes" else 0)
    with client, pytest.raises(eemw.PermissionDeniedError) as error:
        client.operations.get(name)
    assert f"lacks the {EARTHENGINE_SCOPE} scope" in str(error.value)
    assert error.value.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    if how == "token with scopes":
        assert STORAGE_SCOPE in str(error.value), "says what the credentials carry"
    assert emu.stats["permission_denied"] == 1, "a 403 is not retried"


def test_revoked_refresh_credentials_are_unauthenticated_without_secrets(
    emu: Emulator,
) -> None:
    info = emu.authorized_user_info()
    creds = user_creds(
        None, refresh_token="1//revoked-refresh-token", token_uri=info["token_uri"],
        client_id=info["client_id"], client_secret=info["client_secret"],
    )
    with make_client(emu, creds) as client, pytest.raises(eemw.UnauthenticatedError) as error:
        client.operations.get(emu.add_operation())
    message = str(error.value)
    assert "invalid_grant" in message
    for secret in ("1//revoked-refresh-token", info["client_secret"]):
        assert secret not in message and secret not in repr(error.value)
    assert api_requests(emu) == [], "nothing was sent without a token"


def test_an_unreachable_token_endpoint_is_a_connect_error(emu: Emulator) -> None:
    info = emu.authorized_user_info()
    creds = user_creds(
        None, refresh_token=info["refresh_token"],
        token_uri=f"http://127.0.0.1:{closed_port()}/token",
        client_id=info["client_id"], client_secret=info["client_secret"],
    )
    with make_client(emu, creds) as client, pytest.raises(eemw.ConnectError, match="token"):
        client.operations.get(emu.add_operation(), retry=eemw.RetryPolicy.none())
    assert api_requests(emu) == []


# --- quota project ------------------------------------------------------------------------


def user_projects(emu: Emulator) -> list[str | None]:
    return [r.headers.get("X-Goog-User-Project") for r in api_requests(emu)]


@pytest.mark.parametrize(("explicit", "on_credentials", "expected"), [
    ("billing-explicit", "billing-creds", "billing-explicit"),
    (None, "billing-creds", "billing-creds"),
    (None, None, "demo"),
])
def test_the_quota_project_is_explicit_else_the_credentials_else_the_project(
    emu: Emulator, explicit: str | None, on_credentials: str | None, expected: str
) -> None:
    name = emu.add_operation(state="RUNNING")
    creds = emu.credentials()
    if on_credentials is not None:
        creds = creds.with_quota_project(on_credentials)
    with make_client(emu, creds, quota_project=explicit) as client:
        client.operations.get(name)
        client.operations.cancel(name)
    assert user_projects(emu) == [expected, expected]
    assert emu.stats["user_projects"] == {expected: 2}


def test_every_retried_attempt_carries_the_token_and_quota_project(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    emu.add_fault(Fault(status=503, times=2))
    with make_client(emu, emu.credentials()) as client:
        client.operations.get(name)
    tokens = bearer_tokens(emu)
    assert len(tokens) == 3 and len(set(tokens)) == 1 and tokens[0].startswith("Bearer ")
    assert user_projects(emu) == ["demo"] * 3


# --- plain http ---------------------------------------------------------------------------


def test_no_token_goes_over_plain_http_to_a_remote_host(emu: Emulator) -> None:
    with make_client(
        emu, emu.credentials(), endpoint="http://earthengine.googleapis.com"
    ) as client, pytest.raises(eemw.InsecureTransportError):
        client.operations.get("projects/demo/operations/x")
    assert emu.stats["requests"] == 0, "refused before any I/O, even the token refresh"


def test_localhost_over_plain_http_is_allowed(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    endpoint = f"http://localhost:{emu.port}"
    with make_client(emu, emu.credentials(), endpoint=endpoint) as client:
        assert client.operations.get(name).name == name


def test_anonymous_credentials_send_no_authorization(emu: Emulator) -> None:
    name = emu.add_operation(state="RUNNING")
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    with make_client(emu, anonymous) as client, pytest.raises(eemw.UnauthenticatedError):
        client.operations.get(name)
    assert [r.headers.get("Authorization") for r in api_requests(emu)] == [None]
    assert emu.stats["token_requests"] == 0


def test_anonymous_credentials_work_against_an_open_emulator() -> None:
    with Emulator(require_auth=False) as emu:
        name = emu.add_operation(state="RUNNING")
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        with make_client(emu, anonymous) as client:
            assert client.operations.get(name).name == name
        assert user_projects(emu) == ["demo"]
