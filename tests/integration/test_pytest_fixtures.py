"""The pytest plugin eemw registers (entry point pytest11) gives users' tests an emulator."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import eemw
from eemw.emulator import Emulator


def test_fixtures_are_available_without_a_conftest(
    eemw_emulator: Emulator, eemw_client: eemw.Client
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING", start_after=0.0, duration=5.0)
    assert eemw_client.endpoint == eemw_emulator.url
    op = eemw_client.operations.wait(name, timeout=60)
    assert op.succeeded


def test_a_users_test_module_runs_with_the_plugin(tmp_path: Path) -> None:
    # A user's project: no conftest, no imports of eemw's test helpers, just the fixture.
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        def test_cancel(eemw_emulator, eemw_client):
            name = eemw_emulator.add_operation("demo", state="RUNNING")
            eemw_client.operations.cancel(name)
            # Cancel is asynchronous, as on Earth Engine: CANCELLED comes later.
            assert eemw_client.operations.get(name).state.value == "CANCELLING"
            eemw_emulator.advance(2)
            assert eemw_client.operations.get(name).cancelled
            assert eemw_emulator.cancel_effects(name) == 1
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_mock_transport_runs_the_full_stack() -> None:
    from google.auth.credentials import AnonymousCredentials

    from eemw.testing import MockTransport, respond

    def handler(request: eemw.Request) -> eemw.Response:
        return respond(request, json={"name": request.call.name, "done": True})

    transport = MockTransport(handler)
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    assert client.operations.get("ABC").done
    (sent,) = transport.requests
    assert sent.url.endswith("/v1/projects/demo/operations/ABC")
    assert sent.headers["X-Goog-User-Project"] == "demo"
