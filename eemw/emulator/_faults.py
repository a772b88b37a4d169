"""Fault injection: scripted faults and a seeded chaos mix, applied to API requests only."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ._wire import (
    ApiError,
    Header,
    Reply,
    error_info,
    error_reply,
    retry_info,
    rpc_status_for_http,
)

FAULT_KINDS = frozenset(
    {"status", "drop_before", "drop_after", "delay", "html", "trickle", "truncate", "huge"}
)
"""The shapes a :class:`Fault` can take."""
DEFAULT_CHAOS_MIX: Mapping[str, float] = {
    "503": 0.3,
    "429_retry_after": 0.25,
    "drop_before": 0.15,
    "drop_after": 0.15,
    "delay": 0.15,
}
"""The weights ``set_chaos`` draws faults from when no mix is given."""
DEFAULT_HUGE_SIZE = 8 * 1024 * 1024
_MESSAGES: Mapping[int, str] = {
    429: "Quota exceeded: too many requests per minute for this project. Slow down and retry.",
    500: "Internal error encountered.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "The request timed out before a response was available.",
}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; `times=None` keeps it forever, matching narrows it."""

    kind: str = "status"
    status: int = 503
    times: int | None = 1
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None
    retry_delay: float | None = None
    delay: float = 0.0
    size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"fault status {self.status} is not an HTTP status")
        if self.times is not None and self.times < 1:
            raise ValueError("fault times must be at least 1, or None for forever")
        if self.delay < 0 or self.size < 0:
            raise ValueError("fault delay and size must not be negative")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


def fault_from_mix_name(name: str, chaos_delay: float) -> Fault:
    """'503' -> a 503; '429_retry_after' -> a 429 with Retry-After; else a kind name."""
    code, _, suffix = name.partition("_retry_after")
    if code.isdigit() and not suffix:
        retry = "1" if name.endswith("_retry_after") else None
        return Fault(status=int(code), retry_after=retry, times=None)
    if name == "delay":
        return Fault(kind="delay", delay=chaos_delay, times=None)
    if name == "html":
        return Fault(kind="html", status=502, times=None)
    return Fault(kind=name, times=None)


@dataclass(slots=True)
class _Armed:
    fault: Fault
    left: int | None


class FaultPlan:
    """Scripted faults in insertion order, then the chaos roll; one fault at most per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: list[_Armed] = []
        self._rate = 0.0
        self._rng = random.Random(0)
        self._mix: list[tuple[float, Fault]] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._scripted.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._rate = 0.0

    def set_chaos(
        self, rate: float, seed: int, mix: Mapping[str, float], chaos_delay: float
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("chaos rate must be within [0, 1]")
        weights = [(fault_from_mix_name(name, chaos_delay), float(w)) for name, w in mix.items()]
        total = sum(w for _, w in weights)
        if rate and (total <= 0 or any(w < 0 for _, w in weights)):
            raise ValueError("chaos mix weights must be non-negative and not all zero")
        cumulative, running = [], 0.0
        for fault, weight in weights:
            running += weight / total if total else 0.0
            cumulative.append((running, fault))
        with self._lock:
            self._rate, self._rng, self._mix = rate, random.Random(seed), cumulative

    def pick(self, method: str, path: str) -> tuple[Fault | None, bool]:
        """The fault for this request, and whether chaos chose it."""
        with self._lock:
            fault = self._take_scripted(method, path)
            if fault is not None:
                return fault, False
            if self._rate and self._rng.random() < self._rate:
                roll = self._rng.random()
                chosen = next((f for edge, f in self._mix if roll < edge), self._mix[-1][1])
                return chosen, True
        return None, False

    def _take_scripted(self, method: str, path: str) -> Fault | None:
        for index, armed in enumerate(self._scripted):
            if not armed.fault.matches(method, path):
                continue
            if armed.left is not None:
                armed.left -= 1
                if armed.left <= 0:
                    del self._scripted[index]
            return armed.fault
        return None


def status_reply(fault: Fault) -> Reply:
    headers: tuple[Header, ...] = (("Retry-After", fault.retry_after),) if fault.retry_after else ()
    details = []
    if fault.status == 429:
        details.append(error_info("RATE_LIMIT_EXCEEDED", quota_limit="RequestsPerMinutePerProject"))
    if fault.retry_delay is not None:
        details.append(retry_info(fault.retry_delay))
    message = _MESSAGES.get(fault.status, f"Injected fault: HTTP {fault.status}.")
    error = ApiError(
        rpc_status_for_http(fault.status),
        message,
        details=details,
        headers=headers,
        http_status=fault.status,
    )
    return error_reply(error)


def html_reply(fault: Fault) -> Reply:
    page = (
        "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n"
        f"<title>Error {fault.status} (Server Error)!!1</title>\n"
        f"<p><b>{fault.status}.</b> <ins>That\u2019s an error.</ins>\n"
        "<p>The server encountered a temporary error and could not complete your request."
        "<p>Please try again in 30 seconds. <ins>That\u2019s all we know.</ins>\n"
    ).encode()
    headers: tuple[Header, ...] = (("Retry-After", fault.retry_after),) if fault.retry_after else ()
    return Reply(fault.status, page, "text/html; charset=UTF-8", headers)


def padded(reply: Reply, size: int) -> Reply:
    """The same JSON object grown to `size` bytes with a padding field, still valid JSON."""
    target = size or DEFAULT_HUGE_SIZE
    body = reply.body.rstrip()
    if not body.endswith(b"}"):
        return reply
    opening = b'"padding":"' if body == b"{}" else b',"padding":"'
    fill = max(0, target - len(body) - len(opening) - 1)
    grown = body[:-1] + opening + b"x" * fill + b'"}'
    return Reply(reply.status, grown, reply.content_type, reply.headers)
