"""Every client call through the real requests transport to the emulator over loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import eemw
from eemw.emulator import Emulator, Fault

VERSIONS = ["v1", "v1beta", "v1alpha"]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def make_client(emu: Emulator, version: str = "v1", **kwargs: object) -> eemw.Client:
    options: dict[str, object] = {
        "endpoint": emu.url,
        "credentials": emu.credentials(),
        "api_version": version,
        "retry": eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
        "sleep": emu.advance,
    }
    options.update(kwargs)
    return eemw.Client("demo", **options)  # type: ignore[arg-type]


def api_requests(emu: Emulator) -> list[object]:
    return [r for r in emu.requests if not r.path.startswith("/token")]


@pytest.mark.parametrize("version", VERSIONS)
def test_get_by_full_name_and_by_id(emu: Emulator, version: str) -> None:
    name = emu.add_operation("demo", state="RUNNING", description="export", type="EXPORT_IMAGE")
    with make_client(emu, version) as client:
        by_name = client.operations.get(name)
        by_id = client.operations.get(name.rsplit("/", 1)[1])
    assert by_name.name == by_id.name == name
    assert by_name.state is eemw.State.RUNNING
    assert by_name.metadata.description == "export"
    assert by_name.metadata.type == "EXPORT_IMAGE"
    assert by_name.metadata.create_time is not None
    assert by_name.metadata.create_time.tzinfo is not None
    paths = [r.path for r in api_requests(emu)]
    assert paths == [f"/{version}/{name}"] * 2


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_then_get_shows_cancelled(emu: Emulator, version: str) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with make_client(emu, version) as client:
        result = client.operations.cancel(name)
        assert (result.name, result.outcome, result.reconciled) == (name, "cancelled", False)
        # Cancel is asynchronous on Earth Engine: CANCELLING first, CANCELLED later.
        assert client.operations.get(name).state is eemw.State.CANCELLING
        emu.advance(2)
        op = client.operations.get(name)
    assert op.done and op.cancelled and op.error is not None and op.error.code == 1
    cancel = next(r for r in emu.requests if r.path.endswith(":cancel"))
    assert cancel.method == "POST"
    assert cancel.path == f"/{version}/{name}:cancel"
    assert cancel.headers["Idempotency-Key"]
    assert emu.cancel_effects(name) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_delete_then_get_is_not_found(emu: Emulator, version: str) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    with make_client(emu, version) as client:
        client.operations.delete(name)
        with pytest.raises(eemw.NotFoundError) as info:
            client.operations.get(name)
    assert info.value.http_status == 404
    assert info.value.rpc_status == "NOT_FOUND"
    assert info.value.operation == name
    assert name in str(info.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_list_pages_lazily(emu: Emulator, version: str) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(7)]
    with make_client(emu, version) as client:
        it = client.operations.list(page_size=3)
        assert api_requests(emu) == []  # nothing sent until iterated
        first = next(it)
        assert len(api_requests(emu)) == 1
        rest = list(it)
    assert [op.name for op in [first, *rest]] == names[::-1]  # newest first
    collection = f"/{version}/projects/demo/operations?"
    pages = [r for r in api_requests(emu) if r.path.startswith(collection)]
    assert len(pages) == 3
    assert "pageSize=3" in pages[0].path
    assert "pageToken=" in pages[1].path


def test_list_limit_fetches_only_needed_pages(emu: Emulator) -> None:
    for _ in range(10):
        emu.add_operation("demo")
    with make_client(emu) as client:
        ops = list(client.operations.list(page_size=2, limit=3))
    assert len(ops) == 3
    assert len(api_requests(emu)) == 2


def test_list_empty_project_is_empty(emu: Emulator) -> None:
    with make_client(emu) as client:
        assert list(client.operations.list(project="empty")) == []
    (req,) = api_requests(emu)
    assert req.path.startswith("/v1/projects/empty/operations")


def test_list_passes_filter_and_filters_state_and_type(emu: Emulator) -> None:
    running = emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE")
    emu.add_operation("demo", state="RUNNING", type="INGEST_IMAGE")
    emu.add_operation("demo", state="SUCCEEDED", type="EXPORT_IMAGE")
    with make_client(emu) as client:
        server_side = [op.name for op in client.operations.list(filter="done=false")]
        client_side = [op.name for op in client.operations.list(
            state=eemw.State.RUNNING, type="EXPORT_IMAGE"
        )]
    assert len(server_side) == 2
    assert client_side == [running]
    assert "filter=done%3Dfalse" in api_requests(emu)[0].path


def test_operation_with_missing_metadata_fields(emu: Emulator) -> None:
    name = emu.add_operation(
        "demo", state="RUNNING",
        omit=("description", "priority", "createTime", "progress", "stages"),
        extra_metadata={"futureField": {"x": 1}},
    )
    with make_client(emu) as client:
        op = client.operations.get(name)
    assert op.metadata.description is None
    assert op.metadata.priority == 100
    assert op.metadata.create_time is None
    assert op.metadata.progress is None
    assert op.metadata.raw["futureField"] == {"x": 1}


def test_wait_polls_until_done_on_the_emulator_clock(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=30.0, start_after=0.0)
    with make_client(emu) as client:
        op = client.operations.wait(name, timeout=600, poll_interval=1.0)
    assert op.done and op.succeeded
    waits = [r for r in emu.requests if r.path.endswith(":wait")]
    assert waits and json.loads(waits[0].body)["timeout"].endswith("s")


def test_wait_raises_for_failed_operation(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=5.0, start_after=0.0,
                             fail_at_end=True)
    with make_client(emu) as client, pytest.raises(eemw.OperationFailedError) as info:
        client.operations.wait(name, timeout=600)
    assert info.value.operation.failed
    assert name in str(info.value)


def test_wait_never_sleeps_past_its_timeout(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=10_000.0, start_after=0.0)
    slept: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds
        emu.advance(seconds)

    with make_client(emu, sleep=sleep, clock=lambda: clock[0]) as client:
        with pytest.raises(eemw.DeadlineExceededError) as info:
            client.operations.wait(name, timeout=20, poll_interval=1.0, max_poll_interval=8.0)
    assert sum(slept) <= 20
    assert info.value.operation is not None and info.value.operation.state is eemw.State.RUNNING


def test_wait_falls_back_to_get_when_wait_is_unimplemented(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=3.0, start_after=0.0)
    emu.add_fault(Fault(status=501, path_contains=":wait", times=None))
    with make_client(emu) as client:
        op = client.operations.wait(name, timeout=60)
    assert op.succeeded
    assert sum(r.path.endswith(":wait") for r in emu.requests) == 1
    assert any(r.method == "GET" for r in api_requests(emu))


def test_wait_falls_back_to_get_when_a_front_end_has_no_wait_route(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=3.0, start_after=0.0)
    # A 404 page that is not the service's error envelope: the route, not the operation.
    emu.add_fault(Fault(kind="html", status=404, path_contains=":wait", times=None))
    with make_client(emu) as client:
        op = client.operations.wait(name, timeout=60)
    assert op.succeeded
    assert sum(r.path.endswith(":wait") for r in emu.requests) == 1


def test_wait_on_a_missing_operation_is_not_found_at_once(emu: Emulator) -> None:
    missing = "projects/demo/operations/NO_SUCH_OPERATION"
    with make_client(emu) as client, pytest.raises(eemw.NotFoundError) as info:
        client.operations.wait(missing, timeout=60)
    assert info.value.from_envelope
    assert len(api_requests(emu)) == 1


def fake_timeline(emu: Emulator) -> tuple[list[float], dict[str, object]]:
    """A client clock that moves only when the client sleeps, the emulator's with it."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        emu.advance(seconds)

    return now, {"clock": lambda: now[0], "sleep": sleep}


def test_wait_waits_through_a_failing_server_until_its_timeout(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=10_000.0, start_after=0.0)
    now, timeline = fake_timeline(emu)
    with make_client(emu, **timeline) as client:
        client.operations.get(name)  # the token is fetched before the outage
        emu.add_fault(Fault(status=503, times=None))
        with pytest.raises(eemw.DeadlineExceededError) as info:
            client.operations.wait(name, timeout=120, poll_interval=1.0, max_poll_interval=8.0)
    # Not early, whatever the retries did: each request's retries ran out many times over.
    assert now[0] == pytest.approx(120)
    assert isinstance(info.value.last_error, eemw.UnavailableError)
    assert info.value.last_error.gave_up
    assert len(api_requests(emu)) > 2 * eemw.RetryPolicy().max_attempts


def test_cancel_many_timeout_is_the_whole_calls_deadline(emu: Emulator) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(10)]
    now, timeline = fake_timeline(emu)

    def slow_server(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        now[0] += 1.0  # every attempt takes a second on the client's clock
        return call_next(request)

    slow = eemw.Entry("slow-server", slow_server, "attempt")
    with make_client(emu, middleware=[slow], **timeline) as client:
        results = client.operations.cancel_many(names, max_workers=1, timeout=3.5)
    outcomes = [r.outcome for r in results]
    assert outcomes == ["cancelled"] * 4 + ["error"] * 6
    assert all(isinstance(r.error, eemw.DeadlineExceededError) for r in results[4:])
    assert sum(r.path.endswith(":cancel") for r in emu.requests) == 4  # the rest never sent
    assert now[0] <= 3.5 + 1.0  # the deadline, plus the one attempt in flight at it


def test_cancel_of_done_operation_is_failed_precondition(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    with make_client(emu) as client, pytest.raises(eemw.FailedPreconditionError):
        client.operations.cancel(name)
    assert emu.cancel_effects(name) == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, eemw.InvalidArgumentError),
        (403, eemw.PermissionDeniedError),
        (404, eemw.NotFoundError),
        (409, eemw.AbortedError),
        (501, eemw.UnimplementedError),
    ],
)
def test_error_statuses_become_typed_errors(
    emu: Emulator, status: int, error: type[eemw.ApiError]
) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(status=status))
    with make_client(emu) as client, pytest.raises(error) as info:
        client.operations.get(name)
    assert info.value.http_status == status


def test_unavailable_is_retried_then_succeeds(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(status=503, times=2))
    with make_client(emu) as client:
        assert client.operations.get(name).name == name
    assert len(api_requests(emu)) == 3


def test_html_proxy_error_is_typed_with_excerpt(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="html", status=502, times=None))
    with make_client(emu, retry=eemw.RetryPolicy.none()) as client:
        with pytest.raises(eemw.UnavailableError) as info:
            client.operations.get(name)
    assert "<" not in info.value.message
    assert info.value.http_status == 502


def test_headers_on_the_wire(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    with make_client(emu, quota_project="billing-proj", user_agent="my-service/2.0") as client:
        client.operations.get(name)
    (req,) = api_requests(emu)
    assert req.headers["Authorization"].startswith("Bearer ")
    assert req.headers["X-Goog-User-Project"] == "billing-proj"
    assert req.headers["X-Goog-Api-Client"].startswith(f"eemw/{eemw.__version__} python/")
    assert req.headers["User-Agent"].startswith("my-service/2.0 eemw/")


def test_invalid_names_never_reach_the_server(emu: Emulator) -> None:
    with make_client(emu) as client:
        for bad in ["../../etc/passwd", "projects/demo/operations/a?b", "projects/a/b/operations/x",
                    "projects/demo/operations/%2e%2e", "projects/demo/operations/ x", ""]:
            with pytest.raises(eemw.InvalidNameError):
                client.operations.get(bad)
    assert emu.requests == []


def test_connection_refused_is_connect_error() -> None:
    with Emulator() as emu:
        url, creds = emu.url, emu.credentials()
    client = eemw.Client("demo", endpoint=url, credentials=creds,
                         retry=eemw.RetryPolicy.none())
    with pytest.raises(eemw.ConnectError) as info:
        client.operations.get("projects/demo/operations/X")
    assert info.value.__cause__ is not None


def test_cancel_many_reports_one_result_per_name(emu: Emulator) -> None:
    running = [emu.add_operation("demo", state="RUNNING") for _ in range(5)]
    done = emu.add_operation("demo", state="SUCCEEDED")
    missing = "projects/demo/operations/MISSING"
    flaky = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=403, path_contains=flaky.rsplit("/", 1)[1], times=None))
    seen: list[eemw.CancelResult] = []
    with make_client(emu) as client:
        results = client.operations.cancel_many(
            [*running, done, missing, flaky], max_workers=4, on_result=seen.append
        )
    assert [r.name for r in results] == [*running, done, missing, flaky]
    outcomes = [r.outcome for r in results]
    assert outcomes == ["cancelled"] * 5 + ["already_done", "not_found", "error"]
    assert isinstance(results[-1].error, eemw.PermissionDeniedError)
    assert sorted(r.name for r in seen) == sorted(r.name for r in results)
    assert all(emu.cancel_effects(n) == 1 for n in running)


def test_cancel_many_validates_every_name_before_sending(emu: Emulator) -> None:
    good = emu.add_operation("demo", state="RUNNING")
    with make_client(emu) as client, pytest.raises(eemw.InvalidNameError):
        client.operations.cancel_many([good, "projects/demo/operations/../x"])
    assert emu.requests == []


def test_wait_many_uses_one_schedule(emu: Emulator) -> None:
    quick = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=2.0)
    slow = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=20.0)
    failing = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=5.0,
                                fail_at_end=True)
    with make_client(emu) as client:
        results = client.operations.wait_many(
            [quick, slow, failing], timeout=300, poll_interval=1.0
        )
    assert [r.name for r in results] == [quick, slow, failing]
    assert all(r.done and r.error is None for r in results)
    ops = [r.operation for r in results]
    assert ops[0] is not None and ops[0].succeeded
    assert ops[1] is not None and ops[1].succeeded
    assert ops[2] is not None and ops[2].failed
    gets = [r.path.rsplit("/", 1)[1] for r in api_requests(emu)]
    # Done operations drop out of the schedule: the quick one is fetched least.
    assert gets.count(quick.rsplit("/", 1)[1]) < gets.count(slow.rsplit("/", 1)[1])


def test_trace_attributes_reach_the_call_span(emu: Emulator) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = emu.add_operation("demo", state="RUNNING")
    with make_client(emu, tracer_provider=provider) as client:
        client.operations.cancel(name, trace_attributes={"app.job": "nightly-cleanup"})
    (call_span,) = [s for s in exporter.get_finished_spans() if s.name == "eemw operations.cancel"]
    assert call_span.attributes is not None
    assert call_span.attributes["app.job"] == "nightly-cleanup"
    assert call_span.attributes["eemw.operation.name"] == name


def test_cancel_many_survives_a_callback_that_raises(emu: Emulator) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(3)]

    def explode(result: eemw.CancelResult) -> None:
        raise RuntimeError("progress bar broke")

    with make_client(emu) as client:
        results = client.operations.cancel_many(names, on_result=explode)
    assert [r.outcome for r in results] == ["cancelled"] * 3


def test_wait_many_reports_each_operation_at_the_timeout(emu: Emulator) -> None:
    running = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=10_000.0)
    quick = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=2.0)
    missing = "projects/demo/operations/GONE"
    # The client's clock is the emulator's, so its 30 s pass as the emulator advances.
    with make_client(emu, clock=lambda: emu.now) as client:
        results = client.operations.wait_many([running, missing, quick], timeout=30)
    by_name = {r.name: r for r in results}
    assert not by_name[running].done
    assert by_name[running].operation is not None
    assert by_name[running].operation.state is eemw.State.RUNNING
    assert isinstance(by_name[missing].error, eemw.NotFoundError)
    assert by_name[missing].operation is None
    assert by_name[quick].done
    # The missing one is asked for once: a definitive 404 settles it.
    assert sum(r.path.endswith("/GONE") for r in api_requests(emu)) == 1


def test_bulk_calls_refuse_a_single_name(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    with make_client(emu) as client:
        with pytest.raises(eemw.UsageError, match="not a single name"):
            client.operations.cancel_many(name)  # type: ignore[arg-type]
        with pytest.raises(eemw.UsageError):
            client.operations.wait_many(5)  # type: ignore[arg-type]
    assert emu.requests == []


def test_cancel_many_survives_a_bug_in_a_callers_stage(emu: Emulator) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(3)]
    broken = names[1].rsplit("/", 1)[1]

    def buggy(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        if request.call.name and request.call.name.endswith(broken):
            raise RuntimeError("bug in my middleware")
        return call_next(request)

    stage = eemw.Entry("buggy", buggy, "attempt")
    with make_client(emu, middleware=[stage]) as client:
        results = client.operations.cancel_many(names)
    assert [r.outcome for r in results] == ["cancelled", "error", "cancelled"]
    # An exception escaping an inline stage is a typed eemw error, the bug its cause.
    assert isinstance(results[1].error, eemw.MiddlewareError)
    assert isinstance(results[1].error.__cause__, RuntimeError)
    assert emu.cancel_effects(names[0]) == emu.cancel_effects(names[2]) == 1


def test_stages_see_the_clients_clock_and_sleep(emu: Emulator) -> None:
    seen: list[object] = []

    def stage(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        seen.append(request.context.get(eemw.keys.SLEEP))
        seen.append(request.context.get(eemw.keys.CLOCK))
        return call_next(request)

    name = emu.add_operation("demo")

    def clock() -> float:
        return 42.0

    with make_client(emu, clock=clock, middleware=[eemw.Entry("s", stage, "attempt")]) as client:
        client.operations.get(name)
    assert seen == [emu.advance, clock]
