"""Canned answers for Earth Engine methods other than projects.operations.

Each method is keyed by its discovery id. Defaults: the algorithms list is a few real-format
algorithms (so ee.Initialize caches it instead of refetching), value:compute answers
{"result": null}, an export or import creates an operation of the matching type
(deduplicated by the body's `requestId`, as Earth Engine documents), and anything else is a
404 NOT_FOUND envelope until a test sets an answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._methods import ALGORITHMS_LIST, EXPORT_TYPES, METHOD_IDS, VALUE_COMPUTE, Method
from ._operations import OpRecord, Phase
from ._records import RecordedRequest, Stats
from ._state import NewOperation, OperationStore
from ._wire import ApiError, Reply, dumps, json_reply

Answer = Any
"""A JSON value (or bytes) to answer 200 with, or a callable taking the RecordedRequest and
returning a body or a (status, body) pair."""
Render = Callable[[OpRecord, Phase], dict[str, Any]]
_MAX_REQUEST_IDS = 100_000


def _arg(name: str, kind: str, text: str, optional: bool = False) -> dict[str, Any]:
    arg: dict[str, Any] = {"argumentName": name, "type": kind, "description": text}
    if optional:
        arg["optional"] = True
    return arg


def _algorithm(name: str, returns: str, text: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"algorithms/{name}",
        "description": text,
        "returnType": returns,
        "arguments": list(args),
    }


def _binary(name: str, text: str) -> dict[str, Any]:
    return _algorithm(
        name,
        "Number",
        text,
        _arg("left", "Number", "The left-hand value."),
        _arg("right", "Number", "The right-hand value."),
    )


# A few algorithms in Earth Engine's ListAlgorithmsResponse format: enough for ee's classes
# to initialise and for common expressions (ee.Number(1).add(2), ee.Image(1)) to build.
CANNED_ALGORITHMS: tuple[dict[str, Any], ...] = (
    _binary("Number.add", "Adds the first value to the second."),
    _binary("Number.subtract", "Subtracts the second value from the first."),
    _binary("Number.multiply", "Multiplies the first value by the second."),
    _binary("Number.divide", "Divides the first value by the second, returning 0 for x/0."),
    _algorithm(
        "String.cat",
        "String",
        "Concatenates two strings.",
        _arg("string1", "String", "The first string."),
        _arg("string2", "String", "The second string."),
    ),
    _algorithm(
        "Image.constant",
        "Image",
        "Generates an image containing a constant value everywhere.",
        _arg("value", "Object", "The value of the pixels in the constant image."),
    ),
    _algorithm(
        "Image.add",
        "Image",
        "Adds the first value to the second for each matched pair of bands.",
        _arg("image1", "Image", "The image from which the left operand bands are taken."),
        _arg("image2", "Image", "The image from which the right operand bands are taken."),
    ),
    _algorithm(
        "Image.load",
        "Image",
        "Returns the image given its ID.",
        _arg("id", "String", "The asset ID of the image."),
        _arg("version", "Long", "The version of the asset.", optional=True),
    ),
    _algorithm(
        "ImageCollection.load",
        "ImageCollection",
        "Returns the image collection given its ID.",
        _arg("id", "String", "The asset ID of the image collection."),
        _arg("version", "Long", "The version of the asset.", optional=True),
    ),
    _algorithm(
        "Collection.loadTable",
        "FeatureCollection",
        "Returns a Collection of features from a specified table.",
        _arg("tableId", "Object", "The ID of the table to load."),
        _arg("geometryColumn", "Object", "The name of the geometry column.", optional=True),
        _arg("version", "Long", "The version of the asset.", optional=True),
    ),
)


class Answers:
    """The answers set by tests, with the defaults behind them; thread-safe."""

    def __init__(self, store: OperationStore, stats: Stats) -> None:
        self._store = store
        self._stats = stats
        self._lock = threading.Lock()
        self._set: dict[str, Answer] = {}
        self._exports: dict[tuple[str, str], str] = {}

    def set(self, method_id: str, answer: Answer) -> None:
        if method_id not in METHOD_IDS:
            known = ", ".join(sorted(METHOD_IDS))
            raise ValueError(
                f"unknown Earth Engine method {method_id!r} (operations calls are emulated, "
                f"not canned); known methods: {known}"
            )
        with self._lock:
            if answer is None:
                self._set.pop(method_id, None)
            else:
                self._set[method_id] = answer

    def answer(
        self, method: Method, project: str, request: RecordedRequest, render: Render
    ) -> Reply:
        with self._lock:
            answer = self._set.get(method.id)
        if answer is not None:
            self._stats.incr("canned_answers")
            return _reply(answer(request) if callable(answer) else answer)
        if method.id == ALGORITHMS_LIST:
            return json_reply({"algorithms": list(CANNED_ALGORITHMS)})
        if method.id == VALUE_COMPUTE:
            return json_reply({"result": None})
        if method.id in EXPORT_TYPES:
            return json_reply(self._export(EXPORT_TYPES[method.id], project, request, render))
        raise ApiError(
            "NOT_FOUND",
            f"The emulator has no answer for {method.id}: set one with Emulator.set_answer().",
        )

    def _export(
        self, op_type: str, project: str, request: RecordedRequest, render: Render
    ) -> dict[str, Any]:
        body = _body(request.body)
        request_id = body.get("requestId")
        if request_id is not None and not isinstance(request_id, str):
            raise ApiError("INVALID_ARGUMENT", "Invalid requestId: expected a string.")
        # One lock around find-or-create, so two racing retries of a requestId make one task.
        with self._lock:
            earlier = self._exports.get((project, request_id)) if request_id else None
            found = self._store.find(project, earlier) if earlier else None
            if found is not None:
                self._stats.incr("exports_deduplicated")
                return render(*found)
            description = body.get("description")
            op = self._store.add(
                NewOperation(
                    project=project,
                    type=op_type,
                    description=description if isinstance(description, str) else None,
                )
            )
            if request_id and len(self._exports) < _MAX_REQUEST_IDS:
                self._exports[(project, request_id)] = op.op_id
            self._stats.incr("exports_started")
        found = self._store.find(project, op.op_id)
        assert found is not None  # just created, under the emulator's control
        return render(*found)


def _body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "INVALID_ARGUMENT", "Invalid JSON payload received: the body is not JSON."
        ) from None
    if not isinstance(value, dict):
        raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received: expected an object.")
    return value


def _reply(result: Any) -> Reply:
    status, body = 200, result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, body = result
    if isinstance(body, (bytes, bytearray)):
        return Reply(status, bytes(body), "application/octet-stream")
    if isinstance(body, Mapping):
        body = dict(body)
    return Reply(status, dumps(body))
