"""The emulator in its own process, so its CPU never counts as the client's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

EE_SCOPE = "https://www.googleapis.com/auth/earthengine"
_READY = re.compile(r"listening on (http://\S+)")


class EmulatorProcess:
    """``python -m eemw.emulator --port 0 …`` with auth on, stopped on exit.

    ``cancel_delay`` is huge by default: a cancelled operation stays CANCELLING, so the
    same operation can be cancelled again and again with the same server-side cost.
    """

    def __init__(
        self,
        *,
        seed: int = 10,
        latency_ms: float = 0.0,
        cancel_delay: float = 1e9,
        project: str = "demo",
    ) -> None:
        self.project = project
        self._args = [
            "--port", "0", "--project", project, "--seed-operations", str(seed),
            "--latency-ms", str(latency_ms), "--cancel-delay", str(cancel_delay),
            "--frozen-clock",
        ]
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.info: dict[str, str] = {}
        self.service_account_info: dict[str, str] = {}

    def __enter__(self) -> EmulatorProcess:
        self._dir = tempfile.TemporaryDirectory(prefix="eemw-bench-")
        creds = Path(self._dir.name) / "user.json"
        account = Path(self._dir.name) / "service-account.json"
        errors = open(Path(self._dir.name) / "stderr.txt", "w")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "eemw.emulator", *self._args, "--credentials-file", str(creds),
             "--service-account-file", str(account)],
            stdout=subprocess.PIPE, stderr=errors, text=True,
        )
        errors.close()
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        match = _READY.search(line)
        if match is None:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = match.group(1)
        self.info = json.loads(creds.read_text())
        self.service_account_info = json.loads(account.read_text())
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
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def credentials(self) -> Any:
        """Fresh user credentials (no token yet) whose refresh token works on this emulator.

        Built directly: ``Credentials.from_authorized_user_info`` always resets
        ``token_uri`` to Google's, which an offline emulator cannot be.
        """
        from google.oauth2.credentials import Credentials

        info = self.info
        return Credentials(
            None, refresh_token=info["refresh_token"], token_uri=info["token_uri"],
            client_id=info["client_id"], client_secret=info["client_secret"],
            scopes=[EE_SCOPE],
        )

    def token(self) -> str:
        """A bearer token for clients that take one as is (raw requests)."""
        import google.auth.transport.requests

        creds = self.credentials()
        creds.refresh(google.auth.transport.requests.Request())
        return str(creds.token)

    def operations(self) -> list[dict[str, Any]]:
        """Every operation of the project, as the server lists them."""
        import requests

        headers = {"Authorization": "Bearer " + self.token()}
        found: list[dict[str, Any]] = []
        token = ""
        with requests.Session() as session:
            while True:
                page = session.get(
                    f"{self.url}/v1/projects/{self.project}/operations",
                    params={"pageSize": 1000, "pageToken": token}, headers=headers, timeout=60,
                ).json()
                found.extend(page.get("operations", []))
                token = page.get("nextPageToken", "")
                if not token:
                    return found

    def live_names(self) -> list[str]:
        """Names of operations not done yet: ones a cancel is accepted for."""
        return [op["name"] for op in self.operations() if not op.get("done")]


def stop_process(proc: subprocess.Popen[str]) -> None:
    """End a server process the bench started: politely, then for sure; close its pipe."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
