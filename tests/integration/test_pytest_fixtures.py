"""The pytest plugin eemw registers (entry point pytest11): fixtures a user's tests take,
with parameters, on one fake timeline; and what was sent, read the same on mock and emulator."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import pytest

import eemw
from eemw.emulator import Emulator, Fault
from eemw.testing import FakeClock, MockTransport, operation_json


def test_fixtures_are_available_without_a_conftest(
    eemw_emulator: Emulator, eemw_client: eemw.Client
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING", start_after=0.0, duration=5.0)
    assert eemw_client.endpoint == eemw_emulator.url
    op = eemw_client.operations.wait(name, timeout=60)
    assert op.succeeded


def test_the_client_waits_on_the_fake_timeline_that_moves_the_emulator(
    eemw_emulator: Emulator, eemw_client: eemw.Client, eemw_clock: FakeClock
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING", start_after=0.0, duration=300)
    assert eemw_client.operations.wait(name, timeout=3600).succeeded
    assert eemw_clock() >= 300  # five minutes passed on the timeline, none for real
    assert eemw_client.clock is eemw_clock


@pytest.mark.parametrize(
    "eemw_emulator", [{"faults": [Fault(status=503, times=2)]}], indirect=True)
def test_faults_are_a_parameter_of_the_emulator(
    eemw_emulator: Emulator, eemw_client: eemw.Client, eemw_clock: FakeClock
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING")
    assert eemw_client.operations.get(name).name == name
    assert len(eemw_clock.sleeps) == 2  # two backoffs, slept on the fake clock


@pytest.mark.parametrize(
    "eemw_client", [{"project": "other", "api_version": "v1beta"}], indirect=True)
def test_project_and_version_are_parameters_of_the_client(
    eemw_emulator: Emulator, eemw_client: eemw.Client
) -> None:
    name = eemw_emulator.add_operation("other", state="RUNNING")
    assert eemw_client.operations.get(name.rsplit("/", 1)[1]).name == name
    assert [r.path for r in eemw_emulator.requests if "/operations/" in r.path] == [
        f"/v1beta/{name}"]


def test_the_factory_makes_more_clients_with_your_arguments(
    eemw_emulator: Emulator, eemw_client_factory: Callable[..., eemw.Client]
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING")
    seen: list[str] = []

    def spy(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        seen.append(request.call.label)
        return call_next(request)

    client = eemw_client_factory(middleware=[spy], retry=eemw.RetryPolicy.none())
    client.operations.cancel(name)
    assert seen == ["operations.cancel"]


class Recorded(Protocol):
    method: str
    path: str
    body: bytes


def cancels(requests: Sequence[Recorded]) -> list[tuple[str, str, bytes]]:
    """A user's own assertion helper: it reads the mock's and the emulator's records alike."""
    return [(r.method, r.path, r.body) for r in requests if r.path.endswith(":cancel")]


def test_the_mock_and_the_emulator_record_requests_alike(
    eemw_emulator: Emulator, eemw_client: eemw.Client
) -> None:
    name = eemw_emulator.add_operation("demo", state="RUNNING")
    eemw_client.operations.cancel(name)
    mock = MockTransport()
    mock.route("cancel").respond({})
    eemw.Client("demo", transport=mock).operations.cancel(name)
    assert cancels(mock.requests) == cancels(eemw_emulator.requests) == [
        ("POST", f"/v1/{name}:cancel", b"")]
    sent, received = mock.requests[0], eemw_emulator.requests[-1]
    assert sent.headers["x-goog-user-project"] == received.headers["X-Goog-User-Project"]


def test_a_users_test_module_runs_with_the_plugin(tmp_path: Path) -> None:
    # A user's project: no conftest, no imports of eemw's test helpers, just the fixtures.
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import pytest

        def test_cancel(eemw_emulator, eemw_client):
            name = eemw_emulator.add_operation("demo", state="RUNNING")
            eemw_client.operations.cancel(name)
            # Cancel is asynchronous, as on Earth Engine: CANCELLED comes later.
            assert eemw_client.operations.get(name).state.value == "CANCELLING"
            eemw_emulator.advance(2)
            assert eemw_client.operations.get(name).cancelled
            assert eemw_emulator.cancel_effects(name) == 1

        @pytest.mark.parametrize("eemw_client", [{"api_version": "v1alpha"}], indirect=True)
        def test_version(eemw_client):
            assert eemw_client.api_version == "v1alpha"
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_mock_transport_runs_the_full_stack() -> None:
    transport = MockTransport()
    transport.route("get", "ABC").respond(operation_json("ABC", state="SUCCEEDED"))
    client = eemw.Client("demo", transport=transport)  # no credentials needed
    assert client.operations.get("ABC").done
    (sent,) = transport.requests
    assert sent.url.endswith("/v1/projects/demo/operations/ABC")
    assert sent.headers["X-Goog-User-Project"] == "demo"
