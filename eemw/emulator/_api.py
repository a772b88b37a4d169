"""API requests: routing, auth, the five projects.operations calls, and canned methods."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ._answers import Answers
from ._auth import TokenStore
from ._idempotency import IdempotencyStore
from ._listing import decode_page_token, encode_page_token, parse_filter, parse_page_size
from ._methods import Method, match, project_of
from ._operations import HOSTILE_DIGITS, SERVICE_DIGITS, OpRecord, Phase, WireStyle, render
from ._records import RecordedRequest, Stats
from ._state import ID_PATTERN, OperationStore
from ._wire import ApiError, Reply, error_reply, json_reply, parse_duration

VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
MAX_WAIT = 60.0
_VERBS = {"cancel": "POST", "wait": "POST"}
_MUTATIONS = frozenset({"cancel", "delete"})


@dataclass(frozen=True, slots=True)
class Route:
    action: str
    project: str
    op_id: str
    problem: str | None = None
    version: str = "v1"

    @property
    def name(self) -> str:
        return f"projects/{self.project}/operations/{self.op_id}"


def _not_found(method: str, path: str) -> ApiError:
    return ApiError("NOT_FOUND", f"No Earth Engine method matches {method} {path}.")


def parse_route(method: str, path: str) -> Route | Method:
    """Map a request onto an operations call or another method; a bad name is reported after
    auth, as `problem`."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] or parts[1] not in VERSIONS or parts[2] != "projects":
        raise _not_found(method, path)
    if len(parts) < 5 or parts[4] != "operations":
        found = match(method, path)
        if found is None:
            raise _not_found(method, path)
        return found
    version = parts[1]
    project = urllib.parse.unquote(parts[3]) if "%" in parts[3] else parts[3]
    if len(parts) == 5:
        if method != "GET":
            raise _not_found(method, path)
        return Route("list", project, "", _project_problem(project), version)
    tail = urllib.parse.unquote("/".join(parts[5:]))
    op_id, verb = _split_verb(tail)
    action = _action(method, verb)
    if action is None:
        raise _not_found(method, path)
    problem = _project_problem(project) or _id_problem(op_id)
    return Route(action, project, op_id, problem, version)


def _split_verb(tail: str) -> tuple[str, str]:
    head, sep, verb = tail.rpartition(":")
    return (head, verb) if sep and "/" not in verb else (tail, "")


def _action(method: str, verb: str) -> str | None:
    if verb:
        return verb if _VERBS.get(verb) == method else None
    return {"GET": "get", "DELETE": "delete"}.get(method)


def _project_problem(project: str) -> str | None:
    if not project or "/" in project:
        return f"Invalid project {project!r}: it must be non-empty and contain no '/'."
    return None


def _id_problem(op_id: str) -> str | None:
    if ID_PATTERN.fullmatch(op_id):
        return None
    return f"Invalid operation id {op_id!r}: it must match [A-Za-z0-9_-]+."


def _json_object(body: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "INVALID_ARGUMENT", "Invalid JSON payload received: the body is not JSON."
        ) from None
    if not isinstance(value, dict):
        raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received: expected a JSON object.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ApiError(
            "INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name {unknown[0]!r}."
        )
    return value


class Api:
    def __init__(
        self,
        store: OperationStore,
        tokens: TokenStore,
        stats: Stats,
        *,
        require_auth: bool,
        max_page_size: int,
        honour_idempotency_keys: bool = False,
        hostile_timestamps: bool = False,
        epoch_ns: int = 0,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.stats = stats
        self.require_auth = require_auth
        self.max_page_size = max_page_size
        self.honour_idempotency_keys = honour_idempotency_keys
        digits = HOSTILE_DIGITS if hostile_timestamps else SERVICE_DIGITS
        self._styles = {v: WireStyle(epoch_ns, v, digits) for v in VERSIONS}
        self.idempotency = IdempotencyStore()
        self.answers = Answers(store, stats)

    def handle(self, request: RecordedRequest) -> Reply:
        path, _, query = request.path.partition("?")
        try:
            route = parse_route(request.method, path)
            if self.require_auth:
                self._authorize(request.headers.get("authorization"))
            if isinstance(route, Method):
                self.stats.incr_in("methods", route.id)
                return self._canned(route, path, request)
            self.stats.incr_in("methods", f"earthengine.projects.operations.{route.action}")
            if route.problem:
                raise ApiError("INVALID_ARGUMENT", route.problem)
            key = request.headers.get("idempotency-key")
            # Earth Engine documents no Idempotency-Key: only a deduping proxy would honour it.
            if key is not None and self.honour_idempotency_keys and route.action in _MUTATIONS:
                return self._once(route, request.method, path, key, request.body)
            return self._execute(route, query, request.body)
        except ApiError as err:
            return error_reply(err)

    def _authorize(self, authorization: str | None) -> None:
        try:
            self.tokens.check(authorization)
        except ApiError as err:
            self.stats.incr("unauthenticated" if err.http_status == 401 else "permission_denied")
            raise

    def _canned(self, method: Method, path: str, request: RecordedRequest) -> Reply:
        project = project_of(path) or ""
        style = self._styles[path.split("/", 2)[1]]

        def write(op: OpRecord, phase: Phase) -> dict[str, Any]:
            return render(op, phase, style)

        return self.answers.answer(method, project, request, write)

    def _once(self, route: Route, method: str, path: str, key: str, body: bytes) -> Reply:
        def execute() -> Reply:
            try:
                return self._execute(route, "", body)
            except ApiError as err:
                return error_reply(err)

        try:
            reply, replayed = self.idempotency.run(key, method, path, execute)
        except ApiError:
            self.stats.incr("idempotency_conflicts")
            raise
        if replayed:
            self.stats.incr("idempotent_replays")
        return reply

    def _execute(self, route: Route, query: str, body: bytes) -> Reply:
        style = self._styles[route.version]
        if route.action == "get":
            return json_reply(render(*self.store.lookup(route.project, route.op_id), style))
        if route.action == "list":
            return self._list(route.project, query, style)
        if route.action == "cancel":
            return self._cancel(route, body)
        if route.action == "delete":
            return self._delete(route)
        return self._wait(route, body, style)

    def _cancel(self, route: Route, body: bytes) -> Reply:
        _json_object(body, frozenset())
        try:
            applied = self.store.cancel(route.project, route.op_id)
        except ApiError as err:
            if err.status == "FAILED_PRECONDITION":
                self.stats.incr("cancels_refused")
            raise
        self.stats.incr("cancels_applied" if applied else "cancels_repeated")
        return json_reply({})

    def _delete(self, route: Route) -> Reply:
        try:
            self.store.delete(route.project, route.op_id)
        except ApiError:
            self.stats.incr("deletes_not_found")
            raise
        self.stats.incr("deletes_applied")
        return json_reply({})

    def _list(self, project: str, query: str, style: WireStyle) -> Reply:
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
        filter_text = params.get("filter", "")
        flt = parse_filter(filter_text)
        size = parse_page_size(params.get("pageSize"), self.max_page_size)
        cursor = decode_page_token(params.get("pageToken", ""), project, filter_text)
        found, next_cursor = self.store.page(project, flt, cursor, size)
        page: dict[str, Any] = {}
        if found:
            page["operations"] = [render(op, phase, style) for op, phase in found]
        if next_cursor is not None:
            page["nextPageToken"] = encode_page_token(next_cursor, project, filter_text)
        return json_reply(page)

    def _wait(self, route: Route, body: bytes, style: WireStyle) -> Reply:
        request = _json_object(body, frozenset({"timeout"}))
        timeout = parse_duration(request["timeout"]) if "timeout" in request else MAX_WAIT
        timeout = min(max(timeout, 0.0), MAX_WAIT)
        found = self.store.wait(route.project, route.op_id, timeout)
        return json_reply(render(*found, style))
