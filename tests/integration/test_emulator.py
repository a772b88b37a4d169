"""The emulator over real loopback HTTP, driven with `requests` and google-auth's own flows."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import pytest
import requests
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials

import eemw.emulator
from eemw.emulator import CLOUD_SCOPE, EE_SCOPE, Emulator, Fault, RecordedRequest

VERSIONS = ("v1", "v1beta", "v1alpha")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def fraction_digits(stamp: str) -> int:
    return len(stamp.split(".")[1]) - 1 if "." in stamp else 0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def authed(emu: Emulator, *scopes: str) -> requests.Session:
    session = requests.Session()
    token = emu.issue_token(scopes or (EE_SCOPE,))
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.fixture
def http(emu: Emulator) -> Iterator[requests.Session]:
    with authed(emu) as session:
        yield session


def url(emu: Emulator, name: str, version: str = "v1", suffix: str = "") -> str:
    return f"{emu.url}/{version}/{name}{suffix}"


def envelope(response: requests.Response, status: int, rpc: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    error = response.json()["error"]
    assert error["code"] == status
    assert error["status"] == rpc
    assert error["message"]
    return dict(error)


def outcome(session: requests.Session, target: str) -> str:
    try:
        return str(session.get(target, timeout=5).status_code)
    except requests.ConnectionError:
        return "drop"


# -- get, list, cancel, delete, wait --------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_get_returns_operation_wire_json(
    emu: Emulator, http: requests.Session, version: str
) -> None:
    name = emu.add_operation("demo", state="RUNNING", description="export", type="EXPORT_IMAGE")
    emu.advance(3)
    response = http.get(url(emu, name, version))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    op = response.json()
    assert op["name"] == name
    assert "done" not in op and "error" not in op and "response" not in op
    meta = op["metadata"]
    # The type URL names the version asked for, as the service's does.
    assert meta["@type"] == f"type.googleapis.com/google.earthengine.{version}.OperationMetadata"
    assert (meta["state"], meta["description"], meta["type"], meta["priority"]) == (
        "RUNNING",
        "export",
        "EXPORT_IMAGE",
        100,
    )
    assert {"createTime", "updateTime", "startTime", "progress", "stages", "attempt"} <= set(meta)
    assert op == emu.operation(name, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_zero_valued_fields_are_omitted_as_proto3_json_does(
    emu: Emulator, http: requests.Session, version: str
) -> None:
    pending = emu.add_operation("demo", state="PENDING", type="INGEST_TABLE")
    just_started = emu.add_operation("demo", state="RUNNING")
    meta = http.get(url(emu, pending, version)).json()["metadata"]
    for absent in ("progress", "attempt", "stages", "startTime", "batchEecuUsageSeconds"):
        assert absent not in meta
    assert "destinationUris" not in meta  # an ingestion has none: an empty list is left out
    started = http.get(url(emu, just_started, version)).json()["metadata"]
    assert "progress" not in started and started["attempt"] == 1
    assert all("completeWorkUnits" not in stage for stage in started["stages"])


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_operation_is_404(emu: Emulator, http: requests.Session, version: str) -> None:
    response = http.get(url(emu, "projects/demo/operations/NOPE", version))
    error = envelope(response, 404, "NOT_FOUND")
    assert "projects/demo/operations/NOPE" in error["message"]


@pytest.mark.parametrize("path", ["/v2/projects/demo/operations/X", "/", "/v1/projects/demo/x"])
def test_unknown_paths_get_the_404_envelope(
    emu: Emulator, http: requests.Session, path: str
) -> None:
    envelope(http.get(emu.url + path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "path",
    [
        "projects/demo/operations/bad.id",
        "projects/a%2Fb/operations/X",
        "projects/demo/operations/a/b",
    ],
)
def test_invalid_names_are_400(emu: Emulator, http: requests.Session, path: str) -> None:
    envelope(http.get(f"{emu.url}/v1/{path}"), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_list_is_exactly_an_empty_object(
    emu: Emulator, http: requests.Session, version: str
) -> None:
    response = http.get(f"{emu.url}/{version}/projects/nothing/operations")
    assert response.status_code == 200
    assert response.content == b"{}"


@pytest.mark.parametrize("version", VERSIONS)
def test_list_pages_newest_first(emu: Emulator, http: requests.Session, version: str) -> None:
    names = []
    for i in range(7):
        names.append(emu.add_operation("demo", id=f"op{i}"))
        emu.advance(1)
    names.reverse()
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"pageSize": "3", "pageToken": token} if token else {"pageSize": "3"}
        page = http.get(f"{emu.url}/{version}/projects/demo/operations", params=params).json()
        pages += 1
        seen += [op["name"] for op in page["operations"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == names
    assert pages == 3


def test_list_orders_by_create_time_and_tokens_survive_inserts(
    emu: Emulator, http: requests.Session
) -> None:
    now = emu.now_datetime
    old = emu.add_operation("demo", state="RUNNING", create_time=now - timedelta(days=3))
    new = emu.add_operation("demo", state="RUNNING", create_time=now - timedelta(hours=1))
    older = emu.add_operation("demo", state="SUCCEEDED", create_time=now - timedelta(days=5))
    newest = emu.add_operation("demo", state="PENDING")
    base = f"{emu.url}/v1/projects/demo/operations"
    first = http.get(base, params={"pageSize": "2"}).json()
    assert [op["name"] for op in first["operations"]] == [newest, new]
    # Operations created after the first page do not shift what the token resumes at.
    emu.add_operation("demo")
    rest = http.get(base, params={"pageSize": "2", "pageToken": first["nextPageToken"]}).json()
    assert [op["name"] for op in rest["operations"]] == [old, older]
    assert "nextPageToken" not in rest
    assert emu.operation_names("demo")[1:] == [newest, new, old, older]


def test_create_time_sets_the_age_and_keeps_the_state(emu: Emulator) -> None:
    three_days_ago = emu.now_datetime - timedelta(days=3)
    name = emu.add_operation("demo", state="RUNNING", create_time=three_days_ago, duration=60)
    op = emu.operation(name)
    assert op is not None and op["metadata"]["state"] == "RUNNING"
    assert op["metadata"]["createTime"].startswith(three_days_ago.strftime("%Y-%m-%dT%H:%M:%S"))
    with pytest.raises(ValueError, match="after"):
        emu.add_operation("demo", create_time=emu.now_datetime + timedelta(seconds=1))
    with pytest.raises(ValueError, match="naive"):
        emu.add_operation("demo", create_time=datetime(2025, 1, 1))


def test_clock_is_a_datetime_on_a_fixed_epoch_unless_realtime() -> None:
    frozen = Emulator()
    assert frozen.epoch == datetime(2026, 1, 1, tzinfo=timezone.utc)
    frozen.advance(90)
    assert frozen.now_datetime == frozen.epoch + timedelta(seconds=90)
    before = datetime.now(timezone.utc)
    live = Emulator(realtime=True)
    assert before <= live.epoch <= datetime.now(timezone.utc)
    chosen = datetime(2030, 6, 1, 12, tzinfo=timezone.utc)
    with Emulator(epoch=chosen) as emu:
        name = emu.add_operation("demo", state="PENDING")
        op = emu.operation(name)
        assert op is not None and op["metadata"]["createTime"].startswith("2030-06-01T12:00:00")


def test_list_page_size_default_and_cap(http: requests.Session) -> None:
    with Emulator(max_page_size=5) as small, authed(small) as session:
        for _ in range(60):
            small.add_operation("demo")
        base = f"{small.url}/v1/projects/demo/operations"
        assert len(session.get(base, params={"pageSize": "100"}).json()["operations"]) == 5
    with Emulator() as big, authed(big) as session:
        for _ in range(60):
            big.add_operation("demo")
        page = session.get(f"{big.url}/v1/projects/demo/operations").json()
        assert len(page["operations"]) == 50
        assert "nextPageToken" in page


@pytest.mark.parametrize(
    "params",
    [
        {"pageToken": "not-a-token"},
        {"pageSize": "-1"},
        {"pageSize": "ten"},
        {"filter": "metadata.priority=100"},
        {"filter": "done=maybe"},
        {"filter": 'metadata.state="SLEEPING"'},
        {"filter": "done=true OR done=false"},
    ],
)
def test_bad_list_parameters_are_400(
    emu: Emulator, http: requests.Session, params: dict[str, str]
) -> None:
    emu.add_operation("demo")
    response = http.get(f"{emu.url}/v1/projects/demo/operations", params=params)
    envelope(response, 400, "INVALID_ARGUMENT")


def test_page_token_is_bound_to_its_filter(emu: Emulator, http: requests.Session) -> None:
    for _ in range(4):
        emu.add_operation("demo")
    base = f"{emu.url}/v1/projects/demo/operations"
    token = http.get(base, params={"pageSize": "2"}).json()["nextPageToken"]
    response = http.get(base, params={"pageSize": "2", "pageToken": token, "filter": "done=false"})
    envelope(response, 400, "INVALID_ARGUMENT")


def test_list_filters(emu: Emulator, http: requests.Session) -> None:
    running = emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE")
    done = emu.add_operation("demo", state="SUCCEEDED", type="EXPORT_IMAGE")
    other = emu.add_operation("demo", state="RUNNING", type="INGEST_IMAGE")
    base = f"{emu.url}/v1/projects/demo/operations"

    def names(text: str) -> list[str]:
        page = http.get(base, params={"filter": text}).json()
        return [op["name"] for op in page.get("operations", [])]

    assert names("done=true") == [done]
    assert names("done=false") == [other, running]
    assert names('metadata.state="RUNNING"') == [other, running]
    assert names('metadata.type="EXPORT_IMAGE" AND done=false') == [running]
    assert names('metadata.state="FAILED"') == []


def test_listing_ten_thousand_operations_pages_quickly(
    emu: Emulator, http: requests.Session
) -> None:
    for i in range(10_000):
        emu.add_operation("big", state="RUNNING" if i % 2 else "SUCCEEDED")
    count, token = 0, ""
    while True:
        params = {"pageSize": "1000", "filter": "done=false"}
        if token:
            params["pageToken"] = token
        page = http.get(f"{emu.url}/v1/projects/big/operations", params=params).json()
        count += len(page["operations"])
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert count == 5_000


# -- the clock moves operations --------------------------------------------------------------


def test_operations_progress_only_when_the_clock_advances(emu: Emulator) -> None:
    name = emu.add_operation("demo", start_after=5, duration=30)
    assert emu.operation(name)["metadata"]["state"] == "PENDING"  # type: ignore[index]
    emu.advance(5)
    op = emu.operation(name)
    assert op is not None and op["metadata"]["state"] == "RUNNING"
    emu.advance(15)
    op = emu.operation(name)
    assert op is not None and op["metadata"]["progress"] == pytest.approx(0.5)
    emu.advance(15)
    op = emu.operation(name)
    assert op is not None
    assert op["done"] is True
    assert op["metadata"]["state"] == "SUCCEEDED"
    assert op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert "endTime" in op["metadata"] and "error" not in op


def test_failure_and_terminal_initial_states(emu: Emulator) -> None:
    failing = emu.add_operation("demo", state="RUNNING", duration=10, fail_at_end=True)
    emu.advance(10)
    op = emu.operation(failing)
    assert op is not None and op["metadata"]["state"] == "FAILED"
    assert op["done"] is True and op["error"]["code"] != 0 and "response" not in op

    failed = emu.operation(emu.add_operation("demo", state="FAILED"))
    assert failed is not None and failed["done"] and failed["error"]["message"]
    cancelled = emu.operation(emu.add_operation("demo", state="CANCELLED"))
    assert cancelled is not None and cancelled["error"] == {"code": 1, "message": "Cancelled."}


def test_extra_and_omitted_metadata(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation(
        "demo",
        extra_metadata={"futureField": {"x": 1}, "notifications": [{"severity": "WARNING"}]},
        omit=("priority", "createTime"),
    )
    meta = http.get(url(emu, name)).json()["metadata"]
    assert meta["futureField"] == {"x": 1}
    assert meta["notifications"] == [{"severity": "WARNING"}]
    assert "priority" not in meta and "createTime" not in meta


def timestamp_fractions(emu: Emulator) -> tuple[set[int], list[dict[str, Any]]]:
    with authed(emu) as session:
        page = session.get(f"{emu.url}/v1/projects/demo/operations").json()
    fractions: set[int] = set()
    for op in page["operations"]:
        for key in ("createTime", "updateTime", "startTime", "endTime"):
            if key in op["metadata"]:
                stamp = op["metadata"][key]
                assert TIMESTAMP.match(stamp), stamp
                fractions.add(fraction_digits(stamp))
    return fractions, page["operations"]


def test_timestamps_use_the_precisions_the_service_writes() -> None:
    with Emulator(seed_operations=8, realtime=True) as emu:
        fractions, operations = timestamp_fractions(emu)
    # earthengine-api parses these with %f, which takes at most 6 digits.
    assert fractions == {0, 3, 6}
    assert {op["metadata"]["state"] for op in operations} >= {
        "SUCCEEDED",
        "RUNNING",
        "PENDING",
        "FAILED",
        "CANCELLED",
    }


def test_hostile_timestamps_add_nanoseconds() -> None:
    with Emulator(seed_operations=8, realtime=True, hostile_timestamps=True) as emu:
        fractions, _ = timestamp_fractions(emu)
    assert fractions == {0, 3, 6, 9}


# -- cancel, delete, wait --------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_cancel_is_asynchronous(emu: Emulator, http: requests.Session, version: str) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=600)
    response = http.post(url(emu, name, version, ":cancel"))
    assert response.status_code == 200 and response.json() == {}
    # The reference: cancel *starts* asynchronous cancellation.
    op = http.get(url(emu, name, version)).json()
    assert op["metadata"]["state"] == "CANCELLING" and "done" not in op
    # Cancelling a CANCELLING operation answers {} again and changes nothing.
    again = http.post(url(emu, name, version, ":cancel"), json={})
    assert again.status_code == 200 and again.json() == {}
    emu.advance(2)  # the default cancel_delay
    op = http.get(url(emu, name, version)).json()
    assert op["done"] is True and op["metadata"]["state"] == "CANCELLED"
    assert op["error"] == {"code": 1, "message": "Cancelled."}

    late = http.post(url(emu, name, version, ":cancel"), json={})
    assert "already done" in envelope(late, 400, "FAILED_PRECONDITION")["message"]
    assert (emu.cancel_effects(name), emu.cancel_executions(name)) == (1, 3)
    stats = emu.stats
    assert (stats["cancels_applied"], stats["cancels_repeated"], stats["cancels_refused"]) == (
        1,
        1,
        1,
    )


def test_cancel_is_best_effort_an_operation_may_still_finish(
    emu: Emulator, http: requests.Session
) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=1)
    assert http.post(url(emu, name, suffix=":cancel")).status_code == 200
    emu.advance(5)
    op = http.get(url(emu, name)).json()
    assert op["metadata"]["state"] == "SUCCEEDED" and "error" not in op


def test_cancel_delay_zero_is_instant() -> None:
    with Emulator(cancel_delay=0) as emu, authed(emu) as session:
        name = emu.add_operation("demo", state="RUNNING")
        assert session.post(url(emu, name, suffix=":cancel")).status_code == 200
        op = session.get(url(emu, name)).json()
        assert op["metadata"]["state"] == "CANCELLED" and op["done"] is True


def test_cancel_accepts_empty_object_and_rejects_other_bodies(
    emu: Emulator, http: requests.Session
) -> None:
    name = emu.add_operation("demo")
    for body in (b"[1]", b"nope", b'{"force": true}'):
        response = http.post(url(emu, name, suffix=":cancel"), data=body)
        envelope(response, 400, "INVALID_ARGUMENT")
    assert emu.cancel_effects(name) == 0
    assert http.post(url(emu, name, suffix=":cancel"), data=b"{}").json() == {}


def test_cancel_delay_passes_through_cancelling() -> None:
    with Emulator(cancel_delay=10) as emu, authed(emu) as session:
        name = emu.add_operation("demo", state="RUNNING", duration=100)
        assert session.post(url(emu, name, suffix=":cancel")).status_code == 200
        op = emu.operation(name)
        assert op is not None and op["metadata"]["state"] == "CANCELLING" and "done" not in op
        emu.advance(10)
        op = emu.operation(name)
        assert op is not None and op["metadata"]["state"] == "CANCELLED" and op["done"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_delete_then_get_is_404(emu: Emulator, http: requests.Session, version: str) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    response = http.delete(url(emu, name, version))
    assert response.status_code == 200 and response.json() == {}
    envelope(http.get(url(emu, name, version)), 404, "NOT_FOUND")
    envelope(http.delete(url(emu, name, version)), 404, "NOT_FOUND")
    assert emu.operation(name) is None
    assert http.get(f"{emu.url}/{version}/projects/demo/operations").content == b"{}"
    # Side effects as the server sees them: applied once, the second delete answered 404.
    assert (emu.delete_effects(name), emu.delete_executions(name)) == (1, 2)
    assert (emu.stats["deletes_applied"], emu.stats["deletes_not_found"]) == (1, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_returns_current_state_at_once(
    emu: Emulator, http: requests.Session, version: str
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    response = http.post(url(emu, name, version, ":wait"), json={"timeout": "30s"})
    assert response.status_code == 200
    assert response.json()["name"] == name and "done" not in response.json()
    assert http.post(url(emu, name, version, ":wait")).status_code == 200


@pytest.mark.parametrize("body", [{"timeout": "soon"}, {"timeout": 3}, {"deadline": "1s"}])
def test_wait_rejects_bad_bodies(emu: Emulator, http: requests.Session, body: Any) -> None:
    name = emu.add_operation("demo")
    envelope(http.post(url(emu, name, suffix=":wait"), json=body), 400, "INVALID_ARGUMENT")


def test_wait_blocks_in_realtime_until_done() -> None:
    with Emulator(realtime=True) as emu, authed(emu) as session:
        quick = emu.add_operation("demo", state="RUNNING", duration=0.3)
        slow = emu.add_operation("demo", state="RUNNING", duration=600)
        op = session.post(url(emu, quick, suffix=":wait"), json={"timeout": "10s"}).json()
        assert op["done"] is True and op["metadata"]["state"] == "SUCCEEDED"
        op = session.post(url(emu, slow, suffix=":wait"), json={"timeout": "0.2s"}).json()
        assert "done" not in op


# -- auth --------------------------------------------------------------------------------------


def test_missing_or_unknown_token_is_401(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    for headers in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic eA=="}):
        response = requests.get(url(emu, name), headers=headers)
        error = envelope(response, 401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "made-up" not in response.text
        assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert emu.stats["unauthenticated"] == 3


def test_expired_tokens_are_401(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    assert http.get(url(emu, name)).status_code == 200
    emu.expire_tokens()
    envelope(http.get(url(emu, name)), 401, "UNAUTHENTICATED")

    with authed(emu) as fresh:
        assert fresh.get(url(emu, name)).status_code == 200
        emu.advance(3600)
        error = envelope(fresh.get(url(emu, name)), 401, "UNAUTHENTICATED")
        assert error["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_token_without_earth_engine_scope_is_403(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    with authed(emu, "https://www.googleapis.com/auth/drive") as session:
        response = session.get(url(emu, name))
    error = envelope(response, 403, "PERMISSION_DENIED")
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert EE_SCOPE in error["message"] and CLOUD_SCOPE in error["message"]
    with authed(emu, CLOUD_SCOPE) as session:
        assert session.get(url(emu, name)).status_code == 200
    assert emu.stats["permission_denied"] == 1


def test_auth_can_be_turned_off() -> None:
    with Emulator(require_auth=False) as emu:
        name = emu.add_operation("demo")
        assert requests.get(url(emu, name)).status_code == 200


def refresh(creds: Any) -> None:
    """google-auth's own refresh, over a real requests transport."""
    creds.refresh(google.auth.transport.requests.Request())


def call_with(emu: Emulator, creds: Any, name: str) -> requests.Response:
    return requests.get(url(emu, name), headers={"Authorization": f"Bearer {creds.token}"})


def test_google_auth_refresh_token_flow(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    creds = emu.credentials()
    assert creds.token is None and creds.token_uri == emu.url + "/token"
    refresh(creds)
    assert creds.valid
    assert call_with(emu, creds, name).status_code == 200

    token_calls = [r for r in emu.requests if r.path == "/token"]
    assert len(token_calls) == 1
    assert b"grant_type=refresh_token" in token_calls[0].body
    assert emu.stats["tokens_issued"] == 1

    emu.expire_tokens()
    assert call_with(emu, creds, name).status_code == 401
    refresh(creds)
    assert call_with(emu, creds, name).status_code == 200


def user_credentials(info: dict[str, str], scopes: list[str] | None = None) -> Credentials:
    # from_authorized_user_info always points token_uri at Google, so build them by hand.
    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=info["refresh_token"],
        token_uri=info["token_uri"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=scopes,
    )


def test_google_auth_user_credentials_from_info(emu: Emulator) -> None:
    creds = user_credentials(emu.authorized_user_info(), scopes=[EE_SCOPE])
    refresh(creds)
    assert call_with(emu, creds, emu.add_operation("demo")).status_code == 200
    assert emu.requests[0].body.count(b"scope=") == 1


def test_refresh_cannot_widen_granted_scopes(emu: Emulator) -> None:
    info = emu.authorized_user_info(granted_scopes=[EE_SCOPE])
    creds = user_credentials(info, scopes=[EE_SCOPE, "https://www.googleapis.com/auth/drive"])
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_scope"):
        refresh(creds)


def test_google_auth_service_account_flow(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    info = emu.service_account_info()
    assert info["token_uri"] == emu.url + "/token"
    creds = service_account.Credentials.from_service_account_info(info, scopes=[EE_SCOPE])  # type: ignore[no-untyped-call]
    refresh(creds)
    assert creds.valid
    assert call_with(emu, creds, name).status_code == 200
    token_call = next(r for r in emu.requests if r.path == "/token")
    assert b"grant-type%3Ajwt-bearer" in token_call.body


def test_bad_grants_are_refused(emu: Emulator) -> None:
    bad_user = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="1//unknown",
        token_uri=emu.url + "/token",
        client_id=emu.authorized_user_info()["client_id"],
        client_secret=emu.authorized_user_info()["client_secret"],
    )
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        refresh(bad_user)

    info = emu.service_account_info()
    unscoped = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_scope"):
        refresh(unscoped)

    forged = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    response = requests.post(
        emu.url + "/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": forged},
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    response = requests.post(emu.url + "/token", data={"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
    assert emu.stats["tokens_issued"] == 0 and emu.stats["token_errors"] == 4


# -- idempotency and quota project -----------------------------------------------------------


def test_idempotency_keys_are_ignored_by_default(emu: Emulator, http: requests.Session) -> None:
    # Earth Engine documents no Idempotency-Key: a retry is a new call, as on the service.
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(kind="drop_after", path_contains=":cancel"))
    keyed = {"Idempotency-Key": "k-drop"}
    with pytest.raises(requests.ConnectionError):
        http.post(url(emu, name, suffix=":cancel"), headers=keyed)
    retry = http.post(url(emu, name, suffix=":cancel"), headers=keyed)
    assert retry.status_code == 200 and retry.json() == {}  # still CANCELLING: {} again
    assert (emu.cancel_effects(name), emu.cancel_executions(name)) == (1, 2)
    emu.advance(2)
    late = http.post(url(emu, name, suffix=":cancel"), headers=keyed)
    envelope(late, 400, "FAILED_PRECONDITION")

    gone = emu.add_operation("demo")
    deleting = {"Idempotency-Key": "d-1"}
    assert http.delete(url(emu, gone), headers=deleting).json() == {}
    envelope(http.delete(url(emu, gone), headers=deleting), 404, "NOT_FOUND")
    assert (emu.delete_effects(gone), emu.delete_executions(gone)) == (1, 2)
    assert emu.stats["idempotent_replays"] == 0
    assert emu.requests[-1].headers["idempotency-key"] == "d-1"  # recorded all the same


@pytest.fixture
def proxy() -> Iterator[Emulator]:
    """An emulator modelling a deduping proxy in front of Earth Engine."""
    with Emulator(honour_idempotency_keys=True) as running:
        yield running


def test_honoured_idempotency_key_replays_without_a_second_effect(proxy: Emulator) -> None:
    emu = proxy
    name = emu.add_operation("demo", state="RUNNING")
    keyed = {"Idempotency-Key": "cancel-1"}
    with authed(emu) as http:
        first = http.post(url(emu, name, suffix=":cancel"), headers=keyed)
        emu.advance(2)
        second = http.post(url(emu, name, suffix=":cancel"), headers=keyed)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content == b"{}"
        assert (emu.cancel_effects(name), emu.cancel_executions(name)) == (1, 1)
        assert emu.stats["idempotent_replays"] == 1
        # Without the key the retry is a new call, and the operation is already done.
        envelope(http.post(url(emu, name, suffix=":cancel")), 400, "FAILED_PRECONDITION")

        other = emu.add_operation("demo")
        reused = http.post(url(emu, other, suffix=":cancel"), headers=keyed)
        envelope(reused, 400, "INVALID_ARGUMENT")
        assert emu.cancel_effects(other) == 0


def test_honoured_idempotent_delete_replays_success(proxy: Emulator) -> None:
    emu = proxy
    name = emu.add_operation("demo")
    keyed = {"Idempotency-Key": "delete-1"}
    with authed(emu) as http:
        assert http.delete(url(emu, name), headers=keyed).json() == {}
        assert http.delete(url(emu, name), headers=keyed).json() == {}
    assert emu.stats["deletes_applied"] == 1 and emu.stats["idempotent_replays"] == 1
    assert emu.delete_executions(name) == 1


def test_dropped_reply_then_keyed_retry_has_one_effect_behind_a_proxy(proxy: Emulator) -> None:
    emu = proxy
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(kind="drop_after", path_contains=":cancel"))
    keyed = {"Idempotency-Key": "k-drop"}
    with authed(emu) as http:
        with pytest.raises(requests.ConnectionError):
            http.post(url(emu, name, suffix=":cancel"), headers=keyed)
        assert emu.cancel_effects(name) == 1
        retry = http.post(url(emu, name, suffix=":cancel"), headers=keyed)
    assert retry.status_code == 200 and retry.json() == {}
    assert emu.cancel_executions(name) == 1
    assert emu.stats["idempotent_replays"] == 1


def test_user_project_header_is_recorded_and_counted(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    for _ in range(2):
        http.get(url(emu, name), headers={"X-Goog-User-Project": "billing-1"})
    assert emu.stats["user_projects"] == {"billing-1": 2}
    assert emu.requests[-1].headers["x-goog-user-project"] == "billing-1"


# -- faults ------------------------------------------------------------------------------------


def test_status_fault_with_retry_hints(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(status=429, times=2, retry_after="7", retry_delay=2.5))
    for _ in range(2):
        response = http.get(url(emu, name))
        error = envelope(response, 429, "RESOURCE_EXHAUSTED")
        assert response.headers["Retry-After"] == "7"
        retry = [d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
        assert retry == [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}
        ]
    assert http.get(url(emu, name)).status_code == 200
    assert emu.stats["faults_injected"] == {"status": 2}


def test_faults_match_method_and_path_and_spare_token_and_discovery(
    emu: Emulator, http: requests.Session
) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(status=503, times=None, method="POST", path_contains=":wait"))
    assert http.get(url(emu, name)).status_code == 200
    envelope(http.post(url(emu, name, suffix=":wait")), 503, "UNAVAILABLE")
    envelope(http.post(url(emu, name, suffix=":wait")), 503, "UNAVAILABLE")
    emu.clear_faults()
    emu.add_fault(Fault(status=500, times=None))
    assert requests.get(emu.url + "/$discovery/rest?version=v1").status_code == 200
    assert requests.post(emu.url + "/token", data={"grant_type": "x"}).status_code == 400
    envelope(http.get(url(emu, name)), 500, "INTERNAL")
    emu.clear_faults()
    assert http.get(url(emu, name)).status_code == 200


def test_drop_before_skips_the_side_effect(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(kind="drop_before"))
    with authed(emu) as session, pytest.raises(requests.ConnectionError):
        session.post(url(emu, name, suffix=":cancel"))
    assert emu.cancel_effects(name) == 0
    assert emu.stats["dropped_connections"] == 1


def test_delay_fault(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="delay", delay=0.3))
    assert http.get(url(emu, name)).status_code == 200
    with pytest.raises(requests.Timeout):
        emu.add_fault(Fault(kind="delay", delay=2.0))
        http.get(url(emu, name), timeout=0.2)


def test_html_fault(emu: Emulator, http: requests.Session) -> None:
    emu.add_fault(Fault(kind="html", status=502, retry_after="3"))
    response = http.get(url(emu, emu.add_operation("demo")))
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Retry-After"] == "3"
    assert "<html" in response.text


def test_trickle_fault_still_delivers_the_body(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="trickle", delay=0.001))
    response = http.get(url(emu, name))
    assert response.status_code == 200 and response.json()["name"] == name


def test_truncate_fault_breaks_the_body(emu: Emulator) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="truncate"))
    with authed(emu) as session, pytest.raises(requests.RequestException):
        session.get(url(emu, name))


def test_huge_fault_is_valid_json_of_the_given_size(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    emu.add_fault(Fault(kind="huge", size=3_000_000))
    response = http.get(url(emu, name))
    assert response.status_code == 200
    assert len(response.content) == 3_000_000
    assert response.json()["name"] == name


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault(kind="explode")
    with pytest.raises(ValueError):
        Fault(times=0)


def test_chaos_is_deterministic_for_a_seed() -> None:
    mix = {"503": 1.0, "429_retry_after": 1.0, "drop_before": 1.0}

    def run(seed: int) -> list[str]:
        with Emulator(require_auth=False) as emu:
            name = emu.add_operation("demo")
            emu.set_chaos(0.5, seed=seed, mix=mix)
            results = []
            for _ in range(40):
                with requests.Session() as session:
                    results.append(outcome(session, url(emu, name)))
            assert emu.stats["chaos_faults"] == sum(r != "200" for r in results)
            return results

    first = run(7)
    assert first == run(7)
    assert {"200", "503", "429", "drop"} <= set(first)
    assert first != run(8)


# -- recording, discovery, server behaviour ----------------------------------------------------


def test_requests_are_recorded(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    http.post(url(emu, name, suffix=":wait") + "?alt=json", json={"timeout": "1s"})
    recorded = emu.requests[-1]
    assert isinstance(recorded, RecordedRequest)
    assert recorded.method == "POST"
    assert recorded.path == f"/v1/{name}:wait?alt=json"
    assert recorded.headers["CONTENT-TYPE"] == "application/json"
    assert recorded.headers["authorization"].startswith("Bearer ")
    assert json.loads(recorded.body) == {"timeout": "1s"}
    assert "Bearer" not in repr(recorded)
    emu.clear_requests()
    assert emu.requests == []
    with Emulator(record=False, require_auth=False) as quiet:
        requests.get(quiet.url + "/v1/projects/demo/operations")
        assert quiet.requests == [] and quiet.stats["requests"] == 1


@pytest.mark.parametrize(
    "path", ["/$discovery/rest?version=v1", "/discovery/v1/apis/earthengine/v1beta/rest"]
)
def test_discovery_document(emu: Emulator, path: str) -> None:
    doc = requests.get(emu.url + path).json()
    version = doc["version"]
    assert doc["rootUrl"] == emu.url + "/" and doc["servicePath"] == ""
    assert doc["name"] == "earthengine" and "batchPath" in doc and "parameters" in doc
    assert EE_SCOPE in doc["auth"]["oauth2"]["scopes"]
    methods = doc["resources"]["projects"]["resources"]["operations"]["methods"]
    assert set(methods) == {"get", "list", "cancel", "delete", "wait"}
    expected = {
        "get": ("GET", "{+name}"),
        "list": ("GET", "{+name}/operations"),
        "cancel": ("POST", "{+name}:cancel"),
        "delete": ("DELETE", "{+name}"),
        "wait": ("POST", "{+name}:wait"),
    }
    for verb, (http_method, path_template) in expected.items():
        method = methods[verb]
        assert method["httpMethod"] == http_method
        assert method["path"] == f"{version}/{path_template}"
        assert method["flatPath"].startswith(f"{version}/projects/{{projectsId}}/operations")
        assert method["parameters"]["name"]["required"] is True
        assert method["response"]["$ref"] in doc["schemas"]
        if "request" in method:
            assert method["request"]["$ref"] in doc["schemas"]
    assert {"filter", "pageSize", "pageToken"} <= set(methods["list"]["parameters"])
    envelope(requests.get(emu.url + "/$discovery/rest?version=v9"), 404, "NOT_FOUND")


def test_concurrent_clients(emu: Emulator) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(16)]
    token = emu.issue_token()
    failures: list[str] = []

    def client(name: str) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            for i in range(40):
                response = (
                    session.post(url(emu, name, suffix=":cancel"))
                    if i % 10 == 0
                    else session.get(
                        f"{emu.url}/v1/projects/demo/operations", params={"pageSize": "5"}
                    )
                    if i % 2
                    else session.get(url(emu, name))
                )
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")

    threads = [threading.Thread(target=client, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(emu.cancel_effects(name) == 1 for name in names)
    assert emu.stats["api_requests"] == 16 * 40
    assert (emu.stats["cancels_applied"], emu.stats["cancels_repeated"]) == (16, 16 * 3)


def test_keep_alive_and_prompt_stop() -> None:
    emu = Emulator(require_auth=False).start()
    session = requests.Session()
    for _ in range(5):
        assert session.get(emu.url + "/v1/projects/demo/operations").status_code == 200
    emu.stop()
    assert not emu.running
    with pytest.raises(RuntimeError):
        _ = emu.url
    emu.stop()


def test_lifecycle_errors() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        emu.credentials()
    with emu, pytest.raises(RuntimeError):
        emu.start()
    with pytest.raises(ValueError):
        emu.add_operation("bad/project")
    with pytest.raises(ValueError):
        emu.add_operation("demo", state="SLEEPING")


# -- python -m eemw.emulator -------------------------------------------------------------------


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the emulator printed nothing in time")
    return process.stdout.readline()


def test_module_runs_as_a_process(tmp_path: Path) -> None:
    root = Path(eemw.emulator.__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    creds_file = tmp_path / "user.json"
    command = [
        sys.executable,
        "-m",
        "eemw.emulator",
        "--port",
        "0",
        "--seed-operations",
        "3",
        "--credentials-file",
        str(creds_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = read_line(process, timeout=20)
        match = re.fullmatch(r"eemw emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        info = json.loads(creds_file.read_text())
        creds = user_credentials(info)
        refresh(creds)
        page = requests.get(
            f"{match.group(1)}/v1/projects/demo/operations",
            headers={"Authorization": f"Bearer {creds.token}"},
        ).json()
        assert len(page["operations"]) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_chunked_request_bodies_are_read(emu: Emulator, http: requests.Session) -> None:
    name = emu.add_operation("demo")
    chunks = iter([b'{"time', b'out": "1s"}'])
    response = http.post(url(emu, name, suffix=":wait"), data=chunks)
    assert response.status_code == 200 and response.json()["name"] == name
    assert emu.requests[-1].body == b'{"timeout": "1s"}'
