"""Audit records: content, outcome, identity, destinations, and nothing secret."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from eemw_audit import AuditLog, FileSink, LoggerSink, factory
from google.oauth2.credentials import Credentials
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw.testing import MockTransport, respond

TOKEN = "ya29.audit-test-secret-token-5f0c"
ROBOT = "robot@demo.iam.gserviceaccount.com"


class RobotCredentials(Credentials):
    """A service account's view of itself, with a fixed token that must never be recorded."""

    @property
    def service_account_email(self) -> str:
        return ROBOT


class Lines:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str, record: Any) -> None:
        self.lines.append(line)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def answer(request: eemw.Request) -> eemw.Response:
    if request.call.name and request.call.name.endswith("/done"):
        return respond(request, 400, json={"error": {
            "code": 400, "status": "FAILED_PRECONDITION", "message": "already done"}})
    if request.call.kind in ("cancel", "delete"):
        return respond(request, json={})
    return respond(request, json={"name": request.call.name, "done": False})


def client_with(audit: AuditLog, transport: MockTransport, **kwargs: Any) -> eemw.Client:
    kwargs.setdefault("credentials", RobotCredentials(TOKEN))
    return eemw.Client(
        "demo", transport=transport,
        middleware=[eemw.Entry("audit", audit, "call", after="idempotency")],
        retry=eemw.RetryPolicy.none(), plugins=[], **kwargs,
    )


def fixed_now() -> datetime:
    return datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def test_a_cancel_is_recorded_with_everything_an_auditor_needs() -> None:
    sink, transport = Lines(), MockTransport(answer)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = client_with(AuditLog(sink, now=fixed_now), transport, tracer_provider=provider)

    client.operations.cancel("op-1")

    [record] = sink.records
    [call_span] = [s for s in exporter.get_finished_spans() if s.name == "eemw operations.cancel"]
    assert record == {
        "time": "2024-05-01T12:00:00.123Z",
        "call": "operations.cancel",
        "operation": "projects/demo/operations/op-1",
        "project": "demo",
        "identity": ROBOT,
        "idempotency_key": transport.requests[0].headers["Idempotency-Key"],
        "trace_id": format(call_span.context.trace_id, "032x"),
        "outcome": "ok",
        "error_code": None,
    }


def test_the_callers_own_key_is_recorded() -> None:
    sink = Lines()
    client_with(AuditLog(sink), MockTransport(answer)).operations.delete(
        "op-2", idempotency_key="ticket-4711"
    )
    assert sink.records[0]["idempotency_key"] == "ticket-4711"
    assert sink.records[0]["call"] == "operations.delete"


def test_reads_are_not_audited() -> None:
    sink = Lines()
    client = client_with(AuditLog(sink), MockTransport(answer))
    client.operations.get("op-1")
    list(client.operations.list(limit=1))
    assert sink.lines == []


def test_a_failed_call_is_recorded_with_its_code() -> None:
    sink = Lines()
    client = client_with(AuditLog(sink), MockTransport(answer))
    with pytest.raises(eemw.FailedPreconditionError):
        client.operations.cancel("done")
    record = sink.records[0]
    assert (record["outcome"], record["error_code"]) == ("error", "FAILED_PRECONDITION")


def test_an_error_without_an_rpc_status_is_recorded_by_type() -> None:
    def unreachable(request: eemw.Request) -> eemw.Response:
        raise eemw.ConnectError("connection refused")

    sink = Lines()
    with pytest.raises(eemw.ConnectError):
        client_with(AuditLog(sink), MockTransport(unreachable)).operations.cancel("op-1")
    assert sink.records[0]["error_code"] == "ConnectError"


def test_identity_is_the_credentials_then_the_setting_then_unknown() -> None:
    anonymous = Credentials(TOKEN)  # user credentials that report no account
    sink = Lines()
    client_with(AuditLog(sink, identity="batch-cleaner"), MockTransport(answer),
                credentials=anonymous).operations.cancel("a")
    client_with(AuditLog(sink), MockTransport(answer), credentials=anonymous).operations.cancel("b")
    assert [r["identity"] for r in sink.records] == ["batch-cleaner", "unknown"]


def test_the_identity_setting_never_overrides_the_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An environment variable must not be able to put another name on the robot's cancel.
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("EEMW_PLUGIN_AUDIT_IDENTITY", "someone-else")
    monkeypatch.setenv("EEMW_PLUGIN_AUDIT_PATH", str(path))
    client = eemw.Client(
        "demo", transport=MockTransport(answer), credentials=RobotCredentials(TOKEN),
        retry=eemw.RetryPolicy.none(), plugins=["audit"],
    )
    client.operations.cancel("op-1")
    [record] = [json.loads(line) for line in path.read_text().splitlines()]
    assert record["identity"] == ROBOT


def test_no_trace_id_without_a_recording_tracer() -> None:
    sink = Lines()
    client = client_with(
        AuditLog(sink), MockTransport(answer), tracer_provider=trace.NoOpTracerProvider()
    )
    client.operations.cancel("op-1")
    assert sink.records[0]["trace_id"] is None


def test_nothing_secret_is_recorded(caplog: pytest.LogCaptureFixture) -> None:
    transport = MockTransport(answer)
    client = client_with(AuditLog(), transport)
    with caplog.at_level(logging.INFO, logger="eemw.audit"):
        client.operations.cancel("op-1")
        with pytest.raises(eemw.FailedPreconditionError):
            client.operations.cancel("done")
    assert transport.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(caplog.records) == 2
    for entry in caplog.records:
        assert TOKEN not in entry.getMessage()
        assert TOKEN not in json.dumps(entry.audit)  # type: ignore[attr-defined]
        assert "Bearer" not in entry.getMessage()


def test_the_logger_sink_logs_one_json_line_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="eemw.audit"):
        client_with(AuditLog(LoggerSink()), MockTransport(answer)).operations.cancel("op-1")
    [entry] = caplog.records
    assert (entry.name, entry.levelno) == ("eemw.audit", logging.INFO)
    assert json.loads(entry.getMessage()) == entry.audit  # type: ignore[attr-defined]


def test_the_file_sink_appends_whole_lines_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"kept": true}\n')
    client = client_with(AuditLog(FileSink(path)), MockTransport(answer))
    threads = [
        threading.Thread(target=client.operations.cancel, args=(f"op-{i}",)) for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert lines[0] == '{"kept": true}'
    operations = sorted(json.loads(line)["operation"] for line in lines[1:])
    assert operations == sorted(f"projects/demo/operations/op-{i}" for i in range(16))


def test_the_factory_places_the_stage_after_idempotency() -> None:
    entry = factory({})
    assert (entry.name, entry.phase, entry.after) == ("audit", "call", "idempotency")
    assert isinstance(entry.middleware, AuditLog)
    assert isinstance(entry.middleware.sink, LoggerSink)
    assert entry.middleware.sink.logger.name == "eemw.audit"


def test_the_factory_reads_its_settings(tmp_path: Path) -> None:
    to_file = factory({"path": str(tmp_path / "a.jsonl"), "identity": "ops-bot"}).middleware
    assert isinstance(to_file, AuditLog)
    assert isinstance(to_file.sink, FileSink)
    assert to_file.identity == "ops-bot"
    named = factory({"logger": "acme.audit"}).middleware
    assert isinstance(named, AuditLog) and isinstance(named.sink, LoggerSink)
    assert named.sink.logger.name == "acme.audit"


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"path": "/no/such/dir/audit.jsonl"}, "path"),
        ({"path": ""}, "path"),
        ({"path": "x", "logger": "y"}, "logger"),
        ({"file": "x"}, "file"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, str], setting: str) -> None:
    with pytest.raises(eemw.PluginSettingError) as caught:
        factory(settings)
    assert (caught.value.plugin, caught.value.setting) == ("audit", setting)
