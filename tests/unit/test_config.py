"""Configuration from the environment: one documented list, arguments always win."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw import Request, Response
from eemw.testing import FakeClock, MockTransport, respond

ROOT = Path(__file__).resolve().parents[2]
NAME = "projects/demo/operations/OP1"


def operation(request: Request) -> Response:
    return respond(request, json={"name": NAME, "done": False})


def make_client(**kwargs: object) -> tuple[eemw.Client, MockTransport]:
    mock = MockTransport(operation)
    clock = FakeClock()
    client = eemw.Client("demo", credentials=AnonymousCredentials(), transport=mock,
                         clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]
    return client, mock


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("EEMW_ENDPOINT", "EEMW_API_VERSION", "EEMW_PROJECT", "EEMW_TIMEOUT",
                "EEMW_RETRY_ATTEMPTS", "EEMW_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def test_endpoint_version_and_timeout_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EEMW_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("EEMW_API_VERSION", "v1beta")
    monkeypatch.setenv("EEMW_TIMEOUT", "7.5")
    client, mock = make_client()
    client.operations.get("OP1")
    sent = mock.requests[0]
    assert sent.url == "http://127.0.0.1:9/v1beta/" + NAME
    assert sent.timeout == 7.5
    assert client.timeout == 7.5


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EEMW_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("EEMW_TIMEOUT", "7.5")
    client, mock = make_client(endpoint="http://127.0.0.1:8", api_version="v1alpha", timeout=3)
    client.operations.get("OP1")
    client.operations.get("OP1", timeout=1.5)
    assert mock.requests[0].url == "http://127.0.0.1:8/v1alpha/" + NAME
    assert [r.timeout for r in mock.requests] == [3.0, 1.5]


def test_client_timeout_leaves_wait_its_own_default() -> None:
    client, _ = make_client(timeout=5)
    assert client.timeout == 5.0
    assert eemw.DEFAULT_TIMEOUTS["wait"] == 600.0
    assert client._timeouts["wait"] == 600.0
    assert client._timeouts["cancel"] == 5.0


def test_retry_attempts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EEMW_RETRY_ATTEMPTS", "1")
    mock = MockTransport(lambda request: respond(request, 503))
    client = eemw.Client("demo", credentials=AnonymousCredentials(), transport=mock,
                         sleep=lambda _: None)
    with pytest.raises(eemw.EemwError):
        client.operations.get("OP1")
    assert len(mock.requests) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EEMW_TIMEOUT", "soon"), ("EEMW_TIMEOUT", "-1"), ("EEMW_TIMEOUT", "nan"),
     ("EEMW_RETRY_ATTEMPTS", "0"), ("EEMW_RETRY_ATTEMPTS", "two"),
     ("EEMW_API_VERSION", "v2"), ("EEMW_ENDPOINT", "ftp://example.com")],
)
def test_a_bad_value_is_a_usage_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    mock = MockTransport(operation)
    with pytest.raises(eemw.UsageError) as info:
        eemw.Client("demo", credentials=AnonymousCredentials(), transport=mock)
    assert mock.requests == []
    if variable in ("EEMW_TIMEOUT", "EEMW_RETRY_ATTEMPTS"):
        assert variable in str(info.value)


def test_project_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EEMW_PROJECT", "from-env")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-google")
    client = eemw.Client(credentials=AnonymousCredentials(), transport=MockTransport(operation))
    assert client.project == "from-env"


def test_every_variable_the_code_reads_is_documented() -> None:
    documented = {var.name for var in eemw.ENVIRONMENT}
    read = set()
    for path in (ROOT / "eemw").rglob("*.py"):
        if "emulator" in path.parts:
            continue
        read |= set(re.findall(r"\"(EEMW_[A-Z_]+)\"", path.read_text()))
    prefixes = {n.split("<", 1)[0] for n in documented if "<" in n}
    undocumented = {
        name for name in read
        if name not in documented and not any(name.startswith(p) for p in prefixes)
    }
    assert undocumented == set()
    assert all(var.meaning.endswith(".") for var in eemw.ENVIRONMENT)
