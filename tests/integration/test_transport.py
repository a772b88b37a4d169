"""RequestsTransport against the emulator over 127.0.0.1: pooling, faults, caps, timeouts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eemw
from eemw import Call, Headers, ReadError, Request, RequestsTransport
from eemw.emulator import Emulator, Fault


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def get_request(emu: Emulator, name: str, *, timeout: float = 5.0) -> Request:
    headers = Headers({"Authorization": "Bearer " + emu.issue_token()})
    return Request("GET", f"{emu.url}/v1/{name}", headers, Call("get", "demo", "v1", name),
                   None, timeout)


def api_requests(emu: Emulator) -> list[object]:
    return [r for r in emu.requests if not r.path.startswith("/token")]


def pool_connections(transport: RequestsTransport, url: str) -> int:
    """TCP connections the transport's pool for ``url`` has opened so far."""
    adapter = transport.session.get_adapter(url)
    pools = adapter.poolmanager.pools  # type: ignore[attr-defined]
    # urllib3's pool container refuses plain iteration (not thread-safe); keys() copies.
    return sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118


def test_client_calls_and_token_refresh_share_one_connection(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
        for _ in range(10):
            client.operations.get(name)
        client.operations.cancel(name)
        listed = list(client.operations.list())
        transport = client.transport
        assert isinstance(transport, RequestsTransport)
        assert pool_connections(transport, emu.url) == 1
    assert [op.name for op in listed] == [name]
    assert len(api_requests(emu)) == 12


def test_error_statuses_come_back_as_responses(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(status=503, retry_after="2"))
    transport = RequestsTransport()
    response = transport(get_request(emu, name))
    transport.close()
    assert response.status == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["status"] == "UNAVAILABLE"


def test_dropped_connection_is_one_attempt(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="drop_after"))
    transport = RequestsTransport()
    with pytest.raises(ReadError) as info:
        transport(get_request(emu, name))
    assert info.value.__cause__ is not None
    assert len(api_requests(emu)) == 1
    assert transport(get_request(emu, name)).status == 200  # a fresh connection works
    transport.close()


def test_cut_body_is_a_read_error(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="truncate"))
    transport = RequestsTransport()
    with pytest.raises(ReadError, match="while reading the response"):
        transport(get_request(emu, name))
    transport.close()


def test_huge_body_is_capped(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="huge", size=4 * 1024 * 1024))
    transport = RequestsTransport(max_body_bytes=64 * 1024)
    response = transport(get_request(emu, name))
    assert response.truncated
    assert len(response.body) == 64 * 1024
    assert transport(get_request(emu, name)).json()["name"] == name
    transport.close()


def test_slow_server_is_a_read_error_within_the_timeout(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="delay", delay=5.0))
    transport = RequestsTransport()
    with pytest.raises(ReadError, match="no response within the attempt timeout"):
        transport(get_request(emu, name, timeout=0.2))
    transport.close()


def test_trickled_body_is_a_read_error_within_the_timeout(emu: Emulator) -> None:
    name = emu.add_operation("demo", description="d" * 2000)
    emu.add_fault(Fault(kind="trickle", delay=0.01))
    transport = RequestsTransport()
    with pytest.raises(ReadError, match="did not arrive within the attempt timeout"):
        transport(get_request(emu, name, timeout=0.2))
    transport.close()


def test_client_maps_a_read_timeout_through_the_stack(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="delay", delay=5.0, times=None))
    policy = eemw.RetryPolicy(max_attempts=1)
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                     retry=policy) as client, pytest.raises(eemw.TimedOutError) as info:
        client.operations.get(name, timeout=0.3)
    # The attempt's read timeout is the call's deadline here: the deadline is what ended it.
    assert isinstance(info.value, eemw.DeadlineExceededError)
    assert isinstance(info.value.last_error, eemw.ReadTimeoutError)
    assert len(api_requests(emu)) == 1


def test_a_callers_session_serves_calls_and_refreshes_untouched(emu: Emulator) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    name = emu.add_operation("demo", state="RUNNING")
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    emu.add_fault(Fault(kind="delay", delay=5.0, path_contains="/operations/"))
    transport = RequestsTransport(session)
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                     transport=transport, retry=eemw.RetryPolicy.none()) as client:
        # The attempt's timeout is the call's deadline: a deadline error, a timeout either way.
        with pytest.raises(eemw.TimedOutError, match="no response within the attempt timeout"):
            client.operations.get(name, timeout=0.3)
        assert client.operations.get(name).name == name  # the fault was for one request
    transport.close()
    assert session.get_adapter(emu.url) is adapter
    (key,) = adapter.poolmanager.pools.keys()
    assert "ConnectionCls" not in vars(adapter.poolmanager.pools[key])
    assert [r.path for r in emu.requests].count("/token") == 1  # the refresh used it too
