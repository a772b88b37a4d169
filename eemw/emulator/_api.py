"""The five projects.operations calls: routing, validation, auth, idempotency, execution."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ._auth import TokenStore
from ._idempotency import IdempotencyStore
from ._listing import decode_page_token, encode_page_token, parse_filter, parse_page_size
from ._operations import render
from ._records import Stats
from ._state import ID_PATTERN, OperationStore
from ._wire import ApiError, Reply, error_reply, json_reply, parse_duration

VERSIONS = frozenset({"v1", "v1beta", "v1alpha"})
MAX_WAIT = 60.0
_VERBS = {"cancel": "POST", "wait": "POST"}


@dataclass(frozen=True, slots=True)
class Route:
    action: str
    project: str
    op_id: str
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project}/operations/{self.op_id}"


def _not_found(method: str, path: str) -> ApiError:
    return ApiError("NOT_FOUND", f"No Earth Engine method matches {method} {path}.")


def parse_route(method: str, path: str) -> Route:
    """Map a request onto one of the five calls; a bad name is reported after auth, as `problem`."""
    parts = path.split("/")
    if len(parts) < 5 or parts[0] or parts[1] not in VERSIONS or parts[2] != "projects":
        raise _not_found(method, path)
    if parts[4] == "algorithms" and len(parts) == 5 and method == "GET":
        # The official client lists algorithms when it initialises; it gets none here.
        return Route("algorithms", parts[3], "", _project_problem(parts[3]))
    if parts[4] != "operations":
        raise _not_found(method, path)
    project = urllib.parse.unquote(parts[3]) if "%" in parts[3] else parts[3]
    if len(parts) == 5:
        if method != "GET":
            raise _not_found(method, path)
        return Route("list", project, "", _project_problem(project))
    tail = urllib.parse.unquote("/".join(parts[5:]))
    op_id, verb = _split_verb(tail)
    action = _action(method, verb)
    if action is None:
        raise _not_found(method, path)
    problem = _project_problem(project) or _id_problem(op_id)
    return Route(action, project, op_id, problem)


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
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.stats = stats
        self.require_auth = require_auth
        self.max_page_size = max_page_size
        self.idempotency = IdempotencyStore()

    def handle(
        self, method: str, target: str, authorization: str | None, idem_key: str | None, body: bytes
    ) -> Reply:
        path, _, query = target.partition("?")
        try:
            route = parse_route(method, path)
            if self.require_auth:
                self._authorize(authorization)
            if route.problem:
                raise ApiError("INVALID_ARGUMENT", route.problem)
            if route.action in ("cancel", "delete") and idem_key is not None:
                return self._once(route, method, path, idem_key, body)
            return self._execute(route, query, body)
        except ApiError as err:
            return error_reply(err)

    def _authorize(self, authorization: str | None) -> None:
        try:
            self.tokens.check(authorization)
        except ApiError as err:
            self.stats.incr("unauthenticated" if err.http_status == 401 else "permission_denied")
            raise

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
        if route.action == "algorithms":
            return json_reply({"algorithms": []})
        if route.action == "get":
            return json_reply(render(*self.store.lookup(route.project, route.op_id)))
        if route.action == "list":
            return self._list(route.project, query)
        if route.action == "cancel":
            _json_object(body, frozenset())
            if self.store.cancel(route.project, route.op_id):
                self.stats.incr("cancels_applied")
            return json_reply({})
        if route.action == "delete":
            self.store.delete(route.project, route.op_id)
            self.stats.incr("deletes_applied")
            return json_reply({})
        return self._wait(route, body)

    def _list(self, project: str, query: str) -> Reply:
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
        filter_text = params.get("filter", "")
        flt = parse_filter(filter_text)
        size = parse_page_size(params.get("pageSize"), self.max_page_size)
        start = decode_page_token(params.get("pageToken", ""), project, filter_text)
        found, next_seq = self.store.page(project, flt, start, size)
        page: dict[str, Any] = {}
        if found:
            page["operations"] = [render(op, phase) for op, phase in found]
        if next_seq is not None:
            page["nextPageToken"] = encode_page_token(next_seq, project, filter_text)
        return json_reply(page)

    def _wait(self, route: Route, body: bytes) -> Reply:
        request = _json_object(body, frozenset({"timeout"}))
        timeout = parse_duration(request["timeout"]) if "timeout" in request else MAX_WAIT
        timeout = min(max(timeout, 0.0), MAX_WAIT)
        return json_reply(render(*self.store.wait(route.project, route.op_id, timeout)))
