"""What a user changes in a client's stack: replacing or removing a built-in stage, plain
functions as stages, per-call context for a plugin's own keys, and the stage names
``describe()`` shows for every attempt. All on ``MockTransport``, as a user's tests run."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw import keys
from eemw.testing import FakeClock, MockTransport, google_error, operation_json

TENANT: eemw.ContextKey[str | None] = eemw.ContextKey("acme.tenant", None)


def mock(*answers: eemw.testing.Answer) -> MockTransport:
    transport = MockTransport()
    transport.route("get").respond(*(answers or (operation_json("op-1"),)))
    transport.route("cancel").respond({})
    transport.route("list").respond({"operations": []})
    return transport


class TestReplaceAndRemove:
    def test_a_retry_policy_object_of_your_own_takes_the_retry_place(self) -> None:
        seen: list[str] = []

        class OnceMore:
            def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
                try:
                    return call_next(request)
                except eemw.UnavailableError:
                    seen.append("retried")
                    return call_next(request)

        transport = mock(google_error(503), operation_json("op-1"))
        client = eemw.Client("demo", transport=transport, replace={"retry": OnceMore()})
        assert client.operations.get("op-1").name.endswith("op-1")
        assert seen == ["retried"]
        entry = next(e for e in client.stack.entries if e.name == "retry")
        assert entry.phase == "call"
        assert "OnceMore" in entry.origin
        # A plugin-style stage without an anchor still goes in front of the replaced retry.
        added = client.stack.add_entry(eemw.Entry("mine", lambda r, n: n(r), "call"))
        assert added.names().index("mine") == added.names().index("retry") - 1

    def test_without_tracing_no_span_is_made(self) -> None:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(exporter))
        client = eemw.Client("demo", transport=mock(), tracer_provider=provider,
                             without=["tracing", "http-tracing"])
        client.operations.get("op-1")
        assert exporter.get_finished_spans() == ()
        assert "tracing" not in client.stack.names()

    def test_check_cannot_be_removed(self) -> None:
        with pytest.raises(eemw.StackError, match="replace it instead"):
            eemw.Client("demo", transport=mock(), without=["check"])

    @pytest.mark.parametrize("option", ["replace", "without"])
    def test_only_built_in_stages_are_named(self, option: str) -> None:
        value: object = {"retyr": lambda r, n: n(r)} if option == "replace" else ["retyr"]
        with pytest.raises(eemw.StackError, match="'retyr' is not a built-in stage"):
            eemw.Client("demo", transport=mock(), **{option: value})  # type: ignore[arg-type]

    def test_retry_settings_for_a_replaced_retry_are_refused(self) -> None:
        with pytest.raises(eemw.UsageError, match="retry= and retry_budget="):
            eemw.Client("demo", transport=mock(), retry=eemw.RetryPolicy(),
                        without=["retry"])

    def test_an_anchor_to_a_removed_stage_fails_at_build(self) -> None:
        stage = eemw.Entry("after-tracing", lambda r, n: n(r), "call", after="tracing")
        with pytest.raises(eemw.StackError, match="'tracing', which is not in the stack"):
            eemw.Client("demo", transport=mock(), without=["tracing"], middleware=[stage])

    def test_replacing_auth_needs_no_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import google.auth

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("google.auth.default() was called")

        def api_key(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            return call_next(request.with_header("X-Goog-Api-Key", "k"))

        monkeypatch.setattr(google.auth, "default", refuse)
        sent: list[eemw.Request] = []

        def transport(request: eemw.Request) -> eemw.Response:  # not a MockTransport
            sent.append(request)
            return eemw.testing.respond(request, json=operation_json("op-1"))

        client = eemw.Client("demo", transport=transport, replace={"auth": api_key})
        client.operations.get("op-1")
        assert client.credentials is None
        assert sent[0].headers["x-goog-api-key"] == "k"


class TestPlainCallables:
    def test_a_named_function_is_an_attempt_stage_named_after_it(self) -> None:
        def stamp(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            return call_next(request.with_header("X-Stamp", "1"))

        transport = mock(google_error(503), operation_json("op-1"))
        client = eemw.Client("demo", transport=transport, middleware=[stamp], clock=FakeClock())
        entry = next(e for e in client.stack.entries if e.name == "stamp")
        assert entry.phase == "attempt"
        client.operations.get("op-1")
        assert [r.headers.get("x-stamp") for r in transport.requests] == ["1", "1"]

    @pytest.mark.parametrize("item", [lambda r, n: n(r), "stamp", 42])
    def test_anything_else_says_how_to_wrap_it(self, item: object) -> None:
        with pytest.raises(eemw.StackError, match=r"eemw\.Entry\('my-stage'"):
            eemw.Client("demo", transport=mock(), middleware=[item])  # type: ignore[list-item]

    def test_a_bug_in_an_inline_stage_is_a_typed_error(self) -> None:
        def buggy(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            return {}["missing"]  # type: ignore[no-any-return]

        client = eemw.Client("demo", transport=mock(), middleware=[buggy])
        with pytest.raises(eemw.MiddlewareError, match="stage 'buggy' raised KeyError") as info:
            client.operations.get("op-1")
        assert isinstance(info.value.__cause__, KeyError)
        assert isinstance(info.value, eemw.EemwError)


class TestPerCallContext:
    def test_a_plugins_own_key_is_set_per_call(self) -> None:
        seen: list[str | None] = []

        def tenant(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            seen.append(request.context.get(TENANT))
            return call_next(request)

        client = eemw.Client("demo", transport=mock(), middleware=[tenant])
        client.operations.get("op-1", context={TENANT: "acme"})
        client.operations.cancel("op-1", context=eemw.Context().set(TENANT, "globex"))
        list(client.operations.list(context={TENANT: "initech"}))
        client.operations.get("op-1")
        assert seen == ["acme", "globex", "initech", None]

    @pytest.mark.parametrize("key", [keys.DEADLINE, keys.CLOCK, keys.IDEMPOTENCY_KEY])
    def test_keys_eemw_sets_itself_are_refused(self, key: eemw.ContextKey[object]) -> None:
        transport = mock()
        client = eemw.Client("demo", transport=transport)
        with pytest.raises(eemw.UsageError, match=f"context cannot set {key.name}"):
            client.operations.get("op-1", context={key: None})
        assert transport.requests == []

    def test_context_must_map_keys(self) -> None:
        client = eemw.Client("demo", transport=mock())
        with pytest.raises(eemw.UsageError, match="ContextKey"):
            client.operations.get("op-1", context={"acme.tenant": "x"})  # type: ignore[dict-item]


class TestWhatRunsOnEveryAttempt:
    def test_describe_shows_the_attempt_span_stage_above_the_transport(self) -> None:
        client = eemw.Client("demo", transport=mock())
        assert client.stack.names() == [
            "tracing", "idempotency", "retry", "auth", "check", "http-tracing",
        ]
        lines = client.stack.describe().splitlines()
        assert "http-tracing" in lines[5] and "attempt" in lines[5]
        assert lines[6].split()[0] == "transport"

    def test_the_stack_is_a_stack_and_the_pipeline_sends(self) -> None:
        client = eemw.Client("demo", transport=mock())
        assert isinstance(client.stack, eemw.Stack)
        assert isinstance(client.pipeline, eemw.Pipeline)
        assert client.pipeline.entries == client.stack.entries


class TestTestDoubles:
    def test_a_mock_client_never_looks_for_real_credentials(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import google.auth

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("google.auth.default() was called")

        monkeypatch.setattr(google.auth, "default", refuse)
        transport = mock()
        client = eemw.Client("demo", transport=transport)
        client.operations.get("op-1")
        assert "authorization" not in transport.requests[0].headers

    def test_one_fake_clock_drives_deadlines_and_sleeps(self) -> None:
        clock = FakeClock()
        transport = mock(google_error(503, retry_delay=2.5), operation_json("op-1"))
        client = eemw.Client("demo", transport=transport, clock=clock)
        assert client.sleep == clock.sleep
        client.operations.get("op-1")
        assert clock.sleeps == [pytest.approx(2.5)]
        assert clock() == pytest.approx(2.5)


class TestScopesPerClient:
    def test_each_client_has_its_own_scope_table(self) -> None:
        from google.oauth2 import service_account

        other = "https://www.googleapis.com/auth/devstorage.read_only"

        def credentials() -> Any:
            # The signer is only used when refreshing, which this test never does.
            return service_account.Credentials(  # type: ignore[no-untyped-call]
                object(), "sa@demo.iam.gserviceaccount.com", "https://oauth2.example/token")

        custom = eemw.Client("demo", transport=mock(), credentials=credentials(),
                             scopes={**eemw.REQUIRED_SCOPES, "get": (other,)})
        plain = eemw.Client("demo", transport=mock(), credentials=credentials())
        assert other in custom.credentials.scopes  # type: ignore[union-attr]
        assert other not in plain.credentials.scopes  # type: ignore[union-attr]
        with pytest.raises(TypeError):
            eemw.REQUIRED_SCOPES["get"] = (other,)  # type: ignore[index]

    def test_a_bad_table_is_refused_before_anything_is_sent(self) -> None:
        with pytest.raises(eemw.UsageError, match=r"scopes\['get'\]"):
            eemw.Client("demo", transport=mock(), scopes={"get": "not-a-list"})
