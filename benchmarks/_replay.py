"""A loopback server that replays fixed list pages, so paging shows the client's own cost.

``python -m benchmarks._replay --operations N`` prints ``listening on http://…`` and then
answers, until terminated:

* ``GET /v1/projects/demo/operations?pageSize=S[&pageToken=T]``: the page's bytes, built
  once at start-up (every page size asked for is built on first use and kept);
* ``GET /$discovery/rest?version=v1``: the emulator's discovery document, so
  earthengine-api can be pointed here too.

It checks no token and keeps no state between requests: whatever a client spends beyond
the bytes on the wire is the client's. Run it in its own process so its CPU never counts
as the client's.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._emulator import stop_process

PROJECT = "demo"
_STATES = ("SUCCEEDED", "RUNNING", "FAILED", "PENDING", "CANCELLED", "SUCCEEDED", "RUNNING")


def operation(i: int) -> dict[str, Any]:
    """The ``i``-th operation: the fields Earth Engine sends, varied like a real project."""
    state = _STATES[i % len(_STATES)]
    minute, second = divmod(i % 3600, 60)
    created = f"2024-05-{1 + i % 28:02d}T10:{minute:02d}:{second:02d}.{i % 1000:03d}Z"
    meta: dict[str, Any] = {
        "@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
        "state": state,
        "description": f"export_ndvi_tile_{i:06d}",
        "type": "EXPORT_IMAGE",
        "priority": 100,
        "createTime": created,
        "updateTime": created,
        "startTime": created,
        "attempt": 1,
        "scriptUri": "https://code.earthengine.google.com/?scriptPath=users/demo/ndvi",
        "destinationUris": [f"https://drive.google.com/#folders/tile{i:06d}"],
    }
    op: dict[str, Any] = {"name": f"projects/{PROJECT}/operations/{_op_id(i)}", "metadata": meta}
    if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
        meta.update(endTime=created, progress=1.0, batchEecuUsageSeconds=12.5 + i % 7)
        meta["stages"] = [{"displayName": "Create Local Files", "completeWorkUnits": 1,
                           "totalWorkUnits": 1, "description": "Computation of tiles."}]
        op["done"] = True
        if state == "FAILED":
            op["error"] = {"code": 3, "message": "Image.clip: The geometry is empty."}
        elif state == "CANCELLED":
            op["error"] = {"code": 1, "message": "Cancelled by user."}
        else:
            op["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
    else:
        meta["progress"] = (i % 100) / 100
    return op


def _op_id(i: int) -> str:
    # Earth Engine ids are 24 upper-case letters and digits.
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    out, n = [], i * 2654435761 % (32**12)
    for _ in range(12):
        n, d = divmod(n, 32)
        out.append(digits[d])
    return "".join(out) + f"{i:012d}"


class Pages:
    """The page bytes for every page size asked for, each built once."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._ops = [json.dumps(operation(i), separators=(",", ":")) for i in range(total)]
        self._pages: dict[tuple[int, str], bytes] = {}

    def page(self, size: int, token: str) -> bytes | None:
        key = (size, token)
        if key not in self._pages:
            if token and not token.startswith("p"):
                return None
            start = int(token[1:]) if token else 0
            end = min(start + size, self.total)
            body = '{"operations":[' + ",".join(self._ops[start:end]) + "]"
            body += f',"nextPageToken":"p{end}"}}' if end < self.total else "}"
            self._pages[key] = body.encode()
        return self._pages[key]


def _handler(pages: Pages, discovery: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path in ("/$discovery/rest", "/%24discovery/rest"):
                self._send(200, discovery)
                return
            if parts.path.endswith(f"/projects/{PROJECT}/operations"):
                size = min(1000, int(query.get("pageSize", ["50"])[0]))
                body = pages.page(size, query.get("pageToken", [""])[0])
                if body is not None:
                    self._send(200, body)
                    return
            self._send(404, b'{"error":{"code":404,"message":"not here","status":"NOT_FOUND"}}')

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class ReplayProcess:
    """This server in its own process, stopped on exit; ``url`` is where it listens."""

    def __init__(self, operations: int) -> None:
        self._args = ["--operations", str(operations)]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.project = PROJECT

    def __enter__(self) -> ReplayProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._replay", *self._args],
            stdout=subprocess.PIPE, text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the replay server did not start: {line!r}")
        self.url = match.group(1)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._replay")
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    from eemw.emulator._discovery import discovery_document

    server = ThreadingHTTPServer(("127.0.0.1", args.port), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    discovery = json.dumps(discovery_document(url + "/", "v1")).encode()
    server.RequestHandlerClass = _handler(Pages(args.operations), discovery)
    server.daemon_threads = True
    print(f"listening on {url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
