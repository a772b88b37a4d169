"""The error tree, the RPC-code table and what error messages say."""

from __future__ import annotations

import copy
import inspect
import json
import pickle
import re
from typing import Any

import pytest

import eemw
import eemw._errors
from eemw import (
    ApiError,
    Call,
    EemwError,
    Headers,
    InternalError,
    NotFoundError,
    Request,
    Response,
    RetryExhaustedError,
    _errors,
)
from eemw._errors import api_error_class, mark_exhausted, rpc_code_for_status
from eemw.errors import RPC_CODES
from eemw.middleware import Check


def drawn_tree() -> list[tuple[str, str]]:
    """(child, parent) pairs as drawn in the ``eemw._errors`` docstring."""
    doc = _errors.__doc__ or ""
    pairs: list[tuple[str, str]] = []
    stack: list[str] = []
    for line in doc.splitlines():
        m = re.match(r"^(\s*)((?:[│ ]   )*)[├└]── (\w+)", line)
        if m is not None:
            depth = len(m.group(2)) // 4 + 1
        else:
            m = re.match(r"^(\s*)(EemwError)\b", line)
            if m is None:
                continue
            depth = 0
        name = m.group(m.lastindex or 0)
        del stack[depth:]
        if stack:
            pairs.append((name, stack[-1]))
        stack.append(name)
    return pairs


class TestTree:
    def test_drawing_parses(self) -> None:
        pairs = drawn_tree()
        assert ("UsageError", "EemwError") in pairs
        assert ("NotFoundError", "ApiError") in pairs
        children = [child for child, _ in pairs]
        assert len(children) == len(set(children))

    @pytest.mark.parametrize(("child", "parent"), drawn_tree())
    def test_every_drawn_edge_holds(self, child: str, parent: str) -> None:
        child_cls, parent_cls = getattr(eemw, child), getattr(eemw, parent)
        assert parent_cls in child_cls.__bases__

    def test_every_public_error_is_drawn(self) -> None:
        drawn = {child for child, _ in drawn_tree()} | {"EemwError"}
        public = {
            name for name in eemw.__all__
            if inspect.isclass(getattr(eemw, name))
            and issubclass(getattr(eemw, name), BaseException)
            and not issubclass(getattr(eemw, name), Warning)
        }
        # StackError and MiddlewareError live with the pipeline.
        assert public - drawn == {"StackError", "MiddlewareError", "PluginSettingError"}
        assert issubclass(eemw.PluginSettingError, eemw.PluginError)
        assert issubclass(eemw.StackError, eemw.UsageError)

    def test_usage_errors_are_value_errors(self) -> None:
        for cls in (eemw.UsageError, eemw.InvalidNameError, eemw.InvalidHeaderError,
                    eemw.InsecureTransportError, eemw.StackError):
            assert issubclass(cls, ValueError)
            assert issubclass(cls, EemwError)

    def test_api_errors_are_not_transport_errors(self) -> None:
        assert not issubclass(ApiError, eemw.TransportError)
        assert not issubclass(eemw.ConnectError, ApiError)


class TestRpcTable:
    def test_rows_are_keyed_by_their_name(self) -> None:
        for name, row in RPC_CODES.items():
            assert row.name == name

    def test_numbers_are_the_google_rpc_codes(self) -> None:
        assert sorted(row.number for row in RPC_CODES.values()) == list(range(1, 17))

    @pytest.mark.parametrize(
        ("name", "number", "http"),
        [
            ("CANCELLED", 1, 499),
            ("INVALID_ARGUMENT", 3, 400),
            ("DEADLINE_EXCEEDED", 4, 504),
            ("NOT_FOUND", 5, 404),
            ("PERMISSION_DENIED", 7, 403),
            ("RESOURCE_EXHAUSTED", 8, 429),
            ("FAILED_PRECONDITION", 9, 400),
            ("UNIMPLEMENTED", 12, 501),
            ("INTERNAL", 13, 500),
            ("UNAVAILABLE", 14, 503),
            ("UNAUTHENTICATED", 16, 401),
        ],
    )
    def test_standard_mapping(self, name: str, number: int, http: int) -> None:
        row = RPC_CODES[name]
        assert (row.number, row.http_status) == (number, http)

    @pytest.mark.parametrize("name", list(RPC_CODES))
    def test_every_code_has_an_api_error_class(self, name: str) -> None:
        row = RPC_CODES[name]
        assert issubclass(row.error, ApiError)
        assert api_error_class(name) is row.error

    def test_docstring_statuses_match_the_table(self) -> None:
        doc = _errors.__doc__ or ""
        drawn: set[str] = set()
        for cls_name, http, codes in re.findall(r"── (\w+Error)\s+(\d{3}) ([A-Z_, ]+)", doc):
            for code in re.findall(r"[A-Z_]{3,}", codes):
                row = RPC_CODES[code]
                assert row.error.__name__ == cls_name
                assert row.http_status == int(http)
                drawn.add(code)
        assert drawn == set(RPC_CODES)

    @pytest.mark.parametrize("name", list(RPC_CODES))
    def test_status_of_each_code_maps_back_to_a_code_with_that_status(self, name: str) -> None:
        http = RPC_CODES[name].http_status
        assert RPC_CODES[rpc_code_for_status(http)].http_status == http

    @pytest.mark.parametrize("status", range(400, 505))
    def test_every_error_status_maps_to_a_code_of_its_family_or_unknown(
        self, status: int
    ) -> None:
        code = rpc_code_for_status(status)
        assert code in RPC_CODES
        assert code == "UNKNOWN" or RPC_CODES[code].http_status // 100 == status // 100

    @pytest.mark.parametrize("status", [402, 405, 413, 418, 422])
    def test_unlisted_client_statuses_are_plain_api_errors(self, status: int) -> None:
        # A proxy's 405 on a cancel must not read as "already done" (FailedPrecondition).
        assert rpc_code_for_status(status) == "UNKNOWN"
        assert api_error_class("UNKNOWN", status) is eemw.ApiError
        assert api_error_class("UNKNOWN", 500) is eemw.InternalError

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (429, "RESOURCE_EXHAUSTED"),
            (500, "INTERNAL"),
            (501, "UNIMPLEMENTED"),
            (502, "UNAVAILABLE"),
            (503, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"),
        ],
    )
    def test_statuses_without_envelope(self, status: int, code: str) -> None:
        assert rpc_code_for_status(status) == code

    @pytest.mark.parametrize("status", [405, 418, 451])
    def test_unknown_client_errors_are_not_server_failures(self, status: int) -> None:
        assert not issubclass(api_error_class(rpc_code_for_status(status), status), InternalError)

    @pytest.mark.parametrize("status", [0, -1, 200, 302, 505, 599, 600, 999])
    def test_unknown_statuses_are_unknown(self, status: int) -> None:
        assert rpc_code_for_status(status) == "UNKNOWN"

    def test_unknown_code_name_is_internal(self) -> None:
        assert api_error_class("NOT_A_CODE") is InternalError
        assert api_error_class("") is InternalError


def not_found(**extra: Any) -> NotFoundError:
    kwargs: dict[str, Any] = dict(
        http_status=404, rpc_status="NOT_FOUND",
        operation="projects/demo/operations/X", call="operations.get",
    )
    kwargs.update(extra)
    return NotFoundError("Operation not found.", **kwargs)


class TestApiErrorMessage:
    def test_names_call_operation_status_and_message(self) -> None:
        text = str(not_found())
        assert text.startswith("operations.get projects/demo/operations/X: 404 NOT_FOUND: ")
        assert "Operation not found." in text

    def test_says_what_to_do(self) -> None:
        assert "Check the operation name" in str(not_found())

    def test_reason_and_retry_after(self) -> None:
        text = str(not_found(reason="TASK_GONE", retry_after=2.5))
        assert "(reason: TASK_GONE)" in text
        assert "retry after 2.5s" in text

    def test_without_call_or_operation(self) -> None:
        error = ApiError("boom", http_status=500, rpc_status="INTERNAL")
        assert str(error) == "500 INTERNAL: boom"

    def test_attributes(self) -> None:
        detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "R"}
        error = not_found(reason="R", details=[detail], retry_after=1.0)
        assert error.message == "Operation not found."
        assert (error.http_status, error.rpc_status) == (404, "NOT_FOUND")
        assert error.reason == "R"
        assert error.details == (detail,)
        assert error.retry_after == 1.0
        assert error.operation == "projects/demo/operations/X"
        assert error.call == "operations.get"

    def test_zero_retry_after_is_shown(self) -> None:
        assert "retry after 0s" in str(not_found(retry_after=0.0))


SECRET = "ya29.SECRET-TOKEN-VALUE"


def request_with_secrets() -> Request:
    return Request(
        "GET",
        "https://earthengine.googleapis.com/v1/projects/demo/operations/X",
        Headers({"Authorization": f"Bearer {SECRET}", "X-Goog-User-Project": "quota-x"}),
        Call("get", "demo", "v1", "projects/demo/operations/X"),
    )


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
        "<html><body>Bad gateway</body></html>",
        "",
    ],
    ids=["envelope", "html", "empty"],
)
@pytest.mark.parametrize("status", [401, 404, 429, 502])
def test_error_messages_never_include_header_values(body: str, status: int) -> None:
    request = request_with_secrets()
    headers = Headers({
        "Content-Type": "text/html" if body.startswith("<") else "application/json",
        "Set-Cookie": f"session={SECRET}",
        "WWW-Authenticate": f'Bearer realm="{SECRET}"',
        "X-Debug-Token": SECRET,
        "Retry-After": "3",
    })

    def answer(req: Request) -> Response:
        return Response(status, headers, body.encode(), req)

    with pytest.raises(ApiError) as info:
        Check()(request, answer)
    error = info.value
    assert error.http_status == status
    shown = [str(error), repr(error), *map(str, error.args), *map(repr, vars(error).values())]
    for text in shown:
        assert SECRET not in text
        assert "quota-x" not in text


def sample_errors() -> list[EemwError]:
    errors: list[EemwError] = [
        not_found(reason="R", retry_after=2.0, details=[{"a": 1}]),
        eemw.UnavailableError("down", http_status=503, rpc_status="UNAVAILABLE"),
        eemw.ConnectError("refused", operation="projects/demo/operations/X"),
        eemw.ReadError("reset"),
        eemw.DeadlineExceededError("late", timeout=3.0),
        eemw.MalformedResponseError("bad", call="operations.get", excerpt="<html>"),
        eemw.OperationFailedError("failed", operation="projects/demo/operations/X"),
        eemw.PluginError("broke", plugin="ratelimit", distribution="eemw-ratelimit"),
        eemw.InvalidNameError("bad name"),
        eemw.StackError("dup"),
    ]
    exhausted = eemw.UnavailableError("storm", http_status=503, rpc_status="UNAVAILABLE")
    exhausted.attempts, exhausted.history = 3, (eemw.ReadError("reset"),)
    errors.append(mark_exhausted(exhausted, "attempts", "storm; gave up after 3 attempt(s)"))
    errors.append(eemw.ReadTimeoutError("slow", operation="projects/demo/operations/X"))
    try:
        raise RetryExhaustedError("gave up", attempts=4, retry_after=9.0) from errors[1]
    except RetryExhaustedError as exc:
        errors.append(exc)
    return errors


@pytest.mark.parametrize(
    "clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy],
    ids=["pickle", "copy", "deepcopy"],
)
@pytest.mark.parametrize("error", sample_errors(), ids=lambda e: type(e).__name__)
def test_errors_survive_pickle_and_copy(clone: Any, error: EemwError) -> None:
    # Process pools send exceptions back by pickling them.
    again = clone(error)
    assert type(again) is type(error)
    assert str(again) == str(error)
    # Exceptions compare by identity: the history of earlier errors compares by repr.
    assert {**vars(again), "history": None} == {**vars(error), "history": None}
    assert list(map(repr, again.history)) == list(map(repr, error.history))


class TestOneFailureOneType:
    """The rule in the errors module's docstring, class by class."""

    @pytest.mark.parametrize(
        ("kind", "also"),
        [
            (eemw.ConnectTimeoutError, eemw.ConnectError),
            (eemw.ReadTimeoutError, eemw.ReadError),
            (eemw.DeadlineExceededError, EemwError),
        ],
    )
    def test_every_timeout_shares_one_base(self, kind: type[EemwError], also: type) -> None:
        assert issubclass(kind, eemw.TimedOutError) and issubclass(kind, also)
        # Not Python's own TimeoutError (an OSError): `except OSError` must not catch it.
        assert not issubclass(kind, TimeoutError)

    def test_a_marked_error_is_both_its_own_type_and_retry_exhausted(self) -> None:
        error = eemw.UnavailableError("down", http_status=503, rpc_status="UNAVAILABLE")
        same = mark_exhausted(error, "budget", "down; gave up")
        assert same is error
        assert isinstance(error, eemw.UnavailableError) and isinstance(error, RetryExhaustedError)
        assert type(error).__name__ == "UnavailableError"
        assert error.gave_up == "budget" and str(error) == "down; gave up"
        assert error.last_error is error and error.http_status == 503

    def test_marked_errors_keep_their_class_through_pickle(self) -> None:
        marked = sample_errors()[-3]
        again = pickle.loads(pickle.dumps(marked))
        assert isinstance(again, eemw.UnavailableError) and isinstance(again, RetryExhaustedError)
        assert (again.attempts, again.gave_up) == (3, "attempts")
        assert isinstance(again.history[0], eemw.ReadError)

    def test_errors_outside_a_call_have_neutral_facts(self) -> None:
        error = eemw.NotFoundError("x", http_status=404, rpc_status="NOT_FOUND")
        assert (error.attempts, error.history, error.maybe_applied, error.gave_up) == (
            0, (), False, ""
        )
        assert error.last_error is error
        assert eemw.DeadlineExceededError("late").last_error is None

    def test_the_rule_is_written_in_the_module_docstring(self) -> None:
        doc = eemw._errors.__doc__ or ""
        for fact in ("attempts", "history", "last_error", "maybe_applied", "gave_up"):
            assert fact in doc


def test_retry_exhausted_keeps_its_last_error_through_pickle() -> None:
    error = sample_errors()[-1]
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, RetryExhaustedError)
    assert again.attempts == 4
    assert isinstance(again.last_error, eemw.UnavailableError)
    assert again.last_error.http_status == 503


class TestTransportTimeouts:
    """The transport's failures land on the timeout classes (eemw._attempt.failure)."""

    def request(self) -> eemw.Request:
        call = Call("get", "demo", "v1", "projects/demo/operations/X")
        url = "https://ee.test/v1/projects/demo/operations/X"
        return eemw.Request("GET", url, eemw.Headers(), call, timeout=2.0)

    def test_a_connect_timeout_is_a_connect_error_and_a_timeout(self) -> None:
        from urllib3.exceptions import ConnectTimeoutError as Urllib3ConnectTimeout

        from eemw._attempt import failure

        error = failure(Urllib3ConnectTimeout("slow"), self.request(), sent=False)
        assert isinstance(error, eemw.ConnectTimeoutError)
        assert isinstance(error, eemw.ConnectError) and isinstance(error, eemw.TimedOutError)

    def test_a_refused_connection_is_not_a_timeout(self) -> None:
        from urllib3.exceptions import NewConnectionError

        from eemw._attempt import failure

        for refused in (ConnectionRefusedError("refused"), NewConnectionError(None, "refused")):
            error = failure(refused, self.request(), sent=False)
            assert type(error) is eemw.ConnectError

    def test_a_read_timeout_is_a_read_error_and_a_timeout(self) -> None:
        from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

        from eemw._attempt import failure

        error = failure(Urllib3ReadTimeout(None, "/", "slow"), self.request(), sent=True)
        assert isinstance(error, eemw.ReadTimeoutError) and isinstance(error, eemw.ReadError)
        reset = failure(ConnectionResetError("reset"), self.request(), sent=True)
        assert type(reset) is eemw.ReadError
