"""HTTP/1.1 plumbing: a threading server that tracks its connections, and the handler."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from ._core import TRICKLE_CHUNK, Core, Incoming, Outcome
from ._records import Headers
from ._wire import ApiError, Reply, error_reply

MAX_BODY = 16 * 1024 * 1024
# Idle keep-alive connections are closed after this long, so abandoned clients free their threads.
_IDLE_TIMEOUT = 120.0


class _BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], core: Core, stopping: threading.Event) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.core = core
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on a keep-alive connection so it exits now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "eemw-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = _IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        return  # no access log: it costs time and would print request paths on every call

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    @property
    def _server(self) -> EmulatorHTTPServer:
        return cast(EmulatorHTTPServer, self.server)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as bad:
            self.close_connection = True
            self._write(Outcome(bad.reply))
            return
        incoming = Incoming(self.command, self.path, Headers(self.headers.items()), body)
        try:
            outcome = self._server.core.respond(incoming)
        except Exception:
            traceback.print_exc()
            outcome = Outcome(
                error_reply(ApiError("INTERNAL", "The emulator failed; see its stderr."))
            )
        try:
            self._write(outcome)
        finally:
            outcome.release()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BadRequest(_error(400, "INVALID_ARGUMENT", "Invalid Content-Length.")) from None
        if length < 0 or length > MAX_BODY:
            raise _BadRequest(_error(413, "INVALID_ARGUMENT", "Request body too large."))
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest(
                    _error(400, "INVALID_ARGUMENT", "Bad chunked encoding.")
                ) from None
            total += size
            if total > MAX_BODY:
                raise _BadRequest(_error(413, "INVALID_ARGUMENT", "Request body too large."))
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, outcome: Outcome) -> None:
        if outcome.delay and self._server.stopping.wait(outcome.delay):
            outcome = Outcome(None, release=outcome.release)
        # The request stops counting against its quota as its answer starts out, so a client
        # that has read the answer can rely on the slot being free.
        outcome.release()
        reply = outcome.reply
        if reply is None:
            self._drop()
            return
        head = self._head(reply)
        if outcome.mode == "trickle":
            self._trickle(head, reply.body, outcome.pause)
        elif outcome.mode == "truncate":
            self.wfile.write(head + reply.body[: len(reply.body) // 2])
            self._drop()
        else:
            self.wfile.write(head + reply.body)

    def _head(self, reply: Reply) -> bytes:
        phrase = self.responses.get(reply.status, ("Unknown",))[0]
        lines = [
            f"{self.protocol_version} {reply.status} {phrase}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            "Server: eemw-emulator",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _trickle(self, head: bytes, body: bytes, pause: float) -> None:
        self.wfile.write(head)
        for start in range(0, len(body), TRICKLE_CHUNK):
            if self._server.stopping.wait(pause):
                self._drop()
                return
            self.wfile.write(body[start : start + TRICKLE_CHUNK])

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _error(status: int, rpc: str, message: str) -> Reply:
    return error_reply(ApiError(rpc, message, http_status=status))
