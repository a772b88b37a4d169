"""The auth stage alone: headers, scopes, refresh, 401/403 handling, http refusal.

The stage runs over the real check stage and a MockTransport, with fake credentials whose
refresh is counted (and, for the concurrency test, held until released).
"""

from __future__ import annotations

import datetime
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from google.auth import _helpers as ga_helpers
from google.auth import credentials as ga_credentials
from google.auth import exceptions as ga_exceptions
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from eemw import (
    Call,
    ConnectError,
    Headers,
    InsecureTransportError,
    PermissionDeniedError,
    Request,
    Response,
    UnauthenticatedError,
)
from eemw._pipeline import Entry, Pipeline, Stack
from eemw._tokens import TokenResponse
from eemw.middleware import Check
from eemw.middleware.auth import (
    CLOUD_PLATFORM_SCOPE,
    EARTHENGINE_SCOPE,
    REQUIRED_SCOPES,
    Auth,
    MissingScopeWarning,
    ensure_scopes,
)
from eemw.testing import MockTransport, respond

NAME = "projects/demo/operations/op-1"
STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
OTHER_SCOPE = "https://example.test/auth/operations.cancel"


def utcnow() -> datetime.datetime:
    # google-auth compares expiries with its own (naive UTC) notion of now.
    now: datetime.datetime = ga_helpers.utcnow()  # type: ignore[no-untyped-call]
    return now


def user_creds(token: str | None = "tok", **kwargs: Any) -> Any:
    return user_credentials.Credentials(token, **kwargs)  # type: ignore[no-untyped-call]


def refresh_error(message: str) -> Exception:
    return ga_exceptions.RefreshError(message)  # type: ignore[no-untyped-call]


def scopes_of(credentials: Any) -> Any:
    return credentials.scopes


class FakeCredentials(ga_credentials.Credentials):
    """Credentials whose refresh mints ``tok-1``, ``tok-2``… and counts its calls.

    The initial ``token`` expires in ``expires_in``; minted ones live for ``lifetime``.

    ``gate``, when set, holds every refresh until released; ``entered`` is set when a
    refresh starts and ``checks`` counts reads of ``valid`` (under ``changed``).
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        expires_in: datetime.timedelta = datetime.timedelta(hours=1),
        lifetime: datetime.timedelta = datetime.timedelta(hours=1),
        same_token: bool = False,
        fail: Exception | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token = token
        self.expiry = utcnow() + expires_in if token else None
        self._lifetime = lifetime
        self._numbers = itertools.count(1)
        self._same_token = same_token
        self._fail = fail
        self.refresh_calls = 0
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.changed = threading.Condition()
        self.checks = 0

    @property
    def valid(self) -> bool:
        with self.changed:
            self.checks += 1
            self.changed.notify_all()
        return bool(super().valid)

    def refresh(self, request: Any) -> None:
        self.refresh_calls += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the refresh"
        if self._fail is not None:
            raise self._fail
        if not self._same_token or self.token is None:
            self.token = f"tok-{next(self._numbers)}"
        self.expiry = utcnow() + self._lifetime


def make_request(
    kind: str = "get", url: str = f"https://earthengine.googleapis.com/v1/{NAME}",
    timeout: float | None = None,
) -> Request:
    call = Call(kind, "demo", "v1", NAME)  # type: ignore[arg-type]
    return Request("GET", url, Headers(), call, timeout=timeout)


def ok(request: Request) -> Response:
    return respond(request, json={"name": NAME, "done": False})


def error_response(status: int, rpc: str, message: str, reason: str | None = None) -> Any:
    details = []
    if reason is not None:
        details.append({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason, "domain": "googleapis.com",
        })

    def handler(request: Request) -> Response:
        return respond(request, status, json={
            "error": {"code": status, "message": message, "status": rpc, "details": details}
        })

    return handler


def pipeline(auth: Auth, transport: MockTransport) -> Pipeline:
    return Stack([
        Entry("auth", auth, "attempt"),
        Entry("check", Check(), "attempt"),
    ]).build(transport)


def make_auth(credentials: ga_credentials.Credentials, **kwargs: Any) -> Auth:
    return Auth(credentials, refresh_request=lambda: "refresh-transport", **kwargs)


def sent_tokens(transport: MockTransport) -> list[str | None]:
    return [r.headers.get("authorization") for r in transport.requests]


def service_account_credentials(scopes: list[str] | None = None) -> Any:
    # The signer is only used when refreshing, which these scope tests never do.
    return service_account.Credentials(  # type: ignore[no-untyped-call]
        object(), "sa@demo.iam.gserviceaccount.com", "https://oauth2.example/token",
        scopes=scopes,
    )


# --- headers -----------------------------------------------------------------------------


def test_every_attempt_carries_the_bearer_token_and_quota_project() -> None:
    creds = FakeCredentials()
    transport = MockTransport(ok)
    send = pipeline(make_auth(creds, quota_project="billing-project"), transport)
    send(make_request())
    send(make_request())
    assert sent_tokens(transport) == ["Bearer tok-1", "Bearer tok-1"]
    assert [r.headers.get("x-goog-user-project") for r in transport.requests] == [
        "billing-project", "billing-project",
    ]
    assert creds.refresh_calls == 1


def test_without_a_quota_project_no_header_is_invented() -> None:
    transport = MockTransport(ok)
    pipeline(make_auth(FakeCredentials()), transport)(make_request())
    assert "x-goog-user-project" not in transport.requests[0].headers


def test_the_stage_quota_project_overrides_the_one_credentials_apply() -> None:
    creds = user_creds("tok-user", quota_project_id="from-credentials")
    transport = MockTransport(ok)
    pipeline(make_auth(creds, quota_project="chosen"), transport)(make_request())
    assert transport.requests[0].headers["x-goog-user-project"] == "chosen"


def test_the_request_given_to_the_stage_is_not_changed() -> None:
    request = make_request()
    pipeline(make_auth(FakeCredentials()), MockTransport(ok))(request)
    assert "authorization" not in request.headers


def test_anonymous_credentials_send_no_authorization_even_over_plain_http() -> None:
    transport = MockTransport(ok)
    anonymous = ga_credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
    auth = make_auth(anonymous, quota_project="billing")
    pipeline(auth, transport)(make_request(url=f"http://emulator.internal:8080/v1/{NAME}"))
    headers = transport.requests[0].headers
    assert "authorization" not in headers
    assert headers["x-goog-user-project"] == "billing"


# --- refresh ------------------------------------------------------------------------------


def test_a_token_is_fetched_before_the_first_attempt() -> None:
    creds = FakeCredentials()
    transport = MockTransport(ok)
    auth = make_auth(creds)
    pipeline(auth, transport)(make_request())
    assert creds.refresh_calls == 1 and auth.refreshes == 1
    assert sent_tokens(transport) == ["Bearer tok-1"]


def test_a_token_inside_the_refresh_threshold_is_refreshed_before_sending() -> None:
    creds = FakeCredentials("tok-old", expires_in=datetime.timedelta(seconds=60))
    transport = MockTransport(ok)
    pipeline(make_auth(creds), transport)(make_request())
    assert creds.refresh_calls == 1
    assert sent_tokens(transport) == ["Bearer tok-1"]


def test_a_token_far_from_expiry_is_used_as_it_is() -> None:
    creds = FakeCredentials("tok-current", expires_in=datetime.timedelta(minutes=30))
    transport = MockTransport(ok)
    pipeline(make_auth(creds), transport)(make_request())
    assert creds.refresh_calls == 0
    assert sent_tokens(transport) == ["Bearer tok-current"]


def test_a_401_refreshes_once_and_resends_with_the_new_token() -> None:
    creds = FakeCredentials("tok-revoked")
    answers = iter([error_response(401, "UNAUTHENTICATED", "Token revoked."), ok])
    transport = MockTransport(lambda request: next(answers)(request))  # noqa: PLW0108
    response = pipeline(make_auth(creds), transport)(make_request())
    assert response.status == 200
    assert creds.refresh_calls == 1
    assert sent_tokens(transport) == ["Bearer tok-revoked", "Bearer tok-1"]


def test_a_second_401_surfaces_as_unauthenticated_after_one_resend() -> None:
    creds = FakeCredentials("tok-revoked")
    transport = MockTransport(error_response(401, "UNAUTHENTICATED", "Still not valid."))
    with pytest.raises(UnauthenticatedError, match="Still not valid"):
        pipeline(make_auth(creds), transport)(make_request())
    assert creds.refresh_calls == 1
    assert sent_tokens(transport) == ["Bearer tok-revoked", "Bearer tok-1"]


def test_a_401_is_not_resent_when_the_refresh_gives_back_the_same_token() -> None:
    creds = FakeCredentials("tok-static", same_token=True)
    creds.expiry = None  # a token google-auth considers valid forever
    transport = MockTransport(error_response(401, "UNAUTHENTICATED", "Bad token."))
    with pytest.raises(UnauthenticatedError, match="Bad token"):
        pipeline(make_auth(creds), transport)(make_request())
    assert creds.refresh_calls == 1
    assert len(transport.requests) == 1


def test_a_refresh_failure_is_unauthenticated_and_quotes_the_endpoint_not_the_secrets() -> None:
    failure = ga_exceptions.RefreshError(  # type: ignore[no-untyped-call]
        "invalid_grant: Token has been expired or revoked.",
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    creds = FakeCredentials(fail=failure)
    transport = MockTransport(ok)
    with pytest.raises(UnauthenticatedError) as caught:
        pipeline(make_auth(creds), transport)(make_request())
    assert "invalid_grant: Token has been expired or revoked" in str(caught.value)
    assert "before sending" in str(caught.value)
    assert caught.value.__cause__ is failure
    assert transport.requests == []


def test_a_refresh_failure_after_a_401_says_the_server_rejected_the_token() -> None:
    creds = FakeCredentials("tok-revoked", fail=refresh_error("invalid_grant"))
    transport = MockTransport(error_response(401, "UNAUTHENTICATED", "Token revoked."))
    with pytest.raises(UnauthenticatedError, match=r"rejected the token \(401\)") as caught:
        pipeline(make_auth(creds), transport)(make_request())
    cause = caught.value.__cause__
    assert isinstance(cause, ga_exceptions.RefreshError)
    assert isinstance(cause.__context__, UnauthenticatedError), "the 401 is kept"
    assert len(transport.requests) == 1


def test_an_unexpected_refresh_exception_is_named_by_type_only() -> None:
    creds = FakeCredentials(fail=ValueError("malformed reply 'secret-ish-body'"))
    with pytest.raises(UnauthenticatedError) as caught:
        pipeline(make_auth(creds), MockTransport(ok))(make_request())
    assert "ValueError" in str(caught.value)
    assert "secret-ish-body" not in str(caught.value)


def test_an_unreachable_token_endpoint_is_a_connect_error() -> None:
    creds = FakeCredentials(fail=ga_exceptions.TransportError("refused"))  # type: ignore[no-untyped-call]
    transport = MockTransport(ok)
    with pytest.raises(ConnectError, match="token endpoint"):
        pipeline(make_auth(creds), transport)(make_request())
    assert transport.requests == []


def test_the_refresh_request_is_bounded_by_the_attempt_timeout() -> None:
    sent: list[dict[str, Any]] = []

    class TokenEndpoint:
        def __call__(self, url: str, **kwargs: Any) -> None:
            sent.append(kwargs)

    class Recording(FakeCredentials):
        def refresh(self, request: Any) -> None:
            request("https://oauth2.example/token", method="POST", timeout=120)
            super().refresh(request)

    made: list[TokenEndpoint] = []

    def factory() -> TokenEndpoint:
        made.append(TokenEndpoint())
        return made[-1]

    auth = Auth(Recording(), refresh_request=factory)
    pipeline(auth, MockTransport(ok))(make_request().with_timeout(2.5))
    assert len(made) == 1
    # google-auth asked for 120 s; the call had at most 2.5 s left.
    (asked,) = sent
    timeout = asked.pop("timeout")
    assert asked == {"method": "POST", "body": None, "headers": None}
    assert 0 < timeout <= 2.5


def test_a_retryable_token_endpoint_failure_is_a_connect_error() -> None:
    failure = ga_exceptions.RefreshError("temporarily unavailable", retryable=True)  # type: ignore[no-untyped-call]
    creds = FakeCredentials(fail=failure)
    transport = MockTransport(ok)
    with pytest.raises(ConnectError, match="temporarily"):
        pipeline(make_auth(creds), transport)(make_request())
    assert transport.requests == []


def test_concurrent_attempts_share_exactly_one_refresh() -> None:
    threads_count = 8
    creds = FakeCredentials("tok-expired", expires_in=datetime.timedelta(seconds=-1))
    creds.gate = threading.Event()
    transport = MockTransport(ok)
    send = pipeline(make_auth(creds), transport)
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            send(make_request())
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    assert creds.entered.wait(10)
    # Every thread has looked at the expired token (the refresher twice) before the
    # refresh completes, so without the lock each would start its own refresh.
    with creds.changed:
        assert creds.changed.wait_for(lambda: creds.checks >= threads_count + 1, timeout=10)
    creds.gate.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert creds.refresh_calls == 1
    assert sent_tokens(transport) == ["Bearer tok-1"] * threads_count


def test_waiting_for_another_threads_refresh_is_bounded_by_the_attempt_timeout() -> None:
    creds = FakeCredentials()
    creds.gate = threading.Event()
    transport = MockTransport(ok)
    send = pipeline(make_auth(creds), transport)
    refresher = threading.Thread(target=send, args=(make_request(),))
    refresher.start()
    try:
        assert creds.entered.wait(10)
        with pytest.raises(ConnectError, match="waiting for another thread's token refresh"):
            send(make_request(timeout=0.01))
    finally:
        creds.gate.set()
        refresher.join(10)
    assert creds.refresh_calls == 1
    assert sent_tokens(transport) == ["Bearer tok-1"]


def test_a_refresh_with_no_time_left_asks_no_token_endpoint() -> None:
    asked: list[str] = []
    creds = user_creds(None, refresh_token="refresh-secret", client_id="id",
                       client_secret="client-secret", token_uri="https://oauth2.example/token")
    auth = Auth(creds, refresh_request=lambda: lambda url, **_: asked.append(url))
    transport = MockTransport(ok)
    with pytest.raises(ConnectError, match="passed while refreshing") as caught:
        pipeline(auth, transport)(make_request(timeout=0.0))
    assert asked == []
    assert transport.requests == []
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("reply", [
    (503, b'{"error": "unavailable"}'),
    (429, b""),
    (400, b'{"error": "temporarily_unavailable"}'),
])
def test_a_busy_token_endpoint_is_asked_once_and_is_a_connect_error(
    reply: tuple[int, bytes],
) -> None:
    # google-auth would sleep and ask again (about 3 s whatever the call's timeout):
    # retrying is the retry stage's job, which knows the deadline.
    asked: list[str] = []

    def endpoint(url: str, **_: Any) -> TokenResponse:
        asked.append(url)
        return TokenResponse(reply[0], {}, reply[1])

    creds = user_creds(None, refresh_token="refresh-secret", client_id="id",
                       client_secret="client-secret", token_uri="https://oauth2.example/token")
    transport = MockTransport(ok)
    with pytest.raises(ConnectError, match="token endpoint failed temporarily"):
        pipeline(Auth(creds, refresh_request=lambda: endpoint), transport)(make_request())
    assert asked == ["https://oauth2.example/token"]
    assert transport.requests == []


def test_a_refused_grant_is_not_mistaken_for_a_busy_endpoint() -> None:
    def endpoint(url: str, **_: Any) -> TokenResponse:
        return TokenResponse(400, {}, b'{"error": "invalid_grant"}')

    creds = user_creds(None, refresh_token="refresh-secret", client_id="id",
                       client_secret="client-secret", token_uri="https://oauth2.example/token")
    with pytest.raises(UnauthenticatedError, match="invalid_grant"):
        pipeline(Auth(creds, refresh_request=lambda: endpoint), MockTransport(ok))(make_request())


def test_a_refresh_lock_held_at_fork_is_free_in_the_child(
    in_forked_child: Callable[[Callable[[], str]], str],
) -> None:
    # gunicorn --preload, Celery prefork: a thread of the parent was refreshing when it
    # forked. The child has no such thread, so the lock it held must not carry over.
    creds = FakeCredentials()
    creds.gate = threading.Event()
    transport = MockTransport(ok)
    send = pipeline(make_auth(creds), transport)
    refresher = threading.Thread(target=send, args=(make_request(),))
    refresher.start()
    try:
        assert creds.entered.wait(10)
        outcome = in_forked_child(lambda: child_refresh(creds, send, transport))
    finally:
        creds.gate.set()
        refresher.join(10)
    assert outcome == "Bearer tok-1"


def child_refresh(creds: FakeCredentials, send: Pipeline, transport: MockTransport) -> str:
    creds.gate = None
    send(make_request(timeout=5.0))
    return str(transport.requests[-1].headers["authorization"])


def test_close_closes_a_refresh_request_factory_that_can_be_closed() -> None:
    closed: list[str] = []

    class Factory:
        def __call__(self) -> None:
            return None

        def close(self) -> None:
            closed.append("closed")

    Auth(FakeCredentials(), refresh_request=Factory()).close()
    make_auth(FakeCredentials()).close()  # a plain callable: nothing to close
    assert closed == ["closed"]


# --- plain http ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/v1/x",
    "http://127.45.6.7/v1/x",
    "http://[::1]:9000/v1/x",
    "http://localhost:8080/v1/x",
    "http://LOCALHOST/v1/x",
    "https://earthengine.googleapis.com/v1/x",
    "HTTPS://earthengine.googleapis.com/v1/x",
    "https://10.0.0.8/v1/x",
])
def test_tokens_go_over_https_or_to_loopback(url: str) -> None:
    transport = MockTransport(ok)
    pipeline(make_auth(FakeCredentials()), transport)(make_request(url=url))
    assert sent_tokens(transport) == ["Bearer tok-1"]


@pytest.mark.parametrize("url", [
    "http://earthengine.googleapis.com/v1/x",
    "http://10.0.0.8/v1/x",
    "http://[::ffff:8.8.8.8]/v1/x",
    "http://127.0.0.1.attacker.test/v1/x",
    "http://localhost.attacker.test/v1/x",
    "http://user:pass@example.test/v1/x",
    "ftp://127.0.0.1/v1/x",
])
def test_a_token_is_never_sent_over_plain_http_to_a_remote_host(url: str) -> None:
    creds = FakeCredentials()
    transport = MockTransport(ok)
    with pytest.raises(InsecureTransportError, match="refusing to send credentials") as caught:
        pipeline(make_auth(creds), transport)(make_request(url=url))
    assert transport.requests == []
    assert creds.refresh_calls == 0, "no token endpoint I/O either"
    assert "pass" not in str(caught.value)


# --- scopes -------------------------------------------------------------------------------


def test_credentials_that_require_scopes_get_the_earth_engine_scope() -> None:
    creds = service_account_credentials()
    assert creds.requires_scopes
    auth = make_auth(creds)
    assert scopes_of(auth.credentials) == [EARTHENGINE_SCOPE]
    assert not auth.credentials.requires_scopes  # type: ignore[attr-defined]


@pytest.mark.parametrize("scope", [EARTHENGINE_SCOPE, CLOUD_PLATFORM_SCOPE])
def test_scoped_credentials_with_an_accepted_scope_are_left_alone(scope: str) -> None:
    creds = service_account_credentials([scope])
    assert make_auth(creds).credentials is creds


def test_scoped_credentials_with_other_scopes_get_earth_engine_added() -> None:
    creds = service_account_credentials([STORAGE_SCOPE])
    assert scopes_of(make_auth(creds).credentials) == [STORAGE_SCOPE, EARTHENGINE_SCOPE]


def test_unscopable_credentials_lacking_a_scope_are_warned_about_by_name() -> None:
    creds = user_creds("tok", scopes=[STORAGE_SCOPE])
    with pytest.warns(MissingScopeWarning, match=EARTHENGINE_SCOPE) as record:
        auth = make_auth(creds)
    assert auth.credentials is creds
    assert len(record) == 1, "one warning for one missing scope, not one per call kind"
    assert record[0].filename == __file__, "the warning points at the caller's line"


@pytest.mark.parametrize(
    "scopes", [None, [EARTHENGINE_SCOPE], [STORAGE_SCOPE, CLOUD_PLATFORM_SCOPE]]
)
def test_unscopable_credentials_are_not_warned_about_without_reason(
    scopes: list[str] | None, recwarn: pytest.WarningsRecorder
) -> None:
    make_auth(user_creds("tok", scopes=scopes))
    assert not [w for w in recwarn if issubclass(w.category, MissingScopeWarning)]


def test_ensure_scopes_uses_the_first_accepted_scope() -> None:
    scoped = ensure_scopes(service_account_credentials(), (OTHER_SCOPE, EARTHENGINE_SCOPE))
    assert scopes_of(scoped) == [OTHER_SCOPE]


def test_the_table_is_consulted_for_each_call_kind() -> None:
    table = {**REQUIRED_SCOPES, "cancel": (OTHER_SCOPE,)}
    auth = make_auth(service_account_credentials([EARTHENGINE_SCOPE]), required_scopes=table)
    assert scopes_of(auth.credentials) == [EARTHENGINE_SCOPE, OTHER_SCOPE]


def test_the_module_table_is_a_read_only_default() -> None:
    # Scope policy is per client (Client(scopes=...)); no global can change another's.
    with pytest.raises(TypeError):
        REQUIRED_SCOPES["cancel"] = (OTHER_SCOPE,)  # type: ignore[index]


def scope_403() -> Callable[[Request], Response]:
    return error_response(  # type: ignore[no-any-return]
        403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
        reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
    )


def test_a_scope_403_names_the_missing_scope() -> None:
    creds = user_creds("tok", scopes=[STORAGE_SCOPE])
    with pytest.warns(MissingScopeWarning):
        auth = make_auth(creds)
    with pytest.raises(PermissionDeniedError) as caught:
        pipeline(auth, MockTransport(scope_403()))(make_request())
    message = str(caught.value)
    assert f"lacks the {EARTHENGINE_SCOPE} scope (or {CLOUD_PLATFORM_SCOPE})" in message
    assert STORAGE_SCOPE in message, "says what the credentials do carry"
    assert caught.value.reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert caught.value.http_status == 403


def test_a_scope_403_names_the_scope_from_the_table_for_that_call() -> None:
    table = {**REQUIRED_SCOPES, "cancel": (OTHER_SCOPE,)}
    auth = make_auth(user_creds("tok"), required_scopes=table)
    send = pipeline(auth, MockTransport(scope_403()))
    with pytest.raises(PermissionDeniedError, match=f"lacks the {OTHER_SCOPE} scope"):
        send(make_request("cancel"))
    with pytest.raises(PermissionDeniedError, match=f"lacks the {EARTHENGINE_SCOPE} scope"):
        send(make_request("get"))


def test_other_403s_pass_through_unchanged() -> None:
    transport = MockTransport(error_response(
        403, "PERMISSION_DENIED", "Caller lacks permission on project demo.",
        reason="IAM_PERMISSION_DENIED",
    ))
    with pytest.raises(PermissionDeniedError) as caught:
        pipeline(make_auth(FakeCredentials()), transport)(make_request())
    assert caught.value.message == "Caller lacks permission on project demo."
    assert "lacks the" not in str(caught.value)


# --- secrets ------------------------------------------------------------------------------


def test_the_repr_names_the_credentials_type_but_never_the_token() -> None:
    creds = FakeCredentials("tok-secret-value")
    auth = make_auth(creds, quota_project="billing")
    pipeline(auth, MockTransport(ok))(make_request())
    assert repr(auth) == "Auth(credentials=FakeCredentials, quota_project='billing')"


def test_the_table_covers_every_call_kind_with_the_earth_engine_scopes() -> None:
    assert set(REQUIRED_SCOPES) == {"get", "list", "cancel", "delete", "wait"}
    assert all(v == (EARTHENGINE_SCOPE, CLOUD_PLATFORM_SCOPE) for v in REQUIRED_SCOPES.values())


def test_google_auth_debug_records_of_token_requests_are_redacted() -> None:
    make_auth(FakeCredentials())
    logger = logging.getLogger("google.auth.transport.requests")
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.DEBUG)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Making request...", extra={"httpRequest": {
            "method": "POST",
            "url": "https://oauth2.googleapis.com/token",
            "body": {"grant_type": ["jwt-bearer"], "assertion": ["eyJhbGciOi.claims.sig"]},
            "headers": {"Authorization": "Bearer ya29.source", "Content-Type": "form"},
        }})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    logged = vars(records[0])["httpRequest"]
    assert logged["body"] == {"grant_type": ["jwt-bearer"], "assertion": "REDACTED"}
    assert logged["headers"] == {"Authorization": "REDACTED", "Content-Type": "form"}
    assert logged["url"] == "https://oauth2.googleapis.com/token"
