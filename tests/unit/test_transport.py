"""RequestsTransport against a scripted local HTTP server on 127.0.0.1.

The server is a few lines of socket code so each test can make it misbehave exactly:
never answer, trickle, drop the connection, redirect, or stream an endless body. It
counts the connections it accepted and the requests it read, so tests can check what
reached the wire (one TCP connection for many calls; one attempt per call).
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import urllib3
from requests.adapters import HTTPAdapter

import eemw
from eemw import (
    Call,
    ConnectError,
    Headers,
    InvalidHeaderError,
    ReadError,
    Request,
    RequestsTransport,
)

Behaviour = Callable[[socket.socket, bytes], None]
NAME = "projects/demo/operations/T1"


class Server:
    """A threaded HTTP/1.1 server whose answer to each request is ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.hangups = 0  # connections the client closed
        self._hung_up = threading.Condition()
        self.requests: list[bytes] = []
        self.release = threading.Event()  # lets a stalling behaviour finish at teardown
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn, reader:
            while True:
                head = _read_head(reader)
                if head is None:
                    with self._hung_up:
                        self.hangups += 1
                        self._hung_up.notify_all()
                    return
                length = _content_length(head)
                self.requests.append(head + (reader.read(length) if length else b""))
                try:
                    self.behaviour(conn, head)
                except OSError:
                    return
                if b"connection: close" in head.lower():
                    return

    def wait_for_hangups(self, count: int) -> bool:
        with self._hung_up:
            return self._hung_up.wait_for(lambda: self.hangups >= count, timeout=10)

    def close(self) -> None:
        self.release.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(5)


def _read_head(reader: Any) -> bytes | None:
    lines = []
    while True:
        line = reader.readline()
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def answer(
    status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> Behaviour:
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    fields.update(headers or {})
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"

    def behave(conn: socket.socket, _: bytes) -> None:
        conn.sendall(head.encode() + body)

    return behave


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], Server]]:
    servers: list[Server] = []

    def start(behaviour: Behaviour) -> Server:
        server = Server(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    with_transport = RequestsTransport()
    yield with_transport
    with_transport.close()


def request(
    url: str,
    *,
    method: str = "GET",
    timeout: float | None = 5.0,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Request:
    return Request(
        method, url + "/v1/" + NAME, Headers(headers or {"accept": "application/json"}),
        Call("get" if method == "GET" else "cancel", "demo", "v1", NAME), body, timeout,
    )


# --- what reaches the wire -------------------------------------------------------------


def test_many_calls_share_one_pooled_connection(serve: Any, transport: RequestsTransport) -> None:
    server = serve(answer(body=b'{"name": "x"}'))
    for _ in range(20):
        assert transport(request(server.url)).status == 200
    assert len(server.requests) == 20
    assert server.connections == 1


def test_redirect_comes_back_as_a_response(serve: Any, transport: RequestsTransport) -> None:
    server = serve(answer(302, b"", {"Location": "/elsewhere"}))
    response = transport(request(server.url))
    assert response.status == 302
    assert response.headers["location"] == "/elsewhere"
    assert len(server.requests) == 1


def test_dropped_connection_is_one_attempt_and_a_read_error(
    serve: Any, transport: RequestsTransport
) -> None:
    def drop(conn: socket.socket, _: bytes) -> None:
        conn.shutdown(socket.SHUT_RDWR)
        raise OSError("dropped")

    server = serve(drop)
    with pytest.raises(ReadError) as info:
        transport(request(server.url, method="POST"))
    assert len(server.requests) == 1  # nothing underneath retried it
    assert isinstance(info.value.__cause__, urllib3.exceptions.HTTPError)
    assert info.value.operation == NAME


def test_sends_body_and_content_length(serve: Any, transport: RequestsTransport) -> None:
    server = serve(answer())
    transport(request(server.url, method="POST", body=b'{"a":1}'))
    transport(request(server.url, method="POST"))
    with_body, empty = (r.lower() for r in server.requests)
    assert b"content-length: 7\r\n" in with_body and with_body.endswith(b'{"a":1}')
    assert b"content-length: 0\r\n" in empty


def test_line_break_in_a_header_is_refused_before_sending(
    serve: Any, transport: RequestsTransport
) -> None:
    server = serve(answer())
    with pytest.raises(InvalidHeaderError, match="x-evil") as info:
        transport(request(server.url, headers={"x-evil": "secret\r\nInjected: 1"}))
    with pytest.raises(InvalidHeaderError):
        transport(request(server.url, headers={"x-evil\r\ninjected": "1"}))
    assert server.requests == []
    assert "secret" not in str(info.value)


def test_a_scheme_without_an_adapter_is_a_connect_error(transport: RequestsTransport) -> None:
    with pytest.raises(ConnectError, match="cannot send to ftp://") as info:
        transport(request("ftp://user:pw@example.invalid"))
    assert "pw" not in str(info.value)


# --- timeouts --------------------------------------------------------------------------


def test_server_that_never_answers_is_a_read_error(
    serve: Any, transport: RequestsTransport
) -> None:
    server = serve(lambda conn, _: server.release.wait(30))
    with pytest.raises(ReadError, match=r"within the attempt timeout of 0\.2s") as info:
        transport(request(server.url, timeout=0.2))
    assert isinstance(info.value.__cause__, urllib3.exceptions.ReadTimeoutError)


def test_trickling_body_is_cut_at_the_attempt_timeout(
    serve: Any, transport: RequestsTransport
) -> None:
    def trickle(conn: socket.socket, _: bytes) -> None:
        # 200 bytes at 50 per second: each read gets a byte well within its socket timeout.
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
        for _ in range(200):
            if server.release.wait(0.02):
                return
            conn.sendall(b" ")

    server = serve(trickle)
    with pytest.raises(ReadError, match="did not arrive within the attempt timeout"):
        transport(request(server.url, timeout=0.3))


def trickling_headers(server: Server) -> Behaviour:
    """A header block sent a byte at a time, each well within the socket timeout.

    http.client reads the whole header block in one call: only the watchdog can end such
    an attempt in time.
    """
    head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400 + b"\r\nContent-Length: 2\r\n\r\n{}"

    def trickle(conn: socket.socket, _: bytes) -> None:
        for byte in head:
            if server.release.wait(0.02):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up, as it should

    return trickle


def trickling_server(serve: Callable[[Behaviour], Server]) -> Server:
    server = serve(answer())
    server.behaviour = trickling_headers(server)
    return server


def test_trickling_headers_are_cut_at_the_attempt_timeout(
    serve: Any, transport: RequestsTransport
) -> None:
    server = trickling_server(serve)
    with pytest.raises(ReadError, match="no complete response within the attempt timeout"):
        transport(request(server.url, timeout=0.3))


def test_a_callers_subclassed_adapter_gets_the_same_deadline(serve: Any) -> None:
    server = trickling_server(serve)
    session = requests.Session()
    adapter = CountingAdapter()
    session.mount("http://", adapter)
    with pytest.raises(ReadError, match="no complete response within the attempt timeout"):
        RequestsTransport(session)(request(server.url, timeout=0.3))
    assert adapter.sent == 1


def test_an_environment_proxy_gets_the_same_deadline(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = trickling_server(serve)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = RequestsTransport()
    with pytest.raises(ReadError, match="no complete response within the attempt timeout"):
        transport(request("http://api.example.invalid", timeout=0.3))
    transport.close()
    assert proxy.requests[0].startswith(b"GET http://api.example.invalid/")


def test_deadlines_hold_in_a_process_forked_after_the_transport_was_used(
    serve: Any, transport: RequestsTransport, in_forked_child: Any
) -> None:
    # gunicorn --preload, Celery prefork: the parent's watchdog thread is not in the child.
    fast = serve(answer())
    transport(request(fast.url, timeout=1.0))
    slow = trickling_server(serve)

    def attempt() -> str:
        try:
            transport(request(slow.url, timeout=0.3))
        except ReadError as error:
            return str(error)
        return "answered"

    assert "no complete response within the attempt timeout" in in_forked_child(attempt)


@pytest.mark.parametrize("session", ["own", "callers"])
def test_an_attempt_is_disarmed_before_its_connection_returns_to_the_pool(
    serve: Any, monkeypatch: pytest.MonkeyPatch, session: str
) -> None:
    # Once back in the pool another thread may check the connection out: an alarm still
    # armed on it would shut that thread's socket down at this attempt's deadline.
    from eemw._watchdog import WATCHDOG

    server = serve(answer(body=b'{"name": "x"}'))
    armed_on_return: list[int] = []
    put_conn = urllib3.HTTPConnectionPool._put_conn

    def spy(pool: Any, conn: Any) -> None:
        armed_on_return.append(sum(a.conn is conn for a in list(WATCHDOG._armed)))
        put_conn(pool, conn)

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "_put_conn", spy)
    transport = RequestsTransport(requests.Session() if session == "callers" else None)
    for _ in range(3):
        assert transport(request(server.url, timeout=5.0)).json() == {"name": "x"}
    transport.close()
    assert armed_on_return == [0, 0, 0]
    assert server.connections == 1


def test_a_callers_session_is_not_modified(serve: Any) -> None:
    server = serve(answer())
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    mounted = dict(session.adapters)
    transport = RequestsTransport(session)
    transport(request(server.url))
    transport.close()
    assert dict(session.adapters) == mounted
    assert adapter.poolmanager.pool_classes_by_scheme == {
        "http": urllib3.HTTPConnectionPool, "https": urllib3.HTTPSConnectionPool,
    }
    (key,) = adapter.poolmanager.pools.keys()
    pool = adapter.poolmanager.pools[key]
    assert "ConnectionCls" not in vars(pool)
    assert type(pool).ConnectionCls is urllib3.connection.HTTPConnection
    assert session.get_adapter(server.url) is adapter


# --- name resolution -------------------------------------------------------------------


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Host names the test controls: an address, an exception, or an Event to stall on."""
    table: dict[str, Any] = {}
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        found = table.get(host)
        if isinstance(found, threading.Event):
            found.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "gave up")
        if isinstance(found, BaseException):
            raise found
        return real(found or host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield table
    for found in table.values():
        if isinstance(found, threading.Event):
            found.set()


def test_a_name_lookup_that_hangs_is_a_connect_error_at_the_deadline(
    serve: Any, transport: RequestsTransport, names: dict[str, Any]
) -> None:
    server = serve(answer())
    names["stuck.example"] = threading.Event()
    with pytest.raises(ConnectError, match="could not connect") as info:
        transport(request(f"http://stuck.example:{server.port}", timeout=0.3))
    assert isinstance(info.value.__cause__, urllib3.exceptions.ConnectTimeoutError)
    assert server.requests == []


@pytest.mark.parametrize("session", ["own", "callers"])
def test_a_name_that_does_not_resolve_is_a_connect_error(
    names: dict[str, Any], session: str
) -> None:
    names["nowhere.example"] = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    transport = RequestsTransport(requests.Session() if session == "callers" else None)
    with pytest.raises(ConnectError, match="could not connect"):
        transport(request("http://nowhere.example:8080"))


def test_a_resolved_name_is_connected_to(
    serve: Any, transport: RequestsTransport, names: dict[str, Any]
) -> None:
    server = serve(answer(body=b'{"name": "x"}'))
    names["api.example"] = "127.0.0.1"
    response = transport(request(f"http://api.example:{server.port}", timeout=5.0))
    assert response.json() == {"name": "x"}
    assert b"host: api.example:" in server.requests[0].lower()


def test_connection_refused_is_a_connect_error(transport: RequestsTransport) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ConnectError) as info:
        transport(request(f"http://127.0.0.1:{port}"))
    assert isinstance(info.value.__cause__, urllib3.exceptions.NewConnectionError)


def test_connect_failure_before_sending_is_a_connect_error(
    serve: Any, transport: RequestsTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer())

    def slow_connect(self: Any) -> Any:
        raise urllib3.exceptions.ConnectTimeoutError(self, "timed out")

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", slow_connect)
    with pytest.raises(ConnectError) as info:
        transport(request(server.url))
    assert isinstance(info.value.__cause__, urllib3.exceptions.ConnectTimeoutError)
    assert server.requests == []


def test_timeouts_come_from_the_request(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer())
    seen: list[Any] = []
    real = urllib3.HTTPConnectionPool.urlopen

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["timeout"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", spy)
    transport = RequestsTransport(connect_timeout=3.0)
    transport(request(server.url, timeout=7.5))
    transport(request(server.url, timeout=1.5))
    transport.close()
    assert [(t.connect_timeout, t.read_timeout) for t in seen] == [(3.0, 7.5), (1.5, 1.5)]


# --- bodies ----------------------------------------------------------------------------


def test_endless_body_is_cut_at_the_cap(serve: Any) -> None:
    def endless(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        while not server.release.is_set():
            conn.sendall(chunk)

    server = serve(endless)
    transport = RequestsTransport(max_body_bytes=100_000)
    response = transport(request(server.url, timeout=10))
    assert response.truncated
    assert len(response.body) == 100_000
    server.behaviour = answer(body=b'{"ok": true}')
    after = transport(request(server.url))
    transport.close()
    assert after.body == b'{"ok": true}' and not after.truncated
    assert server.connections == 2  # the cut connection was discarded, not reused


def test_body_exactly_at_the_cap_is_not_truncated(serve: Any) -> None:
    server = serve(answer(body=b"y" * 1000))
    transport = RequestsTransport(max_body_bytes=1000)
    response = transport(request(server.url))
    transport.close()
    assert (len(response.body), response.truncated) == (1000, False)


def test_gzip_body_is_decoded(serve: Any, transport: RequestsTransport) -> None:
    payload = json.dumps({"name": NAME}).encode()
    server = serve(answer(body=gzip.compress(payload), headers={"Content-Encoding": "gzip"}))
    assert transport(request(server.url)).json() == {"name": NAME}


def test_response_headers_are_lower_cased_and_repeats_joined(
    serve: Any, transport: RequestsTransport
) -> None:
    def twice(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Thing: a\r\nX-Thing: b\r\n\r\n{}")

    server = serve(twice)
    response = transport(request(server.url))
    assert response.headers["x-thing"] == "a, b"
    assert "X-Thing" in response.headers


# --- sessions, proxies, TLS settings ---------------------------------------------------


class CountingAdapter(HTTPAdapter):
    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent = 0
        self.closed = 0

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent += 1
        return super().send(*args, **kwargs)

    def close(self) -> None:
        self.closed += 1
        super().close()


def test_a_callers_session_and_its_adapter_are_used(serve: Any) -> None:
    server = serve(answer(body=b'{"name": "x"}'))
    session = requests.Session()
    adapter = CountingAdapter()
    session.mount("http://", adapter)
    transport = RequestsTransport(session)
    for _ in range(3):
        assert transport(request(server.url)).json() == {"name": "x"}
    transport.close()
    assert adapter.sent == 3
    assert adapter.closed == 0  # eemw never closes a session it did not create
    assert server.connections == 1


def test_a_callers_stock_adapter_pool_is_used(serve: Any) -> None:
    server = serve(answer())
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    RequestsTransport(session)(request(server.url))
    (key,) = adapter.poolmanager.pools.keys()
    assert adapter.poolmanager.pools[key].num_connections == 1


def test_close_closes_the_pooled_connections(serve: Any) -> None:
    server = serve(answer())
    transport = RequestsTransport()
    transport(request(server.url))
    transport.close()
    assert server.wait_for_hangups(1)
    assert transport(request(server.url)).status == 200  # a closed transport reconnects
    transport.close()
    assert server.connections == 2


def test_calls_still_work_after_the_session_is_closed(
    serve: Any, transport: RequestsTransport
) -> None:
    server = serve(answer())
    transport(request(server.url))
    transport.session.close()
    assert transport(request(server.url)).status == 200


def test_environment_proxies_are_read_once_per_host(
    serve: Any, transport: RequestsTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer())
    reads: list[int] = []
    monkeypatch.setattr(requests.utils, "getproxies", lambda: reads.append(1) or {})
    for _ in range(5):
        transport(request(server.url))
        transport(request(f"http://localhost:{server.port}"))
    assert len(reads) == 2


def test_environment_proxy_is_honoured(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = serve(answer(body=b'{"via": "proxy"}'))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport = RequestsTransport()
    response = transport(request("http://api.example.invalid"))
    transport.close()
    assert response.json() == {"via": "proxy"}
    assert proxy.requests[0].startswith(b"GET http://api.example.invalid/v1/" + NAME.encode())


def test_a_missing_ca_bundle_is_a_connect_error() -> None:
    broken = RequestsTransport(verify="/nonexistent/ca-bundle.pem")
    with pytest.raises(ConnectError, match=r"cannot connect to https://example\.invalid"):
        broken(request("https://example.invalid"))


def test_verify_false_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eemw.transport"):
        RequestsTransport(verify=False)
    assert "verification is OFF" in caplog.text


def test_verified_transport_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eemw.transport"):
        RequestsTransport()
    assert caplog.text == ""


def test_token_requests_share_the_transports_pooled_connection(
    serve: Any, transport: RequestsTransport
) -> None:
    server = serve(answer(body=b'{"access_token": "t", "expires_in": 3600}'))
    auth_request = transport.google_auth_request()
    reply = auth_request(server.url + "/token", method="POST", body={"grant_type": "x"})
    transport(request(server.url))
    assert (reply.status, reply.data) == (200, b'{"access_token": "t", "expires_in": 3600}')
    assert server.requests[0].endswith(b"grant_type=x")
    assert server.connections == 1


def test_refresh_requests_close_the_transport_they_made(serve: Any) -> None:
    # For a client whose own transport cannot send token requests (e.g. MockTransport).
    from eemw._tokens import RefreshRequests

    server = serve(answer(body=b'{"access_token": "t", "expires_in": 3600}'))
    factory = RefreshRequests()
    assert factory()(server.url + "/token", method="POST", body=b"grant_type=x").status == 200
    factory.close()
    assert server.wait_for_hangups(1)


def test_a_token_endpoints_cookies_stay_out_of_a_callers_session(serve: Any) -> None:
    server = serve(answer(body=b"{}", headers={"Set-Cookie": "tracker=1; Path=/"}))
    session = requests.Session()
    transport = RequestsTransport(session)
    transport(request(server.url))
    transport.google_auth_request()(server.url + "/token", method="POST", body=b"grant")
    assert len(session.cookies) == 0


def test_a_token_request_follows_no_redirect(serve: Any, transport: RequestsTransport) -> None:
    server = serve(answer(307, b"", {"Location": "http://127.0.0.1:9/steal"}))
    reply = transport.google_auth_request()(server.url + "/token", method="POST", body=b"s")
    assert reply.status == 307
    assert len(server.requests) == 1


def test_errors_never_quote_the_bearer_token(serve: Any, transport: RequestsTransport) -> None:
    server = serve(lambda conn, _: server.release.wait(30))
    secret = "ya29.very-secret-token"
    with pytest.raises(ReadError) as info:
        transport(request(server.url, timeout=0.1, headers={"authorization": "Bearer " + secret}))
    assert secret not in str(info.value)
    assert secret not in repr(transport)


def test_max_body_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        RequestsTransport(max_body_bytes=0)


def test_is_the_clients_default_transport() -> None:
    from google.auth.credentials import AnonymousCredentials

    with eemw.Client("demo", credentials=AnonymousCredentials()) as client:
        assert isinstance(client.transport, RequestsTransport)


# --- the watchdog --------------------------------------------------------------------------


def test_the_watchdog_shuts_down_the_socket_of_an_expired_attempt() -> None:
    from types import SimpleNamespace

    from eemw._watchdog import Watchdog

    ours, peer = socket.socketpair()
    with ours, peer:
        alarm = Watchdog(tick=0.01).arm(deadline=0.0)  # long past
        alarm.conn = SimpleNamespace(sock=ours)
        peer.settimeout(10)
        assert peer.recv(1) == b""  # the attempt's end of the connection was shut down
        assert alarm.fired


def test_a_fired_alarm_spares_a_socket_opened_after_the_attempt_let_go() -> None:
    # urllib3 hands a failed attempt's (closed) connection object back to the pool, where
    # another attempt may reconnect it: only the socket this attempt used may be shut down.
    from types import SimpleNamespace

    from eemw._watchdog import Alarm

    used, used_peer = socket.socketpair()
    later, later_peer = socket.socketpair()
    with used, used_peer, later, later_peer:
        alarm = Alarm(deadline=0.0)
        alarm.conn = SimpleNamespace(sock=used)
        alarm.sock = used
        alarm.conn.sock = later  # the connection object now belongs to someone else
        alarm._fire()
        used_peer.settimeout(10)
        assert used_peer.recv(1) == b""
        later.sendall(b"x")
        assert later_peer.recv(1) == b"x"
