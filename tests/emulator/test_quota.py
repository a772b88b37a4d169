"""Per-project quotas on the emulator: a sliding one-second window and concurrent requests.

The window runs on an injected clock (real monotonic time by default), so these tests move
it by hand; concurrency is held open by a canned answer that blocks on an event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from eemw.emulator import EE_SCOPE, Emulator, Fault, RecordedRequest

COMPUTE = "earthengine.projects.value.compute"


class Ticks:
    """A hand-moved monotonic clock for the quota window."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def session_for(emu: Emulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emu.issue_token((EE_SCOPE,))}"
    return session


def get(session: requests.Session, emu: Emulator, name: str, **headers: str) -> requests.Response:
    return session.get(f"{emu.url}/v1/{name}", headers=headers, timeout=10)


def details_of(response: requests.Response) -> dict[str, dict[str, Any]]:
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    return {d["@type"].rsplit(".", 1)[1]: d for d in error["details"]}


@pytest.fixture
def limited(ticks: Ticks) -> Iterator[Emulator]:
    with Emulator(quota_qps=3, quota_clock=ticks) as emu:
        yield emu


def test_requests_over_the_rate_get_429_with_earth_engines_details(
    limited: Emulator, ticks: Ticks
) -> None:
    name = limited.add_operation("demo")
    with session_for(limited) as http:
        assert [get(http, limited, name).status_code for _ in range(4)] == [200, 200, 200, 429]
        details = details_of(get(http, limited, name))
    info = details["ErrorInfo"]
    assert (info["reason"], info["domain"]) == ("RATE_LIMIT_EXCEEDED", "googleapis.com")
    assert info["metadata"]["consumer"] == "projects/demo"
    assert info["metadata"]["quota_limit_value"] == "3"
    (violation,) = details["QuotaFailure"]["violations"]
    assert violation["subject"] == "projects/demo"
    assert "RetryInfo" not in details  # only when asked: the service need not send one
    stats = limited.stats
    assert (stats["quota_accepted"], stats["quota_rejected"]) == ({"demo": 3}, {"demo": 2})


def test_the_window_slides_on_real_time_not_the_emulator_clock(
    limited: Emulator, ticks: Ticks
) -> None:
    name = limited.add_operation("demo")
    with session_for(limited) as http:
        assert get(http, limited, name).status_code == 200
        ticks.now += 0.5
        assert [get(http, limited, name).status_code for _ in range(3)] == [200, 200, 429]
        limited.advance(600)  # the emulator clock does not refill the quota
        assert get(http, limited, name).status_code == 429
        ticks.now += 0.5  # the first request leaves the window, the other two stay
        assert [get(http, limited, name).status_code for _ in range(2)] == [200, 429]
        ticks.now += 1.0
        assert [get(http, limited, name).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_quota_project_is_the_header_else_the_url_project(
    limited: Emulator, ticks: Ticks
) -> None:
    mine = limited.add_operation("demo")
    theirs = limited.add_operation("other")
    with session_for(limited) as http:
        for _ in range(3):
            assert get(http, limited, mine).status_code == 200
        assert get(http, limited, mine).status_code == 429
        # Another project in the URL, or another billing project: a quota of its own.
        assert get(http, limited, theirs).status_code == 200
        billed = {"X-Goog-User-Project": "billing"}
        assert [get(http, limited, mine, **billed).status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
    assert limited.stats["quota_accepted"] == {"demo": 3, "other": 1, "billing": 3}


def test_retry_info_says_when_the_window_frees_a_slot(ticks: Ticks) -> None:
    with Emulator(quota_qps=2, quota_clock=ticks, quota_retry_info=True) as emu:
        name = emu.add_operation("demo")
        with session_for(emu) as http:
            get(http, emu, name)
            ticks.now += 0.25
            get(http, emu, name)
            details = details_of(get(http, emu, name))
    assert details["RetryInfo"]["retryDelay"] == "0.75s"


def test_many_threads_never_get_more_than_the_quota(ticks: Ticks) -> None:
    with Emulator(quota_qps=10, quota_clock=ticks) as emu:
        name = emu.add_operation("demo")
        token = emu.issue_token((EE_SCOPE,))
        codes: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            with requests.Session() as http:
                http.headers["Authorization"] = f"Bearer {token}"
                for _ in range(5):
                    code = get(http, emu, name).status_code
                    with lock:
                        codes.append(code)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(set(codes)) == [200, 429]
    assert codes.count(200) == 10 and codes.count(429) == 30


class Held:
    """A value:compute answer that stays in flight until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: RecordedRequest) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(10), "the test never released the held request"
        return {"result": 1}


def test_concurrent_requests_over_the_cap_get_429() -> None:
    with Emulator(quota_concurrent=1) as emu:
        held = Held()
        emu.set_answer(COMPUTE, held)
        name = emu.add_operation("demo")
        with session_for(emu) as http, session_for(emu) as other:
            answers: list[requests.Response] = []
            compute = threading.Thread(
                target=lambda: answers.append(
                    http.post(f"{emu.url}/v1/projects/demo/value:compute", json={}, timeout=10)
                )
            )
            compute.start()
            assert held.entered.wait(10)
            blocked = get(other, emu, name)
            details = details_of(blocked)
            assert details["ErrorInfo"]["metadata"]["quota_limit"] == "ConcurrentRequestsPerProject"
            held.release.set()
            compute.join()
            assert answers[0].json() == {"result": 1}
            assert get(other, emu, name).status_code == 200  # the slot is free again


def test_a_front_end_fault_costs_no_quota(ticks: Ticks) -> None:
    with Emulator(quota_qps=1, quota_clock=ticks) as emu:
        name = emu.add_operation("demo")
        emu.add_fault(Fault(status=503))
        with session_for(emu) as http:
            assert get(http, emu, name).status_code == 503
            assert get(http, emu, name).status_code == 200


def test_quota_settings_are_checked() -> None:
    for bad in ({"quota_qps": 0.5}, {"quota_qps": float("nan")}, {"quota_concurrent": 0}):
        with pytest.raises(ValueError, match="quota"):
            Emulator(**bad)  # type: ignore[arg-type]
