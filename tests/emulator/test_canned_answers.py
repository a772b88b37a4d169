"""Earth Engine methods beyond operations: discovery, defaults, set answers, exports, faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from eemw.emulator import EE_SCOPE, Emulator, Fault, RecordedRequest

VERSIONS = ("v1", "v1beta", "v1alpha")
COMPUTE = "earthengine.projects.value.compute"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def http(emu: Emulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {emu.issue_token((EE_SCOPE,))}"
        yield session


def post(http: requests.Session, emu: Emulator, path: str, body: Any = None) -> requests.Response:
    return http.post(f"{emu.url}/{path}", json={} if body is None else body, timeout=10)


def envelope(response: requests.Response, status: int, rpc: str) -> str:
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, rpc)
    return str(error["message"])


@pytest.mark.parametrize("version", VERSIONS)
def test_discovery_describes_ee_methods_with_earth_engines_ids_and_paths(
    emu: Emulator, version: str
) -> None:
    doc = requests.get(f"{emu.url}/$discovery/rest", params={"version": version}).json()
    projects = doc["resources"]["projects"]
    compute = projects["resources"]["value"]["methods"]["compute"]
    assert (compute["id"], compute["httpMethod"], compute["path"]) == (
        COMPUTE,
        "POST",
        f"{version}/{{+project}}/value:compute",
    )
    tiles = projects["resources"]["maps"]["resources"]["tiles"]["methods"]["get"]
    assert tiles["parameterOrder"] == ["parent", "zoom", "x", "y"]
    assert projects["methods"]["listAssets"]["id"] == "earthengine.projects.listAssets"
    assert "cancel" in projects["resources"]["operations"]["methods"]


def test_algorithms_are_listed_in_earth_engines_format(
    emu: Emulator, http: requests.Session
) -> None:
    algorithms = http.get(f"{emu.url}/v1/projects/demo/algorithms").json()["algorithms"]
    names = {a["name"] for a in algorithms}
    assert {"algorithms/Number.add", "algorithms/Image.constant"} <= names
    for algorithm in algorithms:
        assert algorithm["returnType"] and algorithm["description"]
        assert all({"argumentName", "type"} <= set(arg) for arg in algorithm["arguments"])


def test_value_compute_answers_null_until_set(emu: Emulator, http: requests.Session) -> None:
    path = "v1/projects/demo/value:compute"
    assert post(http, emu, path).json() == {"result": None}
    emu.set_answer(COMPUTE, {"result": 42})
    assert post(http, emu, path).json() == {"result": 42}
    emu.set_answer(COMPUTE, None)
    assert post(http, emu, path).json() == {"result": None}
    assert emu.stats["canned_answers"] == 1
    assert emu.stats["methods"] == {COMPUTE: 3}


def test_a_callable_answer_sees_the_request_and_may_choose_the_status(
    emu: Emulator, http: requests.Session
) -> None:
    seen: list[RecordedRequest] = []

    def answer(request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        seen.append(request)
        expression = json.loads(request.body)["expression"]
        if expression == "bad":
            return 400, {"error": {"code": 400, "message": "Bad.", "status": "INVALID_ARGUMENT"}}
        return 200, {"result": expression * 2}

    emu.set_answer(COMPUTE, answer)
    path = "v1beta/projects/demo/value:compute"
    assert post(http, emu, path, {"expression": "ab"}).json() == {"result": "abab"}
    envelope(post(http, emu, path, {"expression": "bad"}), 400, "INVALID_ARGUMENT")
    assert seen[0].path == "/" + path and seen[0].headers["authorization"].startswith("Bearer")


def test_bytes_answers_are_sent_as_they_are(emu: Emulator, http: requests.Session) -> None:
    emu.set_answer("earthengine.projects.image.computePixels", b"\x89PNG\r\n")
    response = post(http, emu, "v1/projects/demo/image:computePixels")
    assert response.content == b"\x89PNG\r\n"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_methods_without_an_answer_and_unknown_paths_are_404(
    emu: Emulator, http: requests.Session
) -> None:
    asset = http.get(f"{emu.url}/v1/projects/demo/assets/folder/image")
    assert "earthengine.projects.assets.get" in envelope(asset, 404, "NOT_FOUND")
    envelope(post(http, emu, "v1/projects/demo/nothing:here"), 404, "NOT_FOUND")
    envelope(http.get(f"{emu.url}/v1/projects/demo/value:compute"), 404, "NOT_FOUND")
    emu.set_answer("earthengine.projects.assets.get", {"type": "IMAGE", "name": "x"})
    assert http.get(f"{emu.url}/v1/projects/demo/assets/folder/image").json()["type"] == "IMAGE"
    listed = {"features": []}
    emu.set_answer("earthengine.projects.assets.listFeatures", listed)
    features = http.get(f"{emu.url}/v1/projects/demo/assets/folder/table:listFeatures")
    assert features.json() == listed  # not mistaken for assets.get


def test_set_answer_refuses_unknown_and_emulated_methods(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown Earth Engine method"):
        emu.set_answer("earthengine.projects.value.comptue", {})
    with pytest.raises(ValueError, match="operations calls are emulated"):
        emu.set_answer("earthengine.projects.operations.get", {})


def test_canned_methods_need_a_token_like_any_call(emu: Emulator) -> None:
    response = requests.post(f"{emu.url}/v1/projects/demo/value:compute", json={})
    envelope(response, 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("resource", "op_type"),
    [
        ("image:export", "EXPORT_IMAGE"),
        ("table:export", "EXPORT_FEATURES"),
        ("video:export", "EXPORT_VIDEO"),
        ("map:export", "EXPORT_TILES"),
        ("classifier:export", "EXPORT_CLASSIFIER"),
        ("image:import", "INGEST_IMAGE"),
        ("table:import", "INGEST_TABLE"),
    ],
)
def test_an_export_creates_an_operation_of_its_type(
    emu: Emulator, http: requests.Session, resource: str, op_type: str
) -> None:
    created = post(http, emu, f"v1alpha/projects/demo/{resource}", {"description": "mine"})
    op = created.json()
    assert op["name"].startswith("projects/demo/operations/")
    meta = op["metadata"]
    assert (meta["type"], meta["state"], meta["description"]) == (op_type, "PENDING", "mine")
    assert meta["@type"].endswith("v1alpha.OperationMetadata")
    assert emu.operation_names("demo") == [op["name"]]


def test_a_request_id_makes_an_export_happen_once(emu: Emulator, http: requests.Session) -> None:
    body = {"description": "once", "requestId": "req-1"}
    first = post(http, emu, "v1/projects/demo/image:export", body).json()
    again = post(http, emu, "v1/projects/demo/image:export", body).json()
    elsewhere = post(http, emu, "v1/projects/other/image:export", body).json()
    unkeyed = [post(http, emu, "v1/projects/demo/image:export").json() for _ in range(2)]
    assert again["name"] == first["name"] != elsewhere["name"]
    assert unkeyed[0]["name"] != unkeyed[1]["name"]  # no requestId: every call is a new task
    assert (emu.stats["exports_started"], emu.stats["exports_deduplicated"]) == (4, 1)


def test_faults_strike_canned_methods_and_a_lost_export_answer_is_safe_with_a_request_id(
    emu: Emulator, http: requests.Session
) -> None:
    emu.add_fault(Fault(kind="drop_after", path_contains="image:export"))
    body = {"requestId": "lost-1"}
    with pytest.raises(requests.ConnectionError):
        post(http, emu, "v1/projects/demo/image:export", body)
    (created,) = emu.operation_names("demo")  # the export started before the answer was lost
    retried = post(http, emu, "v1/projects/demo/image:export", body).json()
    assert retried["name"] == created
    emu.add_fault(Fault(status=503, path_contains="value:compute"))
    envelope(post(http, emu, "v1/projects/demo/value:compute"), 503, "UNAVAILABLE")
    assert emu.stats["faults_injected"] == {"drop_after": 1, "status": 1}
