"""Where credentials may go: never over plain http to a remote host, never along a redirect,
and never over TLS that was not verified unless the caller said so (and was warned).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.oauth2.credentials import Credentials

import eemw
from eemw.emulator import Emulator
from eemw.testing import MockTransport, respond

NO_RETRY = eemw.RetryPolicy.none()


# --- small local servers -----------------------------------------------------------------


class Seen:
    """What a local server received: (method, path, headers, body) per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@contextmanager
def serve(
    reply: Callable[[BaseHTTPRequestHandler, Seen], None],
    tls: ssl.SSLContext | None = None,
) -> Iterator[tuple[str, Seen]]:
    """Run a tiny HTTP(S) server on 127.0.0.1 that records requests and answers with ``reply``."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen.requests.append((self.command, self.path, dict(self.headers), body))
            reply(self, seen)

        do_GET = do_POST = do_DELETE = handle_one

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"",
         headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


# --- plain http ----------------------------------------------------------------------------


class RefreshSpy(Credentials):
    """User credentials with no token yet, whose refresh is recorded and does no I/O."""

    def __init__(self) -> None:
        super().__init__(token=None, refresh_token="refresh-secret", client_id="id",
                         client_secret="client-secret", token_uri="https://oauth2.example/token")
        self.refreshed = 0

    def refresh(self, request: Any) -> None:
        self.refreshed += 1
        self.token = "fresh-token"


@pytest.mark.parametrize("host", [
    "example.com", "earthengine.googleapis.com", "10.0.0.1", "169.254.169.254", "0.0.0.0",
    "[fe80::1]", "[::ffff:127.0.0.1]", "127.0.0.1.nip.io", "localhost.example.com",
    "2130706433", "127.1",
])
@pytest.mark.parametrize("method", ["get", "cancel", "list"])
def test_plain_http_to_a_remote_host_is_refused_before_any_io(host: str, method: str) -> None:
    transport = MockTransport(lambda request: respond(request, json={}))
    credentials = RefreshSpy()
    client = eemw.Client("demo", endpoint=f"http://{host}", credentials=credentials,
                         transport=transport)
    with pytest.raises(eemw.InsecureTransportError, match="refusing to send credentials"):
        if method == "list":
            list(client.operations.list())
        else:
            getattr(client.operations, method)("op-1")
    assert transport.requests == []
    assert credentials.refreshed == 0  # not even the token endpoint was called


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "[::1]", "localhost", "LOCALHOST"])
def test_plain_http_to_loopback_is_allowed_for_local_emulators(host: str) -> None:
    transport = MockTransport(
        lambda request: respond(request, json={"name": request.call.name, "done": False})
    )
    client = eemw.Client("demo", endpoint=f"http://{host}:8080", credentials=RefreshSpy(),
                         transport=transport)
    client.operations.get("op-1")
    (request,) = transport.requests
    assert request.headers["Authorization"] == "Bearer fresh-token"


# --- redirects -----------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["get", "cancel"])
def test_an_api_redirect_is_never_followed(emu: Emulator, status: int, method: str) -> None:
    name = emu.add_operation("demo", state="RUNNING")

    def redirect(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        send(handler, status, headers={"Location": emu.url + handler.path})

    with serve(redirect) as (endpoint, seen):
        with eemw.Client("demo", endpoint=endpoint, credentials=emu.credentials(),
                         retry=NO_RETRY) as client, pytest.raises(eemw.ApiError) as caught:
            getattr(client.operations, method)(name)
        assert caught.value.http_status == status
        assert "does not follow redirects" in str(caught.value)
        assert len(seen.requests) == 1
    # The token went to the configured endpoint only; the redirect target got nothing.
    assert [r.path for r in emu.requests if r.path != "/token"] == []


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_token_endpoint_redirect_is_never_followed(emu: Emulator, status: int) -> None:
    name = emu.add_operation("demo", state="RUNNING")

    def sink(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        send(handler, 200, json.dumps({"access_token": "stolen", "expires_in": 3600}).encode())

    with serve(sink) as (elsewhere, received):
        def redirect(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
            send(handler, status, headers={"Location": elsewhere + "/token"})

        with serve(redirect) as (token_uri, _):
            credentials = Credentials(
                token=None, refresh_token="refresh-secret", client_id="id",
                client_secret="client-secret", token_uri=token_uri + "/token",
            )
            with eemw.Client("demo", endpoint=emu.url, credentials=credentials,
                             retry=NO_RETRY) as client, pytest.raises(eemw.EemwError):
                client.operations.get(name)
        assert received.requests == []


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: no default trust store knows it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[str, Seen]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    def operation(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        name = handler.path.split("/", 2)[2]
        send(handler, 200, json.dumps({"name": name, "done": False}).encode())

    with serve(operation, tls=context) as found:
        yield found


def get_over_tls(endpoint: str, transport: eemw.RequestsTransport | None = None) -> None:
    with eemw.Client("demo", endpoint=endpoint, credentials=Credentials(token="tls-token"),
                     transport=transport, retry=NO_RETRY) as client:
        client.operations.get("op-1")


def test_tls_is_verified_by_default(tls_server: tuple[str, Seen]) -> None:
    endpoint, seen = tls_server
    with pytest.raises(eemw.ConnectError):
        get_over_tls(endpoint)
    assert seen.requests == []  # the handshake failed before the token was sent


def test_empty_ca_bundle_variables_do_not_turn_verification_off(
    tls_server: tuple[str, Seen], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    endpoint, seen = tls_server
    with pytest.raises(eemw.ConnectError):
        get_over_tls(endpoint)
    assert seen.requests == []


def test_a_trusted_ca_is_accepted_without_a_warning(
    tls_server: tuple[str, Seen], certificate: tuple[Path, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint, seen = tls_server
    transport = eemw.RequestsTransport(verify=str(certificate[0]))
    with caplog.at_level(logging.WARNING):
        get_over_tls(endpoint, transport)
    transport.close()
    assert len(seen.requests) == 1
    assert caplog.records == []


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # urllib3's own, per request
@pytest.mark.parametrize("how", ["argument", "session"])
def test_turning_verification_off_takes_an_explicit_argument_and_warns(
    tls_server: tuple[str, Seen], caplog: pytest.LogCaptureFixture, how: str
) -> None:
    from requests import Session

    endpoint, seen = tls_server
    with caplog.at_level(logging.WARNING, logger="eemw.transport"):
        if how == "argument":
            transport = eemw.RequestsTransport(verify=False)
        else:
            session = Session()
            session.verify = False
            transport = eemw.RequestsTransport(session)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "verification is OFF" in record.getMessage()
    get_over_tls(endpoint, transport)  # the caller asked for it: it works, loudly
    transport.close()
    assert len(seen.requests) == 1
    assert "tls-token" not in record.getMessage()


@pytest.mark.parametrize("verify", ["", 0, None.__class__])
def test_verify_accepts_only_a_bool_or_a_bundle_path(verify: object) -> None:
    # A falsy non-False value would switch TLS checks off without the warning.
    with pytest.raises(eemw.UsageError):
        eemw.RequestsTransport(verify=verify)  # type: ignore[arg-type]


def test_an_environment_proxy_never_carries_a_token_to_loopback(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proxy would see the bearer token in clear: loopback targets bypass it.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.9:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.9:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    name = emu.add_operation("demo")
    client = eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                         retry=eemw.RetryPolicy.none())
    with client:
        assert client.operations.get(name).name == name


# --- hostile token endpoints ---------------------------------------------------------------


def user_credentials(token_uri: str) -> Credentials:
    return Credentials(token=None, refresh_token="refresh-secret", client_id="id",
                       client_secret="client-secret", token_uri=token_uri + "/token")


def outcome(action: Callable[[], object], limit: float = 30.0) -> BaseException | None:
    """What ``action`` raised (None if nothing), run in a thread.

    ``limit`` is a hang guard, far above any deadline in these tests, not a timing check.
    """
    raised: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"the call was still running after {limit}s")
    return raised[0] if raised else None


@pytest.mark.parametrize("reply", [
    b"<html><body>Please sign in to the proxy</body></html>",
    b"",
    b"[]",
    b'{"access_token": "t", "expires_in": {"seconds": 3600}}',
    b'{"access_token": "t", "expires_in": "soon"}',
])
def test_a_token_reply_that_is_not_a_token_is_unauthenticated(emu: Emulator, reply: bytes) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with serve(lambda handler, seen: send(handler, 200, reply)) as (token_uri, _):
        client = eemw.Client("demo", endpoint=emu.url, credentials=user_credentials(token_uri),
                             retry=NO_RETRY)
        with client, pytest.raises(eemw.UnauthenticatedError) as caught:
            client.operations.get(name)
    message = str(caught.value)
    assert "refresh-secret" not in message and "client-secret" not in message
    assert [r for r in emu.requests if r.path != "/token"] == []


def test_a_trickling_token_endpoint_ends_the_call_at_its_deadline(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    stop = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        # A header block that never ends: each byte is well within any socket timeout.
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        while not stop.wait(0.02):
            try:
                handler.wfile.write(b"X")
            except OSError:
                return  # the client gave up, as it should

    with serve(trickle) as (token_uri, seen):
        client = eemw.Client("demo", endpoint=emu.url, credentials=user_credentials(token_uri))
        try:
            error = outcome(lambda: client.operations.get(name, timeout=1.0))
        finally:
            stop.set()
            client.close()
    assert isinstance(error, eemw.DeadlineExceededError), repr(error)
    assert isinstance(error.__cause__, eemw.ConnectError)
    assert "token request failed" in str(error.__cause__)
    assert len(seen.requests) >= 1


def test_a_failing_token_endpoint_costs_one_request_per_attempt(emu: Emulator) -> None:
    # google-auth's own retries sleep about 3 s inside refresh(), whatever the call's
    # timeout; eemw cuts them short and lets its retry stage decide.
    name = emu.add_operation("demo", state="RUNNING")
    busy = b'{"error": "temporarily_unavailable"}'
    with serve(lambda handler, seen: send(handler, 503, busy)) as (token_uri, seen):
        with eemw.Client("demo", endpoint=emu.url, credentials=user_credentials(token_uri),
                         retry=NO_RETRY) as client, pytest.raises(eemw.ConnectError) as caught:
            client.operations.get(name, timeout=5.0)
        assert len(seen.requests) == 1
    assert "token endpoint failed temporarily" in str(caught.value)
