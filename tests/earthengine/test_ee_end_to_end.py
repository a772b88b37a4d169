"""The official earthengine-api client through eemw, against the emulator on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import eemw
import eemw.earthengine
from eemw.emulator import Emulator, Fault
from eemw.testing import FakeClock

ee = pytest.importorskip("ee")

COMPUTE = "earthengine.projects.value.compute"
POLICY = eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=3)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def _detach_ee() -> Iterator[None]:
    yield
    eemw.earthengine.uninstall()


def client_for(emu: Emulator, **options: Any) -> eemw.Client:
    options.setdefault("credentials", emu.credentials())
    options.setdefault("retry", POLICY)
    options.setdefault("sleep", emu.advance)
    return eemw.Client("demo", endpoint=emu.url, **options)


def sent(emu: Emulator, fragment: str) -> list[Any]:
    return [r for r in emu.requests if fragment in r.path]


def export_params() -> dict[str, Any]:
    return {
        "expression": ee.Image(1),
        "description": "lost-answer",
        "fileExportOptions": {"fileFormat": "GEO_TIFF", "driveDestination": {"folder": "x"}},
    }


def test_computations_and_ee_data_calls_go_through_eemw(emu: Emulator) -> None:
    emu.set_answer(COMPUTE, {"result": 3})
    name = emu.add_operation("demo", state="RUNNING")
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        assert ee.Number(1).add(2).getInfo() == 3
        assert ee.data.getOperation(name)["name"] == name
        assert [op["name"] for op in ee.data.listOperations()] == [name]
        token = client.credentials.token
    api = [r for r in emu.requests if r.path.startswith("/v1/")]
    assert {r.headers["authorization"] for r in api} == {f"Bearer {token}"}
    assert {r.headers["x-goog-user-project"] for r in api} == {"demo"}
    assert emu.stats["methods"][COMPUTE] == 1


def test_one_call_span_per_ee_request_and_one_client_span_per_attempt(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    emu.set_answer(COMPUTE, {"result": 42})
    with client_for(emu, tracer_provider=provider) as client:
        eemw.earthengine.initialize(client)
        exporter.clear()
        emu.add_fault(Fault(status=503, path_contains="value:compute"))
        assert ee.Number(42).getInfo() == 42
    spans = exporter.get_finished_spans()
    (call,) = [s for s in spans if s.kind == SpanKind.INTERNAL]
    assert call.name == f"eemw {COMPUTE}"
    attempts = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert [s.attributes["http.response.status_code"] for s in attempts] == [503, 200]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id
               for s in attempts)
    assert len(sent(emu, "value:compute")) == 2


def test_a_503_is_retried_exactly_as_the_policy_says_and_ee_sees_the_last_answer(
    emu: Emulator,
) -> None:
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        emu.add_fault(Fault(status=503, times=None, path_contains="value:compute"))
        with pytest.raises(ee.EEException, match="currently unavailable"):
            ee.Number(1).getInfo()
    assert len(sent(emu, "value:compute")) == POLICY.max_attempts


def test_an_export_without_request_id_and_a_lost_answer_is_not_resent(emu: Emulator) -> None:
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        emu.add_fault(Fault(kind="drop_after", path_contains="image:export"))
        with pytest.raises(ConnectionError):
            ee.data.exportImage(None, export_params())
    assert len(sent(emu, "image:export")) == 1
    assert emu.stats["exports_started"] == 1


def test_an_export_with_a_request_id_is_retried_and_applied_once(emu: Emulator) -> None:
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        emu.add_fault(Fault(kind="drop_after", path_contains="image:export"))
        task = ee.batch.Export.image.toDrive(ee.Image(1), description="with-id")
        task.start()
    assert len(sent(emu, "image:export")) == 2
    assert emu.stats["exports_started"] == 1
    assert emu.stats["exports_deduplicated"] == 1


def test_error_answers_reach_ee_exactly_as_without_eemw(emu: Emulator) -> None:
    missing = "projects/demo/assets/missing"
    ee.Initialize(emu.credentials(), url=emu.url, project="demo")
    with pytest.raises(ee.EEException) as alone:
        ee.data.getAsset(missing)
    ee.Reset()
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        with pytest.raises(ee.EEException) as through_eemw:
            ee.data.getAsset(missing)
    assert str(through_eemw.value) == str(alone.value)
    assert "no answer" in str(alone.value)


def test_when_ee_authorizes_eemw_adds_only_the_quota_project(emu: Emulator) -> None:
    emu.set_answer(COMPUTE, {"result": 7})
    ee_credentials = emu.credentials()
    with client_for(emu, credentials=AnonymousCredentials(), quota_project="billing") as client:
        eemw.earthengine.initialize(client, credentials=ee_credentials)
        assert ee.Number(7).getInfo() == 7
    api = [r for r in emu.requests if r.path.startswith("/v1/")]
    assert api and {r.headers["authorization"] for r in api} == {f"Bearer {ee_credentials.token}"}
    assert {r.headers["x-goog-user-project"] for r in api} == {"billing"}
    assert emu.stats["token_requests"] >= 1


def test_the_ratelimit_plugin_throttles_ee_traffic(emu: Emulator) -> None:
    clock = FakeClock(1000.0)
    with client_for(
        emu, plugins=["ratelimit"], plugin_settings={"ratelimit": {"qps": "1", "burst": "1"}},
        clock=clock, sleep=clock.sleep,
    ) as client:
        eemw.earthengine.initialize(client)
        clock.sleeps.clear()
        for _ in range(3):
            ee.Number(1).getInfo()
    assert sum(clock.sleeps) == pytest.approx(3.0, abs=0.01)


def test_the_audit_plugin_records_ee_exports_not_computations(
    emu: Emulator, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    with client_for(
        emu, plugins=["audit"], plugin_settings={"audit": {"path": str(audit)}}
    ) as client:
        eemw.earthengine.initialize(client)
        ee.Number(1).getInfo()
        ee.batch.Export.image.toDrive(ee.Image(1), description="audited").start()
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["call"] for r in records] == ["earthengine.projects.image.export"]
    assert records[0]["outcome"] == "ok"


def test_tokens_stay_out_of_logs_and_spans(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ee_credentials = emu.credentials()
    with client_for(emu, tracer_provider=provider) as client:
        eemw.earthengine.initialize(client)
        emu.add_fault(Fault(status=503, path_contains="value:compute"))
        ee.Number(1).getInfo()
        with pytest.raises(ee.EEException):
            ee.data.getAsset("projects/demo/assets/missing")
        eemw_token = client.credentials.token
    with client_for(emu, credentials=AnonymousCredentials(), tracer_provider=provider) as client:
        eemw.earthengine.initialize(client, credentials=ee_credentials)
        ee.Number(1).getInfo()
    api_key = "AIza-an-api-key-that-must-not-leak"
    with client_for(emu, tracer_provider=provider) as client:
        eemw.earthengine.initialize(client, cloud_api_key=api_key)
        ee.Number(1).getInfo()
    assert any(api_key in r.path for r in sent(emu, "value:compute"))
    secrets = [eemw_token, ee_credentials.token, ee_credentials.refresh_token, api_key]
    assert all(secrets)
    shown = caplog.text + "".join(
        f"{s.name}{dict(s.attributes or {})}{[dict(e.attributes or {}) for e in s.events]}"
        for s in exporter.get_finished_spans()
    )
    for secret in secrets:
        assert secret not in shown


def test_uninstall_gives_ee_its_own_retries_back(emu: Emulator) -> None:
    ee.data.setMaxRetries(3)
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        assert ee.data._get_state().max_retries == 0
        eemw.earthengine.uninstall()
    assert ee.data._get_state().max_retries == 3
    assert not ee.data.is_initialized()


def test_a_transport_passed_to_ee_initialize_by_hand(emu: Emulator) -> None:
    emu.set_answer(COMPUTE, {"result": 5})
    with client_for(emu) as client:
        ee.data.setMaxRetries(0)
        ee.Initialize(None, url=client.endpoint, project=client.project,
                      http_transport=eemw.earthengine.EarthEngineTransport(client))
        try:
            assert ee.Number(5).getInfo() == 5
        finally:
            ee.Reset()
    assert [r.path.split("?")[0] for r in sent(emu, "value:compute")] == [
        "/v1/projects/demo/value:compute"
    ]


def test_an_export_without_request_id_answered_503_after_being_applied_is_not_resent(
    emu: Emulator,
) -> None:
    envelope = {"error": {"code": 503, "message": "Backend busy.", "status": "UNAVAILABLE"}}

    def applied_then_503(request: Any) -> tuple[int, dict[str, Any]]:
        emu.add_operation("demo", state="PENDING", type="EXPORT_IMAGE")
        return 503, envelope

    emu.set_answer("earthengine.projects.image.export", applied_then_503)
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        with pytest.raises(ee.EEException, match="Backend busy"):
            ee.data.exportImage(None, export_params())
    assert len(sent(emu, "image:export")) == 1
    assert len(emu.operation_names("demo")) == 1


def test_binary_answers_reach_ee_byte_for_byte(
    emu: Emulator, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    emu.set_answer("earthengine.projects.image.computePixels", png)
    with client_for(emu, tracer_provider=provider) as client:
        eemw.earthengine.initialize(client)
        exporter.clear()
        pixels = ee.data.computePixels({
            "expression": ee.Image(1), "fileFormat": "PNG",
            "grid": {"dimensions": {"width": 8, "height": 8}},
        })
    assert pixels == png
    (call,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.INTERNAL]
    assert call.name == "eemw earthengine.projects.image.computePixels"


def test_eemw_deadline_reaches_ee_as_the_timeout_error_its_own_transport_raises(
    emu: Emulator,
) -> None:
    with client_for(emu) as client:
        transport = eemw.earthengine.initialize(client)
        transport.timeout = 0.2  # after initializing, so only the computation is cut
        emu.add_fault(Fault(kind="delay", delay=1.0, path_contains="value:compute"))
        with pytest.raises(TimeoutError) as caught:
            ee.Number(1).getInfo()
    assert isinstance(caught.value.__cause__, eemw.EemwError)


def test_ee_speaks_the_client_s_api_version_until_uninstalled(emu: Emulator) -> None:
    version_before = ee._cloud_api_utils.VERSION
    emu.set_answer(COMPUTE, {"result": 1})
    with client_for(emu, api_version="v1beta") as client:
        eemw.earthengine.initialize(client)
        assert ee.Number(1).getInfo() == 1
        eemw.earthengine.uninstall()
    assert [r.path.split("?")[0] for r in sent(emu, "value:compute")] == [
        "/v1beta/projects/demo/value:compute"
    ]
    assert any("version=v1beta" in r.path for r in sent(emu, "$discovery"))
    restored = ee._cloud_api_utils.VERSION
    assert restored == version_before


def test_ee_from_many_threads_shares_one_client(emu: Emulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    emu.set_answer(COMPUTE, lambda request: {"result": json.loads(request.body)["expression"]})
    with client_for(emu) as client:
        eemw.earthengine.initialize(client)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: ee.Number(i).getInfo(), range(40)))
    assert [a["values"]["0"]["constantValue"] for a in answers] == list(range(40))
    assert len(sent(emu, "value:compute")) == 40
