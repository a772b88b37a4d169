"""Builders of the API's JSON for tests: an Operation, and the Google error envelope.

Public through :mod:`eemw.testing`, so a test says what the server answers (``state=
"FAILED"``, ``retry_delay=2.5``) without spelling the wire format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import RPC_CODES, rpc_code_for_status
from ._mock import Reply

__all__ = ["error_json", "google_error", "operation_json"]

_TYPE = "type.googleapis.com/google"
_DONE = frozenset({"SUCCEEDED", "CANCELLED", "FAILED"})
_DEFAULT_TIME = "2026-01-01T00:00:00Z"


def operation_json(
    name: str,
    *,
    project: str = "demo",
    state: str = "RUNNING",
    done: bool | None = None,
    type: str = "EXPORT_IMAGE",
    description: str | None = None,
    progress: float | None = None,
    create_time: str = _DEFAULT_TIME,
    error: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An Operation as the server sends it.

    ``name`` is a full name or an id in ``project``. ``done`` follows ``state`` unless
    given; a CANCELLED operation carries the ``{"code": 1}`` error the server sets, a FAILED
    one an INTERNAL error unless ``error`` says otherwise. ``metadata`` adds or overrides
    metadata fields (wire names: ``{"priority": 50}``).
    """
    full = name if "/" in name else f"projects/{project}/operations/{name}"
    meta: dict[str, Any] = {
        "@type": f"{_TYPE}.earthengine.v1.OperationMetadata",
        "state": state, "type": type, "createTime": create_time, "updateTime": create_time,
    }
    if description is not None:
        meta["description"] = description
    if progress is not None:
        meta["progress"] = progress
    meta.update(metadata or {})
    op: dict[str, Any] = {"name": full, "metadata": meta, "done": state in _DONE}
    if done is not None:
        op["done"] = done
    if error is None and state == "CANCELLED":
        error = {"code": 1, "message": "Cancelled."}
    elif error is None and state == "FAILED":
        error = {"code": 13, "message": "The task failed."}
    if error is not None:
        op["error"] = dict(error)
    elif response is not None:
        op["response"] = dict(response)
    return op


def error_json(
    status: int | str,
    message: str = "",
    *,
    reason: str | None = None,
    domain: str = "googleapis.com",
    metadata: Mapping[str, str] | None = None,
    retry_delay: float | None = None,
    quota_violations: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The Google error envelope: ``{"error": {"code", "message", "status", "details"}}``.

    ``status`` is an HTTP status (503) or an RPC code name (``"UNAVAILABLE"``). ``reason``
    adds a ``google.rpc.ErrorInfo`` (with ``domain`` and ``metadata``), ``retry_delay``
    (seconds) a ``google.rpc.RetryInfo``, and ``quota_violations`` (``(subject,
    description)`` pairs) a ``google.rpc.QuotaFailure``.
    """
    http, rpc = _codes(status)
    details: list[dict[str, Any]] = []
    if reason is not None:
        details.append({"@type": f"{_TYPE}.rpc.ErrorInfo", "reason": reason, "domain": domain,
                        "metadata": dict(metadata or {})})
    if retry_delay is not None:
        details.append({"@type": f"{_TYPE}.rpc.RetryInfo", "retryDelay": _duration(retry_delay)})
    if quota_violations:
        details.append({"@type": f"{_TYPE}.rpc.QuotaFailure", "violations": [
            {"subject": subject, "description": text} for subject, text in quota_violations
        ]})
    envelope: dict[str, Any] = {"code": http, "message": message or rpc, "status": rpc}
    if details:
        envelope["details"] = details
    return {"error": envelope}


def google_error(
    status: int | str,
    message: str = "",
    *,
    retry_after: str | None = None,
    reason: str | None = None,
    domain: str = "googleapis.com",
    metadata: Mapping[str, str] | None = None,
    retry_delay: float | None = None,
    quota_violations: Sequence[tuple[str, str]] = (),
) -> Reply:
    """A :class:`Reply` with the HTTP status and the envelope of :func:`error_json`;
    ``retry_after`` sets the ``Retry-After`` header."""
    body = error_json(
        status, message, reason=reason, domain=domain, metadata=metadata,
        retry_delay=retry_delay, quota_violations=quota_violations,
    )
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(body, status=body["error"]["code"], headers=headers)


def _codes(status: int | str) -> tuple[int, str]:
    if isinstance(status, str):
        row = RPC_CODES.get(status)
        if row is None:
            raise ValueError(f"unknown RPC code {status!r}; use one of {sorted(RPC_CODES)}")
        return row.http_status, row.name
    return status, rpc_code_for_status(status)


def _duration(seconds: float) -> str:
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
