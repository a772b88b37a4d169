"""Client argument checks: every bad input is a typed error raised before any I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.testing import MockTransport, respond


def never(request: eemw.Request) -> eemw.Response:
    raise AssertionError(f"nothing should be sent, got {request!r}")


@pytest.fixture
def client() -> eemw.Client:
    return eemw.Client("demo", transport=MockTransport(never), credentials=AnonymousCredentials())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": True},
        {"page_size": 0},
        {"page_size": 1001},
        {"page_size": "10"},
        {"limit": True},
        {"limit": -1},
        {"state": 5},
        {"state": "DONE"},
        {"state": ["RUNNING", "NOPE"]},
        {"type": 5},
        {"type": [1, 2]},
        {"filter": "done=true\r\nX: y"},
        {"filter": 7},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"timeout": 1e300},
        {"timeout": "5"},
        {"timeout": True},
        {"project": "a/b"},
    ],
)
def test_bad_list_arguments(client: eemw.Client, kwargs: dict[str, Any]) -> None:
    with pytest.raises(eemw.UsageError):
        client.operations.list(**kwargs)


def test_filter_may_hold_any_printable_text() -> None:
    seen: list[eemw.Request] = []

    def handler(request: eemw.Request) -> eemw.Response:
        seen.append(request)
        return respond(request, json={})

    client = eemw.Client("demo", transport=MockTransport(handler),
                         credentials=AnonymousCredentials())
    assert list(client.operations.list(filter='metadata.description="Zürich"')) == []
    assert "filter=metadata.description%3D%22Z%C3%BCrich%22" in seen[0].url


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval": "1"},
        {"poll_interval": None},
        {"poll_interval": float("nan")},
        {"poll_interval": 0},
        {"poll_interval": 5.0, "max_poll_interval": 1.0},
        {"timeout": -1},
    ],
)
def test_bad_wait_arguments(client: eemw.Client, kwargs: dict[str, Any]) -> None:
    with pytest.raises(eemw.UsageError):
        client.operations.wait("ABC", **kwargs)


@pytest.mark.parametrize(
    "endpoint",
    ["http://[::1", "http://127.0.0.1:99999", "ftp://example.com", "https://h/v1",
     "https://user:pw@h", "https://h?x=1", 42],
)
def test_bad_endpoints(endpoint: Any) -> None:
    with pytest.raises(eemw.UsageError):
        eemw.Client("demo", endpoint=endpoint, transport=MockTransport(never),
                    credentials=AnonymousCredentials())


def test_list_stops_when_the_server_repeats_a_page_token() -> None:
    def handler(request: eemw.Request) -> eemw.Response:
        return respond(request, json={
            "operations": [{"name": "projects/demo/operations/A"}], "nextPageToken": "same",
        })

    transport = MockTransport(handler)
    client = eemw.Client("demo", transport=transport, credentials=AnonymousCredentials())
    with pytest.raises(eemw.MalformedResponseError, match="repeated a page token"):
        list(client.operations.list())
    assert len(transport.requests) == 2


def test_public_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        eemw.errors.RPC_CODES["NOT_FOUND"] = eemw.errors.RPC_CODES["INTERNAL"]  # type: ignore[index]
    with pytest.raises(TypeError):
        eemw.DEFAULT_TIMEOUTS["get"] = 1.0  # type: ignore[index]


def test_a_proxy_405_on_cancel_is_not_already_done() -> None:
    def handler(request: eemw.Request) -> eemw.Response:
        return respond(request, 405, body=b"Method Not Allowed")

    client = eemw.Client("demo", transport=MockTransport(handler),
                         credentials=AnonymousCredentials())
    (result,) = client.operations.cancel_many(["ABC"])
    assert result.outcome == "error"
    assert not result.ok
    assert type(result.error) is eemw.ApiError


def test_wait_asks_the_server_for_less_than_the_time_left() -> None:
    # A server that holds :wait for as long as it is asked, on a fake clock: the client must
    # leave room for the answer to arrive, and at its deadline report the last state seen.
    now = [0.0]
    asked: list[tuple[float, float]] = []

    def server(request: eemw.Request) -> eemw.Response:
        assert request.timeout is not None
        if request.url.endswith(":wait"):
            hold = float(json.loads(request.body or b"{}")["timeout"][:-1])
            asked.append((hold, request.timeout))
            now[0] += hold
        return respond(request, json={"name": request.call.name,
                                      "metadata": {"state": "RUNNING"}})

    client = eemw.Client("demo", transport=MockTransport(server),
                         credentials=AnonymousCredentials(), clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(eemw.DeadlineExceededError) as info:
        client.operations.wait("ABC", timeout=90)
    assert asked, "the server's :wait was used"
    assert all(hold < left for hold, left in asked)
    assert now[0] <= 90
    assert info.value.operation is not None
    assert info.value.operation.state is eemw.State.RUNNING
