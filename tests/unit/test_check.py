"""The check stage: typed errors from any non-2xx, and success bodies checked per call."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import eemw
from eemw import (
    ApiError,
    Call,
    Headers,
    MalformedResponseError,
    Request,
    Response,
)
from eemw.errors import RPC_CODES
from eemw.middleware import Check
from eemw.middleware.check import parse_retry_after
from eemw.testing import MockTransport, respond

NAME = "projects/demo/operations/op-1"
SAFE = re.compile(r"[\x20-\x7e\u00a0-\u200a\u2010-\u2027\u2030-\u205f\u2070-\ufefe\ufffd…]*")


def make_request(kind: eemw.CallKind = "get", name: str | None = NAME) -> Request:
    call = Call(kind, "demo", "v1", None if kind == "list" else name)
    return Request("GET", "https://ee.test/v1/" + (name or ""), Headers(), call)


def run(
    response_for: Any,
    kind: eemw.CallKind = "get",
    *,
    check: Check | None = None,
) -> Response:
    """Send one request of ``kind`` through Check to a transport answering ``response_for``."""
    return (check or Check())(make_request(kind), MockTransport(response_for))


def answer(status: int = 200, *, body: bytes = b"", json_: Any = None,
           headers: dict[str, str] | None = None, truncated: bool = False) -> Any:
    def handler(request: Request) -> Response:
        response = respond(request, status, json=json_, body=body, headers=headers)
        return Response(response.status, response.headers, response.body, request, truncated)

    return handler


def envelope(code: int, status: str, message: str = "it failed", details: Any = ()) -> Any:
    return {"error": {"code": code, "status": status, "message": message,
                      "details": list(details)}}


def error_for(handler: Any, kind: eemw.CallKind = "get", **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        run(handler, kind, **kwargs)
    return info.value


def assert_safe(text: str, limit: int) -> None:
    assert len(text) <= limit
    assert SAFE.fullmatch(text), repr(text)


# --- error responses ----------------------------------------------------------------------


@pytest.mark.parametrize("row", list(RPC_CODES.values()), ids=list(RPC_CODES))
def test_every_rpc_code_becomes_its_typed_error(row: eemw._errors.RpcCode) -> None:
    error = error_for(answer(row.http_status, json_=envelope(row.http_status, row.name)))
    assert type(error) is row.error
    assert (error.http_status, error.rpc_status, error.message) == (
        row.http_status, row.name, "it failed"
    )
    assert error.operation == NAME and error.call == "operations.get"
    assert NAME in str(error) and row.name in str(error)


def test_envelope_details_reason_and_retry_delay_are_parsed() -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
         "domain": "googleapis.com", "metadata": {"quota": "requests"}},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"},
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"subject": "project:demo"}]},
        "not an object",
    ]
    error = error_for(answer(429, json_=envelope(429, "RESOURCE_EXHAUSTED", "slow down", details),
                             headers={"Retry-After": "30"}))
    assert isinstance(error, eemw.ResourceExhaustedError)
    assert error.reason == "RATE_LIMIT_EXCEEDED"
    assert error.retry_after == 2.5  # RetryInfo wins over the header
    assert [d["@type"].rsplit(".", 1)[1] for d in error.details] == [
        "ErrorInfo", "RetryInfo", "QuotaFailure"
    ]
    assert "RATE_LIMIT_EXCEEDED" in str(error) and "2.5s" in str(error)


def test_retry_info_of_zero_is_kept_and_message_form_is_read() -> None:
    zero = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}]
    error = error_for(answer(503, json_=envelope(503, "UNAVAILABLE", details=zero),
                             headers={"Retry-After": "30"}))
    assert error.retry_after == 0.0
    split = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
              "retryDelay": {"seconds": "3", "nanos": 500000000}}]
    assert error_for(answer(503, json_=envelope(503, "UNAVAILABLE", details=split))
                     ).retry_after == 3.5


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("7", 0.0, 7.0),
        (" 120 ", 0.0, 120.0),
        ("1.5", 0.0, 1.5),
        ("Wed, 21 Oct 2015 07:28:05 GMT", 1445412480.0, 5.0),
        ("Wed, 21 Oct 2015 07:28:05 -0000", 1445412480.0, 5.0),  # naive: still GMT
        ("Wed, 21 Oct 2015 07:28:05 GMT", 1445412500.0, 0.0),  # in the past
        ("soon", 0.0, None),
        ("-5", 0.0, None),
        ("\u00b2", 0.0, None),  # a digit to str.isdigit(), not to HTTP
        ("9" * 400, 0.0, None),
        ("", 0.0, None),
        (None, 0.0, None),
    ],
)
def test_parse_retry_after(value: str | None, now: float, expected: float | None) -> None:
    assert parse_retry_after(value, now) == expected


def test_retry_after_http_date_uses_the_injected_wall_clock() -> None:
    check = Check(wall_clock=lambda: 1445412480.0)
    error = error_for(answer(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}),
                      check=check)
    assert error.retry_after == 10.0


def test_html_502_page_is_unavailable_with_a_clean_excerpt() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
        b"<style>body { color: red }</style><script>alert('x')</script></head>"
        b"<body><h1>Bad&nbsp;Gateway</h1><p>The proxy could not reach the upstream.</p>"
        + b"<p>filler</p>" * 500 + b"</body></html>"
    )
    error = error_for(answer(502, body=page, headers={"Content-Type": "text/html"}))
    assert isinstance(error, eemw.UnavailableError)
    assert (error.http_status, error.rpc_status) == (502, "UNAVAILABLE")
    assert "502 Bad Gateway" in error.message and "Bad Gateway The proxy" in error.message
    assert "text/html" in error.message
    for leaked in ("<", "color: red", "alert", "&nbsp;"):
        assert leaked not in error.message
    assert_safe(error.message, 300)


def test_truncated_json_error_body_is_typed_by_status() -> None:
    body = json.dumps(envelope(404, "NOT_FOUND", "no such operation")).encode()[:30]
    error = error_for(answer(404, body=body, headers={"Content-Type": "application/json"}))
    assert isinstance(error, eemw.NotFoundError)
    assert "application/json" in error.message and '{"error": {"code": 404' in error.message


def test_error_body_cut_at_the_size_cap_says_so() -> None:
    error = error_for(answer(500, body=b"x" * 5000, truncated=True))
    assert isinstance(error, eemw.InternalError)
    assert "size cap" in error.message
    assert_safe(error.message, 300)


@pytest.mark.parametrize("body", [b"", b"   \r\n"])
def test_empty_error_body(body: bytes) -> None:
    error = error_for(answer(503, body=body))
    assert isinstance(error, eemw.UnavailableError)
    assert "empty body" in error.message


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2, 3]",
        b'{"error": "quota"}',
        b'{"error": {"status": 7, "message": 12, "details": 5}}',
        b'{"error": {"details": {"@type": "x"}}}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
    ],
)
def test_odd_error_bodies_still_give_a_typed_error(body: bytes) -> None:
    error = error_for(answer(403, body=body))
    assert isinstance(error, eemw.PermissionDeniedError)
    assert error.details == () and error.reason is None
    assert_safe(error.message, 300)


@pytest.mark.parametrize(
    ("status", "claimed", "expected", "rpc"),
    [
        (404, "NOT_A_CODE", eemw.NotFoundError, "NOT_FOUND"),
        (418, "TEAPOT", eemw.ApiError, "UNKNOWN"),
        (599, "WEIRD", eemw.InternalError, "UNKNOWN"),
        (503, "NOT_FOUND", eemw.UnavailableError, "UNAVAILABLE"),  # families disagree
        (400, "INTERNAL", eemw.InvalidArgumentError, "INVALID_ARGUMENT"),
        (500, "UNAVAILABLE", eemw.UnavailableError, "UNAVAILABLE"),  # same family: refined
        (400, "FAILED_PRECONDITION", eemw.FailedPreconditionError, "FAILED_PRECONDITION"),
        (412, "FAILED_PRECONDITION", eemw.FailedPreconditionError, "FAILED_PRECONDITION"),
    ],
)
def test_unknown_or_contradicting_status_names(
    status: int, claimed: str, expected: type[ApiError], rpc: str
) -> None:
    error = error_for(answer(status, json_=envelope(status, claimed, "odd")))
    assert type(error) is expected
    assert (error.http_status, error.rpc_status, error.message) == (status, rpc, "odd")


def test_control_characters_and_escape_sequences_never_reach_the_message() -> None:
    nasty = "bad\x1b[31mred\x1b[0m\r\nSet-Cookie: x\x00\u202eevil\u200b" + "y" * 5000
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R\x1b]0;t\x07X"}]
    error = error_for(answer(400, json_=envelope(400, "INVALID_ARGUMENT", nasty, details)))
    assert error.message.startswith("badred Set-Cookie: x evil")
    assert error.reason == "RX"
    assert_safe(error.message, 1001)
    assert_safe(str(error), 1300)


def test_redirect_is_reported_with_a_redacted_location() -> None:
    error = error_for(answer(302, headers={
        "Location": "https://login.example/?access_token=SECRET&next=/x"
    }))
    assert error.http_status == 302
    assert "redirect" in error.message and "endpoint" in error.message
    assert "SECRET" not in str(error) and "login.example" in error.message


# --- success bodies ----------------------------------------------------------------------


def test_get_and_wait_return_the_operation_asked_for() -> None:
    for kind in ("get", "wait"):
        response = run(answer(json_={"name": NAME, "done": True, "extra": [1]}), kind)
        assert response.data == {"name": NAME, "done": True, "extra": [1]}
        assert response.json() is response.data


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "projects/demo/operations/other"}, "projects/demo/operations/other"),
        ({"done": True}, "None"),
        ({"name": 42}, "42"),
    ],
)
@pytest.mark.parametrize("kind", ["get", "wait"])
def test_get_and_wait_reject_another_operation(kind: str, body: Any, says: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        run(answer(json_=body), kind)  # type: ignore[arg-type]
    assert info.value.call == f"operations.{kind}"
    message = str(info.value)
    assert message.startswith(f"operations.{kind} {NAME}:")
    assert NAME in message and says in message


@pytest.mark.parametrize("kind", ["cancel", "delete"])
@pytest.mark.parametrize(("body", "data"), [(b"", {}), (b"{}", {}), (b'{"x": 1}', {"x": 1})])
def test_cancel_and_delete_accept_an_object_or_empty_body(
    kind: eemw.CallKind, body: bytes, data: Any
) -> None:
    assert run(answer(body=body), kind).data == data


@pytest.mark.parametrize("kind", ["cancel", "delete"])
@pytest.mark.parametrize("body", [b"[]", b"null", b'"ok"', b"1"])
def test_cancel_and_delete_reject_non_objects(kind: eemw.CallKind, body: bytes) -> None:
    with pytest.raises(MalformedResponseError, match=f"operations.{kind}.*JSON object"):
        run(answer(body=body), kind)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"operations": []},
        {"operations": [{"name": NAME}, {"name": "projects/demo/operations/b", "done": True}],
         "nextPageToken": "abc"},
        {"nextPageToken": ""},
    ],
)
def test_list_accepts_a_page(body: Any) -> None:
    assert run(answer(json_=body), "list").data == body


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"operations": {"name": NAME}}, "'operations' is an object"),
        ({"operations": None}, "'operations' is null"),
        ({"operations": [NAME]}, "operation 0 of the page has no name"),
        ({"operations": [{"name": NAME}, {"done": True}]}, "operation 1 of the page has no name"),
        ({"operations": [{"name": "../../etc/passwd"}]}, "invalid name"),
        ({"operations": [], "nextPageToken": 7}, "'nextPageToken' is a number"),
    ],
)
def test_list_rejects_a_malformed_page(body: Any, says: str) -> None:
    with pytest.raises(MalformedResponseError, match=r"operations\.list") as info:
        run(answer(json_=body), "list")
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (answer(body=b""), "empty"),
        (answer(body=b'{"name": "projects/demo/oper'), "not valid JSON"),
        (answer(body=b"\xff\xfe not utf-8"), "not valid JSON"),
        (answer(body=b"<html><title>Sign in</title></html>",
                headers={"Content-Type": "text/html; charset=utf-8"}), "content type 'text/html'"),
        (answer(body=json.dumps({"name": NAME}).encode(),
                headers={"Content-Type": "text/plain"}), "content type 'text/plain'"),
        (answer(body=b'{"name": "' + NAME.encode() + b'"}' + b" " * 100, truncated=True),
         "size cap"),
    ],
    ids=["empty", "truncated json", "not utf-8", "html", "wrong content type", "over the cap"],
)
def test_unusable_success_bodies_are_clear_errors(handler: Any, says: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        run(handler, "get")
    message = str(info.value)
    assert says in message and "operations.get" in message
    assert "<" not in info.value.excerpt
    assert_safe(info.value.excerpt, 161)


def test_json_content_types_with_parameters_are_accepted() -> None:
    for ctype in ("application/json; charset=UTF-8", "application/problem+json"):
        assert run(answer(json_={"name": NAME}, headers={"Content-Type": ctype})).data["name"]


def test_excerpt_is_short_and_printable() -> None:
    body = b"\x1b[2J\x1b[H" + "caf\u00e9 \u202e\x07".encode() * 400
    with pytest.raises(MalformedResponseError) as info:
        run(answer(body=body), "get")
    assert info.value.excerpt.startswith("caf\u00e9 caf\u00e9")
    assert_safe(info.value.excerpt, 161)
    assert_safe(str(info.value), 400)


def test_check_leaves_the_request_alone_and_calls_next_once() -> None:
    transport = MockTransport(answer(json_={"name": NAME}))
    request = make_request()
    Check()(request, transport)
    assert transport.requests == [request]


@pytest.mark.parametrize("kind", ["get", "wait"])
@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        ("projects/demo/operations/op-1", "projects/123456789012/operations/op-1"),
        ("projects/123456789012/operations/op-1", "projects/demo/operations/op-1"),
    ],
    ids=["number for id", "id for number"],
)
def test_the_same_operation_under_the_project_alias_is_accepted(
    kind: eemw.CallKind, asked: str, answered: str
) -> None:
    call = Call(kind, "demo", "v1", asked)
    request = Request("GET", "https://ee.test/v1/" + asked, Headers(), call)
    response = Check()(request, MockTransport(answer(json_={"name": answered, "done": False})))
    assert response.json()["name"] == answered


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        ("projects/demo/operations/op-1", "projects/other/operations/op-1"),
        ("projects/111/operations/op-1", "projects/222/operations/op-1"),
        ("projects/demo/operations/op-1", "projects/123/operations/op-2"),
        ("projects/demo/operations/op-1", "projects/123/operations/op-1/extra"),
    ],
    ids=["two ids", "two numbers", "another operation", "not a name"],
)
def test_any_other_name_mismatch_stays_malformed(asked: str, answered: str) -> None:
    call = Call("get", "demo", "v1", asked)
    request = Request("GET", "https://ee.test/v1/" + asked, Headers(), call)
    with pytest.raises(MalformedResponseError, match="expected the operation"):
        Check()(request, MockTransport(answer(json_={"name": answered})))


def test_an_error_says_whether_its_body_was_a_google_envelope() -> None:
    real = error_for(answer(404, json_=envelope(404, "NOT_FOUND")))
    page = error_for(answer(404, body=b"<html>Not Found</html>",
                            headers={"Content-Type": "text/html"}))
    assert isinstance(real, eemw.NotFoundError) and real.from_envelope
    assert isinstance(page, eemw.NotFoundError) and not page.from_envelope
