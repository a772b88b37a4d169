"""eemw.testing as a user's unit tests use it: routes, reply sequences, wire builders."""

from __future__ import annotations

import pytest

import eemw
from eemw.testing import (
    FakeClock,
    MockTransport,
    Reply,
    UnmatchedRequestError,
    error_json,
    google_error,
    operation_json,
)


def client_on(transport: MockTransport) -> eemw.Client:
    return eemw.Client("demo", transport=transport, clock=FakeClock())


class TestRoutes:
    def test_routes_by_call_kind_and_operation(self) -> None:
        mock = MockTransport()
        mock.route("get", "A").respond(operation_json("A", state="RUNNING"))
        mock.route("operations.get", "projects/demo/operations/B").respond(
            operation_json("B", state="SUCCEEDED"))
        mock.route("cancel").respond({})
        client = client_on(mock)
        assert client.operations.get("A").state is eemw.State.RUNNING
        assert client.operations.get("B").succeeded
        client.operations.cancel("B")
        assert [(r.method, r.path) for r in mock.requests] == [
            ("GET", "/v1/projects/demo/operations/A"),
            ("GET", "/v1/projects/demo/operations/B"),
            ("POST", "/v1/projects/demo/operations/B:cancel"),
        ]
        mock.assert_all_called()

    def test_a_sequence_plays_in_order_and_its_last_answer_repeats(self) -> None:
        mock = MockTransport()
        route = mock.route("get").respond(
            google_error(503), google_error("UNAVAILABLE"), operation_json("A", state="RUNNING"))
        client = client_on(mock)
        assert client.operations.get("A").state is eemw.State.RUNNING  # after two retries
        assert len(route.calls) == 3
        client.operations.get("A")
        assert len(route.calls) == 4

    def test_an_exception_answer_is_raised_as_the_transport_would(self) -> None:
        mock = MockTransport()
        mock.route("get").respond(eemw.ConnectError("refused"), operation_json("A"))
        assert client_on(mock).operations.get("A").name.endswith("/A")
        assert len(mock.requests) == 2

    def test_assert_all_called_names_the_unused_route(self) -> None:
        mock = MockTransport()
        mock.route("get").respond(operation_json("A"))
        mock.route("delete", "A").respond({})
        client_on(mock).operations.get("A")
        with pytest.raises(AssertionError, match=r"kind='delete', name='A'"):
            mock.assert_all_called()

    def test_an_unmatched_request_fails_the_test_clearly(self) -> None:
        mock = MockTransport()
        mock.route("get").respond(operation_json("A"))
        with pytest.raises(UnmatchedRequestError, match=r"no route matches operations\.cancel"):
            client_on(mock).operations.cancel("A")

    def test_a_handler_answers_what_no_route_matches(self) -> None:
        mock = MockTransport(lambda request: Reply({}).to(request))
        mock.route("get").respond(operation_json("A"))
        client = client_on(mock)
        client.operations.get("A")
        client.operations.delete("A")
        assert [r.call.kind for r in mock.requests] == ["get", "delete"]


class TestRecordedRequests:
    def test_what_was_sent_is_readable_without_private_attributes(self) -> None:
        mock = MockTransport()
        mock.route("wait").respond(operation_json("A", state="SUCCEEDED"))
        client_on(mock).operations.wait("A", timeout=30)
        [sent] = mock.requests
        assert sent.method == "POST"
        assert sent.path == "/v1/projects/demo/operations/A:wait"
        assert sent.headers["content-type"] == "application/json"
        assert set(sent.json()) == {"timeout"}
        assert sent.call.label == "operations.wait"
        assert "Bearer" not in repr(sent)


class TestBuilders:
    def test_operation_json_reads_back_as_the_operation_it_describes(self) -> None:
        op = eemw.Operation.from_wire(operation_json(
            "A", project="p", state="CANCELLED", description="tiles", progress=0.5,
            metadata={"priority": 50}))
        assert op.name == "projects/p/operations/A"
        assert op.cancelled and op.done
        assert (op.metadata.description, op.metadata.progress, op.metadata.priority) == (
            "tiles", 0.5, 50)
        assert eemw.Operation.from_wire(operation_json("A", state="FAILED")).failed

    def test_the_error_envelope_becomes_the_typed_error_with_its_details(self) -> None:
        mock = MockTransport()
        mock.route("cancel").respond(google_error(
            429, "Quota exceeded", reason="RATE_LIMIT_EXCEEDED", retry_delay=7.5,
            quota_violations=[("project:demo", "requests per minute")]))
        client = eemw.Client("demo", transport=mock, clock=FakeClock(),
                             retry=eemw.RetryPolicy.none())
        with pytest.raises(eemw.ResourceExhaustedError) as info:
            client.operations.cancel("A")
        error = info.value
        assert (error.http_status, error.rpc_status, error.reason) == (
            429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
        assert error.retry_after == pytest.approx(7.5)
        quota = next(d for d in error.details if d["@type"].endswith("QuotaFailure"))
        assert quota["violations"][0]["subject"] == "project:demo"

    def test_an_rpc_code_name_gives_its_http_status(self) -> None:
        assert error_json("NOT_FOUND", "gone")["error"] == {
            "code": 404, "message": "gone", "status": "NOT_FOUND"}
        assert google_error("PERMISSION_DENIED").status == 403
        with pytest.raises(ValueError, match="unknown RPC code"):
            error_json("NOPE")
