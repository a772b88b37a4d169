"""Unit tests of where a sweep stops, against a fake list server in a MockTransport.

The fake serves a project's operations in the order a test asks for (the service lists
newest first), honours pageSize, and can hide operations from its pages, so the early
stop can be checked page by page.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.testing import FakeClock, MockTransport, respond

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeService:
    """``count`` operations created one second apart; the newest ``running`` not done."""

    def __init__(self, count: int, running: int, *, newest_first: bool = True) -> None:
        self.ops = [self._op(i, done=i < count - running) for i in range(count)]
        self.newest_first = newest_first
        self.hidden: set[str] = set()
        self.pages = 0
        self.gets: list[str] = []

    @staticmethod
    def _op(i: int, *, done: bool) -> dict[str, object]:
        created = (EPOCH + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        op: dict[str, object] = {
            "name": f"projects/demo/operations/op{i}",
            "metadata": {"state": "SUCCEEDED" if done else "RUNNING", "createTime": created},
        }
        if done:
            op["done"] = True
        return op

    def finish(self, index: int) -> None:
        op = self.ops[index]
        op["done"] = True
        op["metadata"] = {**op["metadata"], "state": "SUCCEEDED"}  # type: ignore[dict-item]

    def __call__(self, request: eemw.Request) -> eemw.Response:
        url = urlsplit(request.url)
        if not url.path.endswith("/operations"):
            self.gets.append(url.path.rsplit("/", 1)[1])
            op = next(o for o in self.ops if str(o["name"]).endswith("/" + self.gets[-1]))
            return respond(request, json=op)
        self.pages += 1
        query = parse_qs(url.query)
        size = int(query["pageSize"][0])
        start = int(query.get("pageToken", ["0"])[0])
        shown = [o for o in self.ops if o["name"] not in self.hidden]
        if self.newest_first:
            shown.reverse()
        page: dict[str, object] = {"operations": shown[start:start + size]}
        if start + size < len(shown):
            page["nextPageToken"] = str(start + size)
        return respond(request, body=json.dumps(page).encode(),
                       headers={"Content-Type": "application/json"})


def client_for(service: FakeService) -> eemw.Client:
    clock = FakeClock()
    return eemw.Client("demo", transport=MockTransport(service),
                       credentials=AnonymousCredentials(), clock=clock, sleep=clock.sleep)


def test_a_project_watch_reads_everything_once_then_only_down_to_the_oldest_running() -> None:
    service = FakeService(5000, running=100)
    with client_for(service) as client:
        watch = client.operations.watch(poll_interval=10)
        first = [next(watch) for _ in range(5000)]  # the first sighting of every operation
        assert {c.before for c in first} == {None}
        assert service.pages == 5  # 1,000 a page: the whole project once
        service.finish(4950)
        change = next(watch)
        assert change.name == "projects/demo/operations/op4950"
        assert change.before is not None and change.before.state is eemw.State.RUNNING
        assert change.after.state is eemw.State.SUCCEEDED
        # The second sweep stopped at the first page: op4899 is older than every
        # operation still running.
        assert service.pages == 6
        watch.close()


def test_without_newest_first_order_every_sweep_reads_every_page() -> None:
    service = FakeService(3000, running=100, newest_first=False)
    with client_for(service) as client:
        watch = client.operations.watch(poll_interval=10)
        for _ in range(3000):
            next(watch)
        service.finish(2950)
        change = next(watch)
        assert change.after.state is eemw.State.SUCCEEDED
        assert service.pages == 6  # 3 pages a sweep: nothing skipped on an unknown order
        watch.close()


def test_an_operation_missing_from_the_pages_costs_pages_down_to_it_and_one_get() -> None:
    service = FakeService(5000, running=5000)
    newest = [f"projects/demo/operations/op{i}" for i in range(4990, 5000)]
    older = "projects/demo/operations/op2500"
    watched = [*newest, older]
    with client_for(service) as client:
        watch = client.operations.watch(watched, poll_interval=10)
        assert {next(watch).name for _ in watched} == set(watched)
        assert service.pages == 3  # stopped once all were seen: op2500 is on page 3
        service.hidden.add(older)
        for index in (2500, *range(4990, 5000)):
            service.finish(index)
        changes = {c.name: c for c in (next(watch) for _ in watched)}
        assert set(changes) == set(watched)
        assert all(c.after.done for c in changes.values())
        # Round two read down to op2499 (page 3) and stopped; the hidden one took a get.
        assert service.pages == 6
        assert service.gets == ["op2500"]
        assert list(watch) == []  # all done: the watch ends by itself


def test_a_few_operations_are_cheaper_to_get_than_the_pages_they_would_take() -> None:
    service = FakeService(5000, running=5000)
    watched = ["projects/demo/operations/op4999", "projects/demo/operations/op10"]
    with client_for(service) as client:
        watch = client.operations.watch(watched, poll_interval=10)
        assert {next(watch).name for _ in watched} == set(watched)
        assert service.pages == 5  # op10 is on the last page
        service.finish(4999)
        service.finish(10)
        assert {next(watch).name for _ in watched} == set(watched)
        assert service.pages == 5  # two gets instead of five pages
        assert sorted(service.gets) == ["op10", "op4999"]
