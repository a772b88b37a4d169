"""The two-phase stack: order, placement, build errors, and how a built pipeline behaves."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import eemw
from eemw import (
    Call,
    ContextKey,
    EemwError,
    Entry,
    Handler,
    Headers,
    Middleware,
    NotFoundError,
    PluginError,
    Request,
    Response,
    Stack,
    StackError,
    UsageError,
)
from eemw.testing import MockTransport, respond

NAME = "projects/demo/operations/X"
TRAIL: ContextKey[tuple[str, ...]] = ContextKey("test.trail", ())


def make_request(call: str = "get") -> Request:
    return Request(
        "GET", f"https://example.com/v1/{NAME}", Headers(), Call(call, "demo", "v1", NAME)  # type: ignore[arg-type]
    )


def echo(request: Request) -> Response:
    """A transport that answers 200 with the trail the request carries."""
    trail: tuple[str, ...] = request.context.get(TRAIL)
    body = ",".join(trail).encode()
    return Response(200, Headers({"X-Seen": request.headers.get("x-trail", "")}), body, request)


def marker(label: str, log: list[str] | None = None) -> Middleware:
    """A stage that adds ``label`` to the request's header and context trails."""

    def stage(request: Request, call_next: Handler) -> Response:
        if log is not None:
            log.append(f"{label} in")
        seen = request.headers.get("x-trail")
        request = request.with_header("X-Trail", f"{seen},{label}" if seen else label)
        request = request.with_context(TRAIL, (*request.context.get(TRAIL), label))
        response = call_next(request)
        if log is not None:
            log.append(f"{label} out")
        return response

    return stage


def default_like() -> Stack:
    """A client's own layout (retry and check close their phases), every stage a marker."""
    stack = eemw.Client("demo", transport=MockTransport(echo)).stack.without("http-tracing")
    for name in ("tracing", "idempotency", "retry", "auth", "check"):
        stack = stack.replace(name, marker(name))
    return stack


class TestComposition:
    def test_two_stages_first_is_outermost(self) -> None:
        log: list[str] = []
        stack = Stack().add(marker("a", log), name="a").add(marker("b", log), name="b")
        response = stack.build(echo)(make_request())
        assert log == ["a in", "b in", "b out", "a out"]
        assert response.headers["x-seen"] == "a,b"
        assert response.body == b"a,b"

    def test_many_stages_run_in_resolved_order(self) -> None:
        stack = default_like()
        for label in ("p1", "p2"):
            stack = stack.add(marker(label), name=label, phase="call")
        stack = stack.add(marker("p3"), name="p3", phase="attempt")
        response = stack.build(echo)(make_request())
        assert response.body.decode().split(",") == stack.names()

    def test_response_changes_travel_back_up(self) -> None:
        def tag(request: Request, call_next: Handler) -> Response:
            response = call_next(request)
            return response.with_data({"tagged": response.body.decode()})

        stack = Stack().add(tag, name="tag").add(marker("inner"), name="inner")
        assert stack.build(echo)(make_request()).json() == {"tagged": "inner"}

    def test_objects_and_functions_are_both_middleware(self) -> None:
        class Upper:
            def __call__(self, request: Request, call_next: Handler) -> Response:
                return call_next(request.with_header("X-Trail", "OBJ"))

        stack = Stack().add(Upper(), name="obj").add(marker("fn"), name="fn")
        assert stack.build(echo)(make_request()).headers["x-seen"] == "OBJ,fn"

    def test_stage_does_not_change_the_callers_request(self) -> None:
        request = make_request()
        Stack().add(marker("a"), name="a").build(echo)(request)
        assert "x-trail" not in request.headers
        assert request.context.get(TRAIL) == ()

    def test_empty_stack_is_the_transport(self) -> None:
        response = Stack().build(echo)(make_request())
        assert response.status == 200
        assert response.body == b""


class TestPlacement:
    def test_call_phase_goes_before_attempt_phase(self) -> None:
        stack = (
            Stack()
            .add(marker("a1"), name="a1", phase="attempt")
            .add(marker("c1"), name="c1", phase="call")
            .add(marker("a2"), name="a2", phase="attempt")
            .add(marker("c2"), name="c2", phase="call")
        )
        assert stack.names() == ["c1", "c2", "a1", "a2"]
        assert [e.phase for e in stack.entries] == ["call", "call", "attempt", "attempt"]

    def test_default_phase_is_attempt(self) -> None:
        stack = default_like().add(marker("x"), name="x")
        assert stack.names().index("x") > stack.names().index("retry")

    def test_unanchored_entries_go_before_the_closing_entry(self) -> None:
        stack = (
            default_like()
            .add(marker("c1"), name="c1", phase="call")
            .add(marker("a1"), name="a1", phase="attempt")
            .add(marker("c2"), name="c2", phase="call")
            .add(marker("a2"), name="a2", phase="attempt")
        )
        assert stack.names() == [
            "tracing", "idempotency", "c1", "c2", "retry", "auth", "a1", "a2", "check",
        ]

    @pytest.mark.parametrize(
        ("phase", "where", "anchor", "expected"),
        [
            ("attempt", "before", "auth", "tracing idempotency retry x auth check"),
            ("attempt", "after", "check", "tracing idempotency retry auth check x"),
            ("call", "before", "tracing", "x tracing idempotency retry auth check"),
            ("call", "after", "tracing", "tracing x idempotency retry auth check"),
            ("call", "before", "retry", "tracing idempotency x retry auth check"),
            ("attempt", "after", "retry", "tracing idempotency retry x auth check"),
        ],
    )
    def test_before_and_after(
        self, phase: str, where: str, anchor: str, expected: str
    ) -> None:
        stack = default_like().add(marker("x"), name="x", phase=phase, **{where: anchor})  # type: ignore[arg-type]
        assert stack.names() == expected.split()

    @pytest.mark.parametrize(
        ("phase", "where", "anchor"),
        [
            # After retry is per-attempt territory: a "call" stage there would run per attempt.
            ("call", "after", "retry"),
            ("call", "before", "auth"),
            ("call", "after", "check"),
            ("attempt", "before", "retry"),
            ("attempt", "before", "tracing"),
        ],
    )
    def test_anchors_that_would_leave_the_phase_are_refused(
        self, phase: str, where: str, anchor: str
    ) -> None:
        with pytest.raises(StackError, match="outside the"):
            default_like().add(marker("x"), name="x", phase=phase, **{where: anchor})  # type: ignore[arg-type]

    def test_middleware_must_be_callable(self) -> None:
        with pytest.raises(StackError, match="callable"):
            Entry("x", None, "attempt")  # type: ignore[arg-type]

    def test_anchored_entry_can_anchor_the_next(self) -> None:
        stack = (
            default_like()
            .add(marker("x"), name="x", before="auth")
            .add(marker("y"), name="y", after="x")
        )
        assert stack.names()[3:6] == ["x", "y", "auth"]

    def test_constructor_places_like_add(self) -> None:
        entries = [
            Entry("a", marker("a"), "attempt"),
            Entry("c", marker("c"), "call"),
            Entry("b", marker("b"), "attempt", before="a"),
        ]
        assert Stack(entries).names() == ["c", "b", "a"]


class TestBuildErrors:
    def test_duplicate_name(self) -> None:
        with pytest.raises(StackError, match="duplicate stage name 'auth'"):
            default_like().add(marker("x"), name="auth")

    def test_duplicate_in_constructor(self) -> None:
        with pytest.raises(StackError, match="duplicate"):
            Stack([Entry("a", marker("a"), "call"), Entry("a", marker("a"), "attempt")])

    @pytest.mark.parametrize("where", ["before", "after"])
    def test_missing_anchor(self, where: str) -> None:
        with pytest.raises(StackError, match=r"'ratelimit'.*not in the stack") as info:
            default_like().add(marker("x"), name="x", **{where: "ratelimit"})  # type: ignore[arg-type]
        assert "'x'" in str(info.value)

    @pytest.mark.parametrize(
        ("phase", "anchor"), [("attempt", "tracing"), ("call", "auth"), ("attempt", "retry")]
    )
    def test_anchor_in_the_other_phase(self, phase: str, anchor: str) -> None:
        with pytest.raises(StackError, match="phase"):
            default_like().add(marker("x"), name="x", phase=phase, before=anchor)  # type: ignore[arg-type]

    def test_both_before_and_after(self) -> None:
        with pytest.raises(StackError, match="not both"):
            default_like().add(marker("x"), name="x", before="auth", after="check")

    @pytest.mark.parametrize("name", ["", None, 3])
    def test_entry_needs_a_name(self, name: object) -> None:
        with pytest.raises(StackError, match="name"):
            Stack().add(marker("x"), name=name)  # type: ignore[arg-type]

    def test_unknown_phase(self) -> None:
        with pytest.raises(StackError, match="phase"):
            Stack().add(marker("x"), name="x", phase="response")  # type: ignore[arg-type]

    def test_self_anchor(self) -> None:
        with pytest.raises(StackError):
            default_like().add(marker("x"), name="x", before="x")

    def test_stack_error_is_a_usage_error(self) -> None:
        assert issubclass(StackError, UsageError)

    def test_failed_add_leaves_the_stack_unchanged(self) -> None:
        stack = default_like()
        with pytest.raises(StackError):
            stack.add(marker("x"), name="x", before="missing")
        assert stack.names() == ["tracing", "idempotency", "retry", "auth", "check"]


class TestImmutability:
    def test_add_returns_a_new_stack(self) -> None:
        base = default_like()
        bigger = base.add(marker("x"), name="x")
        assert "x" in bigger.names()
        assert "x" not in base.names()

    def test_without(self) -> None:
        base = default_like()
        smaller = base.without("auth")
        assert smaller.names() == ["tracing", "idempotency", "retry", "check"]
        assert "auth" in base.names()
        assert smaller.build(echo)(make_request()).body == b"tracing,idempotency,retry,check"

    def test_without_missing_name(self) -> None:
        with pytest.raises(StackError, match="no stage named 'nope'"):
            default_like().without("nope")

    def test_removed_name_can_be_added_again(self) -> None:
        stack = default_like().without("auth").add(marker("auth"), name="auth", before="check")
        assert stack.names() == ["tracing", "idempotency", "retry", "auth", "check"]

    def test_built_pipeline_is_not_affected_by_later_adds(self) -> None:
        stack = Stack().add(marker("a"), name="a")
        pipeline = stack.build(echo)
        stack.add(marker("b"), name="b")
        assert pipeline(make_request()).body == b"a"

    def test_pipeline_entries_are_read_only(self) -> None:
        pipeline = default_like().build(echo)
        assert [e.name for e in pipeline.entries] == default_like().names()
        with pytest.raises(AttributeError):
            pipeline.entries = ()  # type: ignore[misc]

    def test_entries_are_frozen(self) -> None:
        entry = default_like().entries[0]
        with pytest.raises(AttributeError):
            entry.name = "other"  # type: ignore[misc]


class TestDescribe:
    def test_lists_the_resolved_order(self) -> None:
        stack = default_like().add(marker("x"), name="x", before="auth")
        lines = stack.describe().splitlines()
        assert [line.split()[1] for line in lines[:-1]] == stack.names()
        assert [line.split()[0] for line in lines[:-1]] == [
            f"{i}." for i in range(1, len(stack.names()) + 1)
        ]
        assert [line.split()[2] for line in lines[:-1]] == [e.phase for e in stack.entries]
        assert lines[-1].split()[0] == "transport"

    def test_shows_where_each_stage_comes_from(self) -> None:
        stack = Stack([
            Entry("fn", marker("fn"), "call"),
            Entry("plug", marker("plug"), "attempt", plugin="eemw-audit"),
        ])
        text = stack.describe()
        assert "plugin from eemw-audit" in text
        assert "marker" in text.splitlines()[0]

    def test_pipeline_describes_the_same_order(self) -> None:
        stack = default_like()
        assert stack.build(echo).describe() == stack.describe()

    def test_repr(self) -> None:
        assert repr(Stack().add(marker("a"), name="a")) == "Stack(['a'])"


class CountingTransport:
    def __init__(self) -> None:
        self.sent: list[Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.sent.append(request)
        return echo(request)


class TestCallNextCount:
    def test_short_circuit(self) -> None:
        transport = CountingTransport()
        inner_calls: list[str] = []

        def cached(request: Request, call_next: Handler) -> Response:
            return Response(200, Headers(), b"cached", request)

        stack = Stack().add(cached, name="cache").add(marker("inner", inner_calls), name="inner")
        assert stack.build(transport)(make_request()).body == b"cached"
        assert transport.sent == []
        assert inner_calls == []

    def test_several_calls(self) -> None:
        transport = CountingTransport()
        inner_calls: list[str] = []

        def thrice(request: Request, call_next: Handler) -> Response:
            responses = [call_next(request.with_header("X-Attempt", str(i))) for i in range(3)]
            return responses[-1]

        stack = Stack().add(thrice, name="retry").add(marker("inner", inner_calls), name="inner")
        response = stack.build(transport)(make_request())
        assert [r.headers["x-attempt"] for r in transport.sent] == ["0", "1", "2"]
        assert inner_calls == ["inner in", "inner out"] * 3
        assert response.request.headers["x-attempt"] == "2"


def raising(exc: BaseException) -> Middleware:
    def stage(request: Request, call_next: Handler) -> Response:
        raise exc

    return stage


def plugin_stack(middleware: Middleware, transport: Callable[[Request], Response] = echo) -> (
    Callable[[Request], Response]
):
    return Stack([
        Entry("outer", marker("outer"), "call"),
        Entry("audit", middleware, "attempt", plugin="eemw-audit"),
        Entry("inner", marker("inner"), "attempt"),
    ]).build(transport)


class TestPluginErrors:
    def test_non_eemw_error_becomes_plugin_error(self) -> None:
        boom = KeyError("missing")
        with pytest.raises(PluginError) as info:
            plugin_stack(raising(boom))(make_request("cancel"))
        error = info.value
        assert error.plugin == "audit"
        assert error.distribution == "eemw-audit"
        assert error.__cause__ is boom
        text = str(error)
        assert "'audit'" in text
        assert "eemw-audit" in text
        assert "KeyError" in text
        assert "operations.cancel" in text

    def test_eemw_errors_pass_through_unchanged(self) -> None:
        error = NotFoundError("gone", http_status=404, rpc_status="NOT_FOUND")
        with pytest.raises(NotFoundError) as info:
            plugin_stack(raising(error))(make_request())
        assert info.value is error

    def test_base_exceptions_are_not_wrapped(self) -> None:
        with pytest.raises(KeyboardInterrupt):
            plugin_stack(raising(KeyboardInterrupt()))(make_request())

    def test_errors_from_further_down_are_not_blamed_on_the_plugin(self) -> None:
        failure = RuntimeError("transport bug")

        def broken_transport(request: Request) -> Response:
            raise failure

        with pytest.raises(RuntimeError) as info:
            plugin_stack(marker("plugin"), broken_transport)(make_request())
        assert info.value is failure

    def test_plugin_replacing_a_downstream_error_is_blamed(self) -> None:
        def translate(request: Request, call_next: Handler) -> Response:
            try:
                return call_next(request)
            except RuntimeError as exc:
                raise ValueError("bad translation") from exc

        def broken_transport(request: Request) -> Response:
            raise RuntimeError("down")

        with pytest.raises(PluginError, match="ValueError"):
            plugin_stack(translate, broken_transport)(make_request())

    def test_an_inline_stages_bug_becomes_a_middleware_error(self) -> None:
        boom = KeyError("missing")
        stack = Stack().add(raising(boom), name="mine")
        with pytest.raises(eemw.MiddlewareError, match="stage 'mine' raised KeyError") as info:
            stack.build(echo)(make_request())
        assert info.value.stage == "mine"
        assert info.value.__cause__ is boom

    def test_a_working_plugin_changes_nothing(self) -> None:
        assert plugin_stack(marker("audit"))(make_request()).body == b"outer,audit,inner"

    def test_plugin_error_is_an_eemw_error(self) -> None:
        assert issubclass(PluginError, EemwError)


def test_one_pipeline_serves_many_threads() -> None:
    workers = 8
    barrier = threading.Barrier(workers)

    def together(request: Request, call_next: Handler) -> Response:
        # Every thread waits here until all are inside the pipeline at once.
        barrier.wait(timeout=30)
        return call_next(request)

    stack = default_like().add(together, name="together", before="auth")
    pipeline = stack.build(CountingTransport())

    def run(i: int) -> tuple[int, Response]:
        request = make_request().with_header("X-Caller", str(i))
        return i, pipeline(request.with_context(TRAIL, (f"caller{i}",)))

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run, range(workers * 4)))

    for i, response in results:
        assert response.request.headers["x-caller"] == str(i)
        labels = response.body.decode().split(",")
        assert labels[0] == f"caller{i}"
        assert labels[1:] == ["tracing", "idempotency", "retry", "auth", "check"]
        assert response.headers["x-seen"] == "tracing,idempotency,retry,auth,check"


class TestPluginBlame:
    def test_a_plugins_own_typed_error_names_the_plugin(self) -> None:
        def refuse(request: Request, call_next: Handler) -> Response:
            raise eemw.UsageError("read-only client")

        stack = Stack([Entry("ro", refuse, "attempt", plugin="eemw-readonly")])
        with pytest.raises(eemw.UsageError) as info:
            stack.build(lambda r: respond(r, json={}))(make_request())
        assert info.value.plugin == "ro"
        assert info.value.distribution == "eemw-readonly"

    def test_errors_from_below_are_not_blamed_on_the_plugin(self) -> None:
        def passthrough(request: Request, call_next: Handler) -> Response:
            return call_next(request)

        def transport(request: Request) -> Response:
            raise eemw.ConnectError("refused")

        stack = Stack([Entry("p", passthrough, "attempt", plugin="dist")])
        with pytest.raises(eemw.ConnectError) as info:
            stack.build(transport)(make_request())
        assert info.value.plugin is None

    def test_a_plugin_returning_something_else_is_a_plugin_error(self) -> None:
        def sloppy(request: Request, call_next: Handler) -> Response:
            call_next(request)
            return None  # type: ignore[return-value]

        stack = Stack([Entry("sloppy", sloppy, "attempt", plugin="dist")])
        with pytest.raises(eemw.PluginError, match="returned NoneType") as info:
            stack.build(lambda r: respond(r, json={}))(make_request())
        assert info.value.plugin == "sloppy"
