"""The check stage: every response becomes either a checked value or a typed error.

Non-2xx responses become the :class:`~eemw.ApiError` subclass of their RPC code (from the
one table, :data:`~eemw.errors.RPC_CODES`), with the envelope's message, ``ErrorInfo`` reason,
details and the delay the server asked for (``RetryInfo.retryDelay``, else
``Retry-After``). The HTTP status decides whether the error is the client's (4xx) or the
server's (5xx); the envelope's ``status`` refines the type within that family, and an
unknown or contradicting ``status`` falls back to the HTTP status's own code. Bodies that
are HTML, truncated JSON, empty or cut at the transport's size cap still give a clear
error quoting a short excerpt with control characters and escape sequences removed.

2xx bodies are checked against the call: get and wait must return an Operation whose
``name`` is the one asked for (the same operation id under the project's number instead
of its id, or the reverse, is the same operation: the service may answer with either),
cancel and delete a JSON object (an empty body counts as ``{}``), list a page of
operations; calls of other resources (``Call.resource``) are passed on unchecked. Anything
else is a
:class:`~eemw.MalformedResponseError` naming the call. The parsed JSON is handed on as
``response.data`` so nobody parses a body twice. A list page asked for by
``operations.list`` (the ``SPLIT_PAGES`` context key) is cut into its operations'
text instead when :func:`~eemw._pagesplit.split_page` can prove the cut exact: its
shape, every name and the page token are checked the same way, and each operation is
decoded when first read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .._errors import (
    RPC_CODES,
    ApiError,
    MalformedResponseError,
    api_error_class,
    rpc_code_for_status,
)
from .._http import ContextKey, Request, Response
from .._models import OperationName, parse_duration
from .._names import first_invalid_name
from .._pipeline import Handler
from .._redact import redact_url

__all__ = [
    "ANSWER_SINK",
    "SPLIT_PAGES",
    "Check",
    "error_from_response",
    "excerpt",
    "parse_retry_after",
    "safe_text",
    "same_operation",
]

_EXCERPT_CHARS = 160
_MESSAGE_CHARS = 1000
# ANSI/VT escape sequences first (so their parameters go too), then any lone control or
# invisible formatting character: C0, DEL, C1, zero-width, bidi overrides, BOM.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+")
_HIDDEN_HTML = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]{0,500}>")
_SPACES = re.compile(r"\s+")
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,9})?", re.ASCII)

SPLIT_PAGES: ContextKey[bool] = ContextKey("eemw.split_pages", False)
"""Set by ``operations.list``: answer its pages with a cut page
(:func:`eemw._pagesplit.split_page`) when the cut can be proven exact. Other readers of a
list page (the watcher, a client-side filter) read every operation, for which one decode
of the page is cheaper.
"""
ANSWER_SINK: ContextKey[Callable[[Response], None] | None] = ContextKey("eemw.answer_sink", None)
"""Called with each non-2xx response just before it becomes a typed error, for an adapter
that must hand the server's answer on unchanged (:mod:`eemw.earthengine`)."""


class Check:
    """Turn non-2xx responses into typed errors and verify success bodies.

    ``wall_clock`` (seconds since the epoch) is used only to turn an HTTP-date
    ``Retry-After`` into a delay. Stateless: one instance serves many threads.
    """

    __slots__ = ("_wall_clock",)

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock

    def __call__(self, request: Request, call_next: Handler) -> Response:
        response = call_next(request)
        if 200 <= response.status < 300:
            if request.call.resource != "operations":
                return response  # other resources' bodies are their caller's to read
            return response.with_data(checked_body(response))
        sink = request.context.get(ANSWER_SINK)
        if sink is not None:
            sink(response)
        raise error_from_response(response, wall_clock=self._wall_clock)

    def __repr__(self) -> str:
        return "Check()"


# --- success bodies -------------------------------------------------------------------


def checked_body(response: Response) -> Any:
    """The parsed JSON of a 2xx ``response``, checked against what its call expects."""
    call = response.request.call
    if response.truncated:
        raise _malformed(
            response,
            f"the body is longer than the transport's size cap and was cut after "
            f"{len(response.body)} bytes",
        )
    if not response.body.strip():
        if call.mutating:
            return {}
        raise _malformed(response, "the body is empty, expected JSON")
    ctype = _content_type(response)
    if ctype and "json" not in ctype:
        raise _malformed(response, f"expected JSON, got content type {ctype!r}")
    if call.kind == "list" and response.request.context.get(SPLIT_PAGES):
        from .._pagesplit import split_page  # a client that never lists never loads it

        split = split_page(response.body)
        if split is not None:
            _check_names(response, split.names)
            _check_token(response, split.rest)
            return split
    try:
        data = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed(response, "the body is not valid JSON (cut short?)") from None
    if not isinstance(data, dict):
        raise _malformed(response, f"expected a JSON object, got {_json_kind(data)}")
    if call.kind in ("get", "wait"):
        name = data.get("name")
        if name != call.name and not same_operation(name, call.name):
            raise _malformed(
                response, f"expected the operation {call.name}, got name {_short(name)}"
            )
    elif call.kind == "list":
        _check_page(response, data)
    return data


def same_operation(answered: object, asked: str | None) -> bool:
    """Whether ``answered`` names the operation ``asked`` under the project's other alias.

    A project has an id (``my-project``) and a number (``123456789012``); the service may
    name an operation under either. The same operation id with one side a project number
    and the other a project id is accepted: eemw cannot tell which number belongs to which
    id without another request, and an id never looks like a number (ids start with a
    letter). Anything else (another id, two different ids or numbers) is a mismatch.
    """
    if not isinstance(answered, str) or asked is None:
        return False
    try:
        got, want = OperationName.parse(answered), OperationName.parse(asked)
    except ValueError:
        return False
    return got.id == want.id and got.project.isdigit() != want.project.isdigit()


def _check_page(response: Response, data: Mapping[str, Any]) -> None:
    ops = data.get("operations", [])
    if not isinstance(ops, list):
        raise _malformed(response, f"'operations' is {_json_kind(ops)}, not a list")
    names: list[Any] = [op.get("name") if isinstance(op, dict) else None for op in ops]
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise _malformed(response, f"operation {i} of the page has no name")
    _check_names(response, names)
    _check_token(response, data)


def _check_names(response: Response, names: list[str]) -> None:
    bad = first_invalid_name(names)
    if bad is not None:
        raise _malformed(
            response, f"operation {bad} of the page has an invalid name {_short(names[bad])}"
        )


def _check_token(response: Response, data: Mapping[str, Any]) -> None:
    token = data.get("nextPageToken", "")
    if not isinstance(token, str):
        raise _malformed(response, f"'nextPageToken' is {_json_kind(token)}, not a string")


def _malformed(response: Response, what: str) -> MalformedResponseError:
    call = response.request.call
    where = f"{call.label} {call.name}" if call.name else call.label
    quoted = excerpt(response.body, _content_type(response))
    tail = f"; body starts: {quoted!r}" if quoted else ""
    return MalformedResponseError(
        f"{where}: unexpected {response.status} response: {what}{tail}",
        call=call.label, excerpt=quoted,
    )


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number" if isinstance(value, (int, float)) else "a value")


def _short(value: object) -> str:
    return safe_text(repr(value), 80)


# --- error responses ------------------------------------------------------------------


def error_from_response(
    response: Response, *, wall_clock: Callable[[], float] = time.time
) -> ApiError:
    """The typed :class:`ApiError` for a non-2xx ``response``."""
    envelope = _envelope(response.body)
    rpc = _rpc_status(envelope.get("status"), response.status)
    raw_details = envelope.get("details")
    details = tuple(d for d in raw_details if isinstance(d, dict)) if isinstance(
        raw_details, list
    ) else ()
    message = envelope.get("message")
    if isinstance(message, str) and message.strip():
        message = safe_text(message, _MESSAGE_CHARS)
    else:
        message = _fallback_message(response)
    retry_after = _retry_delay(details)
    if retry_after is None:
        retry_after = parse_retry_after(response.headers.get("retry-after"), wall_clock())
    call = response.request.call
    return api_error_class(rpc, response.status)(
        message,
        http_status=response.status,
        rpc_status=rpc,
        reason=_reason(details),
        details=details,
        retry_after=retry_after,
        operation=call.name,
        call=call.label,
        from_envelope=bool(envelope),
    )


def _rpc_status(claimed: object, http_status: int) -> str:
    """The RPC code name for an error: the envelope's, unless unknown or contradicting."""
    fallback = rpc_code_for_status(http_status)
    row = RPC_CODES.get(claimed) if isinstance(claimed, str) else None
    if row is None or row.http_status // 100 != http_status // 100:
        # Retrying keys off the HTTP status; a 503 that says NOT_FOUND is still a 503.
        return fallback
    return row.name


def _envelope(body: bytes) -> Mapping[str, Any]:
    if not body.lstrip().startswith(b"{"):
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _fallback_message(response: Response) -> str:
    head = f"HTTP {response.status}"
    location = response.headers.get("location")
    if 300 <= response.status < 400 and isinstance(location, str):
        head += (
            f" redirect to {safe_text(redact_url(location), 200)!r}: eemw does not follow "
            "redirects; check the endpoint"
        )
    suffix = " (body cut at the transport's size cap)" if response.truncated else ""
    ctype = _content_type(response)
    text = excerpt(response.body, ctype)
    if not text:
        return f"{head} with an empty body{suffix}"
    kind = f"a {ctype} body" if ctype else "a body without content type"
    return f"{head} with {kind}: {text!r}{suffix}"


def _reason(details: tuple[Mapping[str, Any], ...]) -> str | None:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            reason = d.get("reason")
            return safe_text(reason, 120) if isinstance(reason, str) and reason else None
    return None


def _retry_delay(details: tuple[Mapping[str, Any], ...]) -> float | None:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return _duration(d.get("retryDelay"))
    return None


def _duration(value: object) -> float | None:
    # JSON mapping of google.protobuf.Duration is "2.5s"; some gateways send the message form.
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            total = float(seconds) + float(nanos) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
        return total if 0 <= total < 1e10 else None
    return parse_duration(value)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header (delta seconds or an HTTP date) as seconds from ``now``.

    ``now`` is wall-clock time (seconds since the epoch). Unparsable values give ``None``;
    a date in the past gives 0.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP dates are always GMT
    return max(0.0, when.timestamp() - now)


# --- safe excerpts --------------------------------------------------------------------


def safe_text(text: str, limit: int) -> str:
    """``text`` without control characters or escape sequences, at most ``limit`` chars."""
    text = _SPACES.sub(" ", _UNSAFE.sub(" ", _ESCAPES.sub("", text))).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def excerpt(body: bytes, content_type: str = "", limit: int = _EXCERPT_CHARS) -> str:
    """A short, printable excerpt of a body; HTML is reduced to its visible text."""
    text = body[: limit * 16].decode("utf-8", "replace")
    if "html" in content_type or text.lstrip()[:1] == "<":
        import html  # only error bodies that look like HTML need it

        text = html.unescape(_TAGS.sub(" ", _HIDDEN_HTML.sub(" ", text)))
    return safe_text(text, limit)


def _content_type(response: Response) -> str:
    value = response.headers.get("content-type")
    if not isinstance(value, str):
        return ""
    return safe_text(value.split(";", maxsplit=1)[0], 80).lower()
