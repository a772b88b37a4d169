"""Turns one received request into what the server should do: answer, delay, trickle, or drop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._api import VERSIONS, Api
from ._auth import TokenEndpoint
from ._discovery import discovery_document
from ._faults import Fault, FaultPlan, html_reply, padded, status_reply
from ._methods import project_of
from ._quota import NO_RELEASE, QuotaGate
from ._records import Headers, RecordedRequest, Recorder, Stats
from ._wire import ApiError, Reply, dumps, error_reply

_DISCOVERY_PATHS = frozenset({"/$discovery/rest", "/%24discovery/rest"})
_DISCOVERY_PREFIX = "/discovery/v1/apis/earthengine/"
TRICKLE_CHUNK = 16
_TRICKLE_PAUSE = 0.002


@dataclass(frozen=True, slots=True)
class Incoming:
    method: str
    target: str
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """`reply=None` means close the connection without answering; `release` is called once
    the answer is written (or dropped), ending the request's hold on its quota."""

    reply: Reply | None
    delay: float = 0.0
    mode: str = "normal"
    pause: float = 0.0
    release: Callable[[], None] = NO_RELEASE


class Core:
    def __init__(
        self,
        api: Api,
        token_endpoint: TokenEndpoint,
        faults: FaultPlan,
        recorder: Recorder,
        stats: Stats,
        latency: float,
    ) -> None:
        self.api = api
        self.token_endpoint = token_endpoint
        self.faults = faults
        self.recorder = recorder
        self.stats = stats
        self.latency = latency
        self.quota: QuotaGate | None = None
        self.root_url = ""
        self._docs: dict[str, bytes] = {}
        self._docs_lock = threading.Lock()

    def respond(self, incoming: Incoming) -> Outcome:
        self.stats.incr("requests")
        if self.recorder.enabled:
            self.recorder.add(_recorded(incoming))
        user_project = incoming.headers.get("x-goog-user-project")
        if user_project:
            self.stats.incr_in("user_projects", user_project)
        outcome = self._route(incoming)
        if outcome.reply is None:
            self.stats.incr("dropped_connections")
        else:
            self.stats.incr_in("responses", str(outcome.reply.status))
        return outcome

    def _route(self, incoming: Incoming) -> Outcome:
        path, _, query = incoming.target.partition("?")
        if path == "/token":
            return Outcome(self._token(incoming))
        if path in _DISCOVERY_PATHS:
            return Outcome(self._discovery(_query_version(query)))
        if path.startswith(_DISCOVERY_PREFIX) and path.endswith("/rest"):
            return Outcome(self._discovery(path[len(_DISCOVERY_PREFIX) : -len("/rest")]))
        return self._api(incoming, path)

    def _token(self, incoming: Incoming) -> Reply:
        self.stats.incr("token_requests")
        content_type = incoming.headers.get("content-type", "")
        reply = self.token_endpoint.handle(incoming.method, content_type, incoming.body)
        self.stats.incr("tokens_issued" if reply.status == 200 else "token_errors")
        return reply

    def _discovery(self, version: str) -> Reply:
        self.stats.incr("discovery_requests")
        if version not in VERSIONS:
            return error_reply(
                ApiError("NOT_FOUND", f"No discovery document for version {version!r}.")
            )
        with self._docs_lock:
            doc = self._docs.get(version)
            if doc is None:
                doc = self._docs[version] = dumps(discovery_document(self.root_url, version))
        return Reply(200, doc)

    def _api(self, incoming: Incoming, path: str) -> Outcome:
        self.stats.incr("api_requests")
        fault, by_chaos = self.faults.pick(incoming.method, path)
        if fault is not None:
            self.stats.incr_in("faults_injected", fault.kind)
            self.stats.incr("faults_total")
            if by_chaos:
                self.stats.incr("chaos_faults")
            early = self._fault_before(fault)
            if early is not None:
                return early
        release = NO_RELEASE
        if self.quota is not None:
            project = incoming.headers.get("x-goog-user-project") or project_of(path) or "-"
            try:
                release = self.quota.admit(project)
            except ApiError as err:
                self.stats.incr_in("quota_rejected", project)
                return Outcome(error_reply(err), self.latency)
            self.stats.incr_in("quota_accepted", project)
        try:
            reply = self.api.handle(_recorded(incoming))
        except BaseException:
            release()
            raise
        outcome = self._fault_after(fault, reply)
        return Outcome(outcome.reply, outcome.delay, outcome.mode, outcome.pause, release)

    def _fault_before(self, fault: Fault) -> Outcome | None:
        """Faults that stand in for the server entirely: the request is never processed."""
        if fault.kind == "drop_before":
            return Outcome(None)
        if fault.kind == "status":
            return Outcome(status_reply(fault), self.latency)
        if fault.kind == "html":
            return Outcome(html_reply(fault), self.latency)
        return None

    def _fault_after(self, fault: Fault | None, reply: Reply) -> Outcome:
        """Faults that strike once the request has been processed, side effects included."""
        kind = fault.kind if fault is not None else ""
        if fault is None or kind not in ("drop_after", "delay", "trickle", "truncate", "huge"):
            return Outcome(reply, self.latency)
        if kind == "drop_after":
            return Outcome(None)
        if kind == "delay":
            return Outcome(reply, self.latency + fault.delay)
        if kind == "trickle":
            return Outcome(reply, self.latency, "trickle", fault.delay or _TRICKLE_PAUSE)
        if kind == "truncate":
            return Outcome(reply, self.latency, "truncate")
        return Outcome(padded(reply, fault.size), self.latency)


def _recorded(incoming: Incoming) -> RecordedRequest:
    return RecordedRequest(incoming.method, incoming.target, incoming.headers, incoming.body)


def _query_version(query: str) -> str:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "version":
            return value
    return "v1"
