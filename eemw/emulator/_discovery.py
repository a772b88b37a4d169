"""A discovery document for the Earth Engine API, so generated clients (earthengine-api's
googleapiclient) can target the emulator: projects.operations, and every method of the
table in `_methods` with the ids, paths and parameters Earth Engine's own document has."""

from __future__ import annotations

from typing import Any

from ._auth import CLOUD_SCOPE, EE_SCOPE
from ._methods import METHODS, Method

JsonObject = dict[str, Any]

_SCOPES = {
    EE_SCOPE: "View and manage your Google Earth Engine data",
    CLOUD_SCOPE: "See, edit, configure, and delete your Google Cloud data",
}
_OP_NAME_PATTERN = "^projects/[^/]+/operations/[^/]+$"
_STANDARD_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("$.xgafv", "string", "V1 error format."),
    ("access_token", "string", "OAuth access token."),
    ("alt", "string", "Data format for response."),
    ("callback", "string", "JSONP"),
    ("fields", "string", "Selector specifying which fields to include in a partial response."),
    ("key", "string", "API key."),
    ("oauth_token", "string", "OAuth 2.0 token for the current user."),
    ("prettyPrint", "boolean", "Returns response with indentations and line breaks."),
    ("quotaUser", "string", "Quota attribution user."),
    ("uploadType", "string", "Legacy upload protocol for media."),
    ("upload_protocol", "string", "Upload protocol for media."),
)


def discovery_document(root_url: str, version: str) -> JsonObject:
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"earthengine:{version}",
        "name": "earthengine",
        "version": version,
        "revision": "20260101",
        "title": "Google Earth Engine API (eemw emulator)",
        "description": "Earth Engine long-running operations, served by the eemw emulator.",
        "protocol": "rest",
        "rootUrl": root_url,
        "mtlsRootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "basePath": "",
        "batchPath": "batch",
        "ownerDomain": "google.com",
        "ownerName": "Google",
        "parameters": _standard_parameters(),
        "auth": {"oauth2": {"scopes": {s: {"description": d} for s, d in _SCOPES.items()}}},
        "schemas": _schemas(),
        "resources": {"projects": _resources(version)},
    }


def _standard_parameters() -> JsonObject:
    params: JsonObject = {
        name: {"type": kind, "description": text, "location": "query"}
        for name, kind, text in _STANDARD_PARAMETERS
    }
    params["prettyPrint"]["default"] = "true"
    params["alt"].update({"default": "json", "enum": ["json", "media", "proto"]})
    params["$.xgafv"]["enum"] = ["1", "2"]
    return params


def _name_parameter(pattern: str, text: str) -> JsonObject:
    return {
        "type": "string",
        "required": True,
        "location": "path",
        "pattern": pattern,
        "description": text,
    }


def _method(version: str, verb: str, http: str, path: str, flat: str, response: str) -> JsonObject:
    return {
        "id": f"earthengine.projects.operations.{verb}",
        "path": f"{version}/{path}",
        "flatPath": f"{version}/{flat}",
        "httpMethod": http,
        "parameters": {
            "name": _name_parameter(_OP_NAME_PATTERN, "The name of the operation resource.")
        },
        "parameterOrder": ["name"],
        "response": {"$ref": response},
        "scopes": sorted(_SCOPES),
    }


def _methods(version: str) -> JsonObject:
    op_flat = "projects/{projectsId}/operations/{operationsId}"
    cancel = _method(version, "cancel", "POST", "{+name}:cancel", op_flat + ":cancel", "Empty")
    cancel["request"] = {"$ref": "CancelOperationRequest"}
    wait = _method(version, "wait", "POST", "{+name}:wait", op_flat + ":wait", "Operation")
    wait["request"] = {"$ref": "WaitOperationRequest"}
    return {
        "get": _method(version, "get", "GET", "{+name}", op_flat, "Operation"),
        "list": _list_method(version),
        "cancel": cancel,
        "delete": _method(version, "delete", "DELETE", "{+name}", op_flat, "Empty"),
        "wait": wait,
    }


def _list_method(version: str) -> JsonObject:
    method = _method(
        version,
        "list",
        "GET",
        "{+name}/operations",
        "projects/{projectsId}/operations",
        "ListOperationsResponse",
    )
    method["parameters"] = {
        "name": _name_parameter("^projects/[^/]+$", "The name of the operation's parent resource."),
        "filter": {
            "type": "string",
            "location": "query",
            "description": "The standard list filter.",
        },
        "pageSize": {
            "type": "integer",
            "format": "int32",
            "location": "query",
            "description": "Page size.",
        },
        "pageToken": {
            "type": "string",
            "location": "query",
            "description": "The standard list page token.",
        },
    }
    return method


def _resources(version: str) -> JsonObject:
    """The `projects` resource: operations, then the tree of the other methods by id."""
    projects: JsonObject = {"resources": {"operations": {"methods": _methods(version)}}}
    for method in METHODS:
        node = projects
        for resource in method.resource_path[1:]:
            node = node.setdefault("resources", {}).setdefault(resource, {})
        node.setdefault("methods", {})[method.verb] = _described(version, method)
    return projects


def _described(version: str, method: Method) -> JsonObject:
    parameters: JsonObject = {}
    for name, pattern in method.params:
        parameter: JsonObject = {"type": "string", "required": True, "location": "path"}
        if pattern:
            parameter["pattern"] = pattern
        parameters[name] = parameter
    described: JsonObject = {
        "id": method.id,
        "path": f"{version}/{method.path}",
        "flatPath": f"{version}/{method.path}",
        "httpMethod": method.http,
        "parameters": parameters,
        "parameterOrder": [name for name, _ in method.params],
        "response": {"$ref": method.response},
        "scopes": sorted(_SCOPES),
    }
    if method.request is not None:
        described["request"] = {"$ref": method.request}
    return described


def _ref(name: str) -> JsonObject:
    return {"$ref": name}


def _object(schema_id: str, properties: JsonObject) -> JsonObject:
    return {"id": schema_id, "type": "object", "properties": properties}


def _schemas() -> JsonObject:
    any_object = {"type": "object", "additionalProperties": {"type": "any"}}
    string = {"type": "string"}
    return {
        "Operation": _object(
            "Operation",
            {
                "name": string,
                "metadata": any_object,
                "done": {"type": "boolean"},
                "error": _ref("Status"),
                "response": any_object,
            },
        ),
        "Status": _object(
            "Status",
            {
                "code": {"type": "integer", "format": "int32"},
                "message": string,
                "details": {"type": "array", "items": any_object},
            },
        ),
        "Empty": _object("Empty", {}),
        "CancelOperationRequest": _object("CancelOperationRequest", {}),
        "WaitOperationRequest": _object(
            "WaitOperationRequest", {"timeout": {"type": "string", "format": "google-duration"}}
        ),
        "ListOperationsResponse": _object(
            "ListOperationsResponse",
            {"operations": {"type": "array", "items": _ref("Operation")}, "nextPageToken": string},
        ),
        "JsonObject": {
            "id": "JsonObject", "type": "object", "additionalProperties": {"type": "any"}
        },
        "ListAlgorithmsResponse": _object(
            "ListAlgorithmsResponse", {"algorithms": {"type": "array", "items": any_object}}
        ),
        "OperationMetadata": _metadata_schema(),
        "OperationStage": _object(
            "OperationStage",
            {
                "displayName": string,
                "description": string,
                "completeWorkUnits": {"type": "integer", "format": "int32"},
                "totalWorkUnits": {"type": "string", "format": "int64"},
            },
        ),
        "OperationNotification": _object(
            "OperationNotification", {"severity": string, "topic": string, "detail": string}
        ),
    }


def _metadata_schema() -> JsonObject:
    string = {"type": "string"}
    timestamp = {"type": "string", "format": "google-datetime"}
    states = [
        "STATE_UNSPECIFIED",
        "PENDING",
        "RUNNING",
        "CANCELLING",
        "SUCCEEDED",
        "CANCELLED",
        "FAILED",
    ]
    return _object(
        "OperationMetadata",
        {
            "state": {"type": "string", "enum": states},
            "description": string,
            "type": string,
            "priority": {"type": "integer", "format": "int32"},
            "createTime": timestamp,
            "updateTime": timestamp,
            "startTime": timestamp,
            "endTime": timestamp,
            "progress": {"type": "number", "format": "double"},
            "stages": {"type": "array", "items": _ref("OperationStage")},
            "attempt": {"type": "integer", "format": "int32"},
            "scriptUri": string,
            "destinationUris": {"type": "array", "items": string},
            "notifications": {"type": "array", "items": _ref("OperationNotification")},
            "batchEecuUsageSeconds": {"type": "number", "format": "double"},
        },
    )
