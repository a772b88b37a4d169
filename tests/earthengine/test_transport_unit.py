"""EarthEngineTransport alone: the client's full stack on a MockTransport, no network, no ee."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.oauth2.credentials import Credentials

import eemw
from eemw import ConnectError, Entry, ReadError, Request, Response, RetryPolicy, UsageError
from eemw._ee_methods import METHODS, classify, has_request_id
from eemw.earthengine import EarthEngineTransport, initialize
from eemw.testing import FakeClock, MockTransport, respond

ROOT = "http://127.0.0.1:9"
COMPUTE = ROOT + "/v1/projects/demo/value:compute?prettyPrint=false&alt=json"
EXPORT = ROOT + "/v1/projects/demo/image:export?alt=json"
EE_HEADERS = {"Content-Type": "application/json", "X-Goog-Api-Client": "ee-py/1.0 python/3"}
EEMW_TOKEN = "eemw-token-do-not-leak"
EE_TOKEN = "ee-token-do-not-leak"
ENVELOPE = {"error": {"code": 503, "message": "Busy.", "status": "UNAVAILABLE"}}

Handler = Callable[[Request], Response]


def ok(request: Request) -> Response:
    return respond(request, json={"result": 42}, headers={"X-Extra": "yes"})


def make(
    handler: Handler, *, credentials: Any = None, plugins: tuple[Entry, ...] = (),
    attempts: int = 3, timeout: float = 30.0,
) -> tuple[EarthEngineTransport, MockTransport, FakeClock]:
    clock = FakeClock(1000.0)
    mock = MockTransport(handler)
    client = eemw.Client(
        "demo", endpoint=ROOT, transport=mock,
        credentials=credentials or AnonymousCredentials(), quota_project="billing",
        retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.01, max_attempts=attempts),
        middleware=plugins, clock=clock, sleep=clock.sleep,
    )
    return EarthEngineTransport(client, timeout=timeout), mock, clock


def compute(transport: EarthEngineTransport, **headers: str) -> tuple[Any, bytes]:
    body = json.dumps({"expression": {"result": "0"}})
    return transport.request(COMPUTE, "POST", body=body, headers={**EE_HEADERS, **headers})


def failing(status: int, body: bytes, then: Handler | None = None) -> Handler:
    def handler(request: Request) -> Response:
        if then is not None and handler.calls:  # type: ignore[attr-defined]
            return then(request)
        handler.calls += 1  # type: ignore[attr-defined]
        return respond(request, status, body=body, headers={"Content-Type": "application/json"})

    handler.calls = 0  # type: ignore[attr-defined]
    return handler


# --- naming -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "kind", "repeat"), [
    ("POST", "/v1/projects/p/value:compute", "projects.value.compute", "safe"),
    ("POST", "/v1beta/projects/p/image:computePixels", "projects.image.computePixels", "safe"),
    ("POST", "/v1/projects/p/image:export", "projects.image.export", "unsafe"),
    ("POST", "/v1/projects/p/table:export", "projects.table.export", "unsafe"),
    ("GET", "/v1/projects/p/assets/a/b/c", "projects.assets.get", "safe"),
    ("GET", "/v1/projects/p/assets/a/b:listAssets", "projects.assets.listAssets", "safe"),
    ("POST", "/v1/projects/p/assets", "projects.assets.create", "unsafe"),
    ("DELETE", "/v1/projects/p/assets/a", "projects.assets.delete", "unsafe"),
    ("GET", "/v1/projects/p/operations/x", "projects.operations.get", "safe"),
    ("POST", "/v1/projects/p/operations/x:cancel", "projects.operations.cancel", "reconcile"),
    ("GET", "/v1/projects/p/algorithms", "projects.algorithms.list", "safe"),
    ("GET", "/v1alpha/projects/p/maps/m/tiles/1/2/3", "projects.maps.tiles.get", "safe"),
    ("GET", "/$discovery/rest", "discovery.getRest", "safe"),
    ("GET", "/v1/projects/p/somethingNew", "unknown", "safe"),
    ("POST", "/v1/projects/p/somethingNew:do", "unknown", "unsafe"),
])
def test_each_request_is_named_after_its_rest_method(
    method: str, path: str, kind: str, repeat: str
) -> None:
    route = classify(method, path, None, "v1")
    assert route is not None
    assert (route.kind, route.repeat) == (kind, repeat)
    if kind.startswith("projects."):
        assert route.project == "p"


def test_a_token_endpoint_is_not_an_earth_engine_call() -> None:
    assert classify("POST", "/token", b"grant_type=x", "v1") is None


def test_every_table_entry_is_reachable_by_its_own_path() -> None:
    for method in METHODS:
        path = "/v1/" + method.path.replace("{p}", "p").replace("{+a}", "a/b").replace(
            "{x}", "x"
        )
        route = classify(method.http_method, path, None, "v1")
        assert route is not None and route.kind == method.kind, method


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"requestId": "abc", "description": "x"}', True),
    (b'{"requestId": ""}', False),
    (b'{"description": "requestId"}', False),
    (b'{"nested": {"requestId": "abc"}}', False),
    (b'{"requestId": "abc"', False),
    (None, False),
])
def test_a_request_id_is_found_only_at_the_top_of_the_body(
    body: bytes | None, expected: bool
) -> None:
    assert has_request_id(body) is expected


# --- what ee gets -------------------------------------------------------------------------


def test_a_computation_travels_the_stack_under_its_own_name() -> None:
    transport, mock, _ = make(ok)
    response, content = compute(transport)
    assert (response.status, response.reason, response["status"]) == (200, "OK", "200")
    assert response["x-extra"] == "yes" and json.loads(content) == {"result": 42}
    (sent,) = mock.requests
    assert sent.call.label == "earthengine.projects.value.compute"
    assert (sent.call.project, sent.call.api_version, sent.call.mutating) == ("demo", "v1", False)
    assert sent.url == COMPUTE
    assert json.loads(sent.body or b"") == {"expression": {"result": "0"}}
    assert sent.headers["x-goog-api-client"] == f"ee-py/1.0 python/3 eemw/{eemw.__version__}"
    assert "idempotency-key" not in sent.headers


def test_an_error_answer_reaches_ee_as_the_server_sent_it() -> None:
    body = b'{"error": {"code": 404, "message": "Asset x not found.", "status": "NOT_FOUND"}}'
    transport, mock, _ = make(failing(404, body))
    response, content = compute(transport)
    assert (response.status, response.reason, content) == (404, "Not Found", body)
    assert response["content-type"] == "application/json"
    assert len(mock.requests) == 1


def test_a_503_on_a_computation_is_retried_by_eemw_and_ee_sees_the_success() -> None:
    transport, mock, clock = make(failing(503, json.dumps(ENVELOPE).encode(), then=ok))
    response, _ = compute(transport)
    assert response.status == 200 and len(mock.requests) == 2 and len(clock.sleeps) == 1


def test_when_retries_run_out_ee_sees_the_last_answer() -> None:
    body = json.dumps(ENVELOPE).encode()
    transport, mock, _ = make(failing(503, body), attempts=3)
    response, content = compute(transport)
    assert (response.status, content) == (503, body) and len(mock.requests) == 3


def test_an_export_without_request_id_is_never_sent_twice() -> None:
    transport, mock, _ = make(failing(503, json.dumps(ENVELOPE).encode(), then=ok))
    response, _ = transport.request(EXPORT, "POST", body='{"expression": {}}', headers=EE_HEADERS)
    assert response.status == 503 and len(mock.requests) == 1
    assert mock.requests[0].call.label == "earthengine.projects.image.export"
    assert mock.requests[0].call.mutating


def test_an_export_without_request_id_and_a_lost_answer_is_not_resent() -> None:
    def lost(request: Request) -> Response:
        raise ReadError("the connection failed after sending")

    transport, mock, _ = make(lost)
    with pytest.raises(ConnectionError) as caught:
        transport.request(EXPORT, "POST", body='{"expression": {}}', headers=EE_HEADERS)
    assert isinstance(caught.value.__cause__, ReadError)
    assert len(mock.requests) == 1


def test_an_export_with_request_id_is_retried() -> None:
    transport, mock, _ = make(failing(503, json.dumps(ENVELOPE).encode(), then=ok))
    body = '{"expression": {}, "requestId": "task-1"}'
    response, _ = transport.request(EXPORT, "POST", body=body, headers=EE_HEADERS)
    assert response.status == 200 and len(mock.requests) == 2


def test_connection_failures_become_connection_error_for_ee() -> None:
    def refused(request: Request) -> Response:
        raise ConnectError("could not connect")

    transport, mock, _ = make(refused, attempts=2)
    with pytest.raises(ConnectionError):
        compute(transport)
    assert len(mock.requests) == 2


def test_the_deadline_becomes_a_timeout_error_for_ee() -> None:
    transport, mock, clock = make(ok, timeout=5.0)

    def slow(request: Request) -> Response:
        clock.now += 6.0
        raise ReadError("no response within the attempt timeout")

    mock._handler = slow
    with pytest.raises(TimeoutError):
        compute(transport)
    assert len(mock.requests) == 1


def test_an_error_raised_by_a_stage_reaches_ee_as_an_error_envelope() -> None:
    def throttle(request: Request, call_next: Callable[[Request], Response]) -> Response:
        raise eemw.ResourceExhaustedError(
            "Local quota exhausted.", http_status=429, rpc_status="RESOURCE_EXHAUSTED"
        )

    transport, mock, _ = make(ok, plugins=(Entry("throttle", throttle, "attempt"),), attempts=1)
    response, content = compute(transport)
    assert response.status == 429 and not mock.requests
    assert json.loads(content)["error"]["message"] == "Local quota exhausted."


def test_a_body_cut_at_the_transport_cap_is_an_eemw_error_not_a_short_answer() -> None:
    def cut(request: Request) -> Response:
        return Response(200, eemw.Headers({}), b"\x89PNG", request, truncated=True)

    transport, _, _ = make(cut)
    with pytest.raises(eemw.MalformedResponseError, match="max_body_bytes"):
        compute(transport)


# --- one auth owner ------------------------------------------------------------------------


@pytest.fixture
def signed() -> Iterator[Credentials]:
    yield Credentials(token=EEMW_TOKEN)


def test_eemw_signs_what_ee_did_not(signed: Credentials) -> None:
    transport, mock, _ = make(ok, credentials=signed)
    compute(transport, **{"X-Goog-User-Project": "ee-project"})
    (sent,) = mock.requests
    assert sent.headers["authorization"] == f"Bearer {EEMW_TOKEN}"
    assert sent.headers["x-goog-user-project"] == "billing"


def test_when_ee_signs_eemw_adds_no_second_token(signed: Credentials) -> None:
    transport, mock, _ = make(ok, credentials=signed)
    compute(transport, Authorization=f"Bearer {EE_TOKEN}")
    (sent,) = mock.requests
    assert sent.headers["authorization"] == f"Bearer {EE_TOKEN}"
    assert sent.headers["x-goog-user-project"] == "billing"


def test_a_401_is_left_to_ee_when_ee_signs(signed: Credentials) -> None:
    body = b'{"error": {"code": 401, "message": "Token expired.", "status": "UNAUTHENTICATED"}}'
    transport, mock, _ = make(failing(401, body), credentials=signed)
    response, content = compute(transport, Authorization=f"Bearer {EE_TOKEN}")
    assert (response.status, content) == (401, body) and len(mock.requests) == 1


def test_no_token_in_reprs_or_errors(signed: Credentials) -> None:
    def lost(request: Request) -> Response:
        raise ReadError("the connection failed after sending")

    transport, _, _ = make(lost, credentials=signed)
    with pytest.raises(ConnectionError) as caught:
        transport.request(EXPORT, "POST", body="{}", headers={"Authorization": EE_TOKEN})
    shown = f"{caught.value} {caught.value.__cause__!r} {transport!r}"
    assert EE_TOKEN not in shown and EEMW_TOKEN not in shown


# --- installing ------------------------------------------------------------------------------


@pytest.mark.parametrize("reserved", ["url", "http_transport"])
def test_initialize_refuses_what_the_client_decides(reserved: str) -> None:
    transport, mock, _ = make(ok)
    with pytest.raises(UsageError, match=reserved):
        initialize(transport.client, **{reserved: "x"})
    assert not mock.requests


def test_a_streamed_body_is_refused_before_any_request() -> None:
    transport, mock, _ = make(ok)
    with pytest.raises(UsageError, match="bytes or str"):
        transport.request(COMPUTE, "POST", body=iter([b"{}"]))  # type: ignore[arg-type]
    assert not mock.requests


def test_an_api_request_for_another_host_is_refused_not_sent_around_the_pipeline() -> None:
    transport, mock, _ = make(ok)
    other = "https://earthengine.googleapis.com/v1/projects/demo/value:compute"
    with pytest.raises(UsageError, match="not the client's endpoint"):
        transport.request(other, "POST", body="{}")
    assert not mock.requests


def test_the_transport_needs_an_eemw_client() -> None:
    with pytest.raises(UsageError, match=r"eemw\.Client"):
        EarthEngineTransport(object())  # type: ignore[arg-type]


def test_importing_eemw_and_its_earthengine_module_does_not_import_ee() -> None:
    code = "import sys, eemw, eemw.earthengine; print('ee' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
