"""What the emulator saw: recorded requests (for wire assertions) and counters."""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict

_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Headers(Mapping[str, str]):
    """Read-only headers looked up case-insensitively; repeated names are joined with ", "."""

    __slots__ = ("_folded", "_items")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = tuple(items)
        folded: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            folded[key] = f"{folded[key]}, {value}" if key in folded else value
        self._folded = folded

    def __getitem__(self, name: str) -> str:
        return self._folded[name.lower()]

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._items:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len(self._folded)

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        shown = {n: "<redacted>" if n.lower() in _SECRET_HEADERS else v for n, v in self._items}
        return f"Headers({shown!r})"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; `path` keeps the query string."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        # Bodies of /token requests hold secrets and headers hold tokens: never print them.
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"headers={self.headers!r}, body=<{len(self.body)} bytes>)"
        )


class Recorder:
    def __init__(self, enabled: bool, limit: int) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._seen: deque[RecordedRequest] = deque(maxlen=limit)

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._seen.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._seen)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


class EmulatorStats(TypedDict):
    """Counters since start (or `reset_stats`). Cancels: `cancels_applied` took effect,
    `cancels_repeated` found the operation already CANCELLING (200 {}), `cancels_refused` found
    it done (400 FAILED_PRECONDITION). Deletes: `deletes_applied` removed an operation,
    `deletes_not_found` answered 404. `methods` counts API requests by discovery method id;
    `quota_accepted` / `quota_rejected` count by quota project while quotas are enforced."""

    requests: int
    api_requests: int
    token_requests: int
    discovery_requests: int
    responses: dict[str, int]
    faults_injected: dict[str, int]
    faults_total: int
    chaos_faults: int
    dropped_connections: int
    idempotent_replays: int
    idempotency_conflicts: int
    tokens_issued: int
    token_errors: int
    unauthenticated: int
    permission_denied: int
    cancels_applied: int
    cancels_repeated: int
    cancels_refused: int
    deletes_applied: int
    deletes_not_found: int
    exports_started: int
    exports_deduplicated: int
    canned_answers: int
    user_projects: dict[str, int]
    methods: dict[str, int]
    quota_accepted: dict[str, int]
    quota_rejected: dict[str, int]


Counter = Literal[
    "requests",
    "api_requests",
    "token_requests",
    "discovery_requests",
    "faults_total",
    "chaos_faults",
    "dropped_connections",
    "idempotent_replays",
    "idempotency_conflicts",
    "tokens_issued",
    "token_errors",
    "unauthenticated",
    "permission_denied",
    "cancels_applied",
    "cancels_repeated",
    "cancels_refused",
    "deletes_applied",
    "deletes_not_found",
    "exports_started",
    "exports_deduplicated",
    "canned_answers",
]
Group = Literal[
    "responses", "faults_injected", "user_projects", "methods", "quota_accepted", "quota_rejected"
]
_MAX_GROUP_KEYS = 10_000


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = self._fresh()

    @staticmethod
    def _fresh() -> EmulatorStats:
        return EmulatorStats(
            requests=0,
            api_requests=0,
            token_requests=0,
            discovery_requests=0,
            responses={},
            faults_injected={},
            faults_total=0,
            chaos_faults=0,
            dropped_connections=0,
            idempotent_replays=0,
            idempotency_conflicts=0,
            tokens_issued=0,
            token_errors=0,
            unauthenticated=0,
            permission_denied=0,
            cancels_applied=0,
            cancels_repeated=0,
            cancels_refused=0,
            deletes_applied=0,
            deletes_not_found=0,
            exports_started=0,
            exports_deduplicated=0,
            canned_answers=0,
            user_projects={},
            methods={},
            quota_accepted={},
            quota_rejected={},
        )

    def incr(self, key: Counter, amount: int = 1) -> None:
        with self._lock:
            self._data[key] += amount

    def incr_in(self, group: Group, key: str) -> None:
        with self._lock:
            counts = self._data[group]
            # A client sending ever-new header values must not grow the counters without bound.
            if key in counts or len(counts) < _MAX_GROUP_KEYS:
                counts[key] = counts.get(key, 0) + 1

    def snapshot(self) -> EmulatorStats:
        with self._lock:
            return copy.deepcopy(self._data)

    def reset(self) -> None:
        with self._lock:
            self._data = self._fresh()
