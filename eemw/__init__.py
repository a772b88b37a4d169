"""eemw: a typed, observable middleware SDK for the Earth Engine operations API.

Every public name is exported here; the modules behind them are private.

Names load on first use (PEP 562): ``import eemw`` costs almost nothing, and a process that
only needs ``eemw.Operation`` or the CLI's ``--help`` never builds the client stack. Type
checkers see ordinary imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import API_VERSIONS, DEFAULT_ENDPOINT, Client
    from ._config import ENVIRONMENT, EnvVar
    from ._errors import (
        RPC_CODES,
        AbortedError,
        AlreadyExistsError,
        ApiError,
        CancelledError,
        ConnectError,
        ConnectTimeoutError,
        DeadlineExceededError,
        EemwError,
        FailedPreconditionError,
        InsecureTransportError,
        InternalError,
        InvalidArgumentError,
        InvalidHeaderError,
        InvalidNameError,
        MalformedResponseError,
        NotFoundError,
        OperationFailedError,
        OutOfRangeError,
        PermissionDeniedError,
        PluginError,
        ReadError,
        ReadTimeoutError,
        ResourceExhaustedError,
        RetryExhaustedError,
        ServerDeadlineExceededError,
        TimedOutError,
        TransportError,
        UnauthenticatedError,
        UnavailableError,
        UnimplementedError,
        UsageError,
    )
    from ._http import Call, CallKind, Context, ContextKey, Headers, Request, Response
    from ._keys import ATTEMPT, CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES
    from ._models import (
        Notification,
        Operation,
        OperationMetadata,
        OperationName,
        Stage,
        State,
        Status,
    )
    from ._operations import DeleteResult, Operations
    from ._pipeline import Entry, Handler, Middleware, Phase, Pipeline, Stack, StackError
    from ._plugins import (
        CALLER_IDENTITY,
        ENTRY_POINT_GROUP,
        PluginInfo,
        PluginSettingError,
        PluginSettings,
        installed_plugins,
    )
    from ._queue_metrics import QueueMetrics
    from ._results import CancelOutcome, CancelResult, WaitResult
    from ._transport import RequestsTransport
    from ._validate import DEFAULT_TIMEOUTS
    from ._version import __version__
    from ._watch_model import OperationChange
    from ._watch_stream import OperationWatch
    from .middleware.auth import (
        CLOUD_PLATFORM_SCOPE,
        DEFAULT_SCOPES,
        EARTHENGINE_SCOPE,
        REQUIRED_SCOPES,
        Auth,
        MissingScopeWarning,
    )
    from .middleware.check import Check
    from .middleware.idempotency import Idempotency
    from .middleware.retry import (
        RETRY_POLICY,
        Decision,
        Retry,
        RetryBudget,
        RetryPolicy,
        RetryState,
    )
    from .middleware.tracing import Tracing

# Each public name and the private module that defines it.
_EXPORTS: dict[str, str] = {
    "API_VERSIONS": "._client",
    "ATTEMPT": "._keys",
    "AbortedError": "._errors",
    "AlreadyExistsError": "._errors",
    "ApiError": "._errors",
    "Auth": ".middleware.auth",
    "CALLER_IDENTITY": "._plugins",
    "CLOCK": "._keys",
    "CLOUD_PLATFORM_SCOPE": ".middleware.auth",
    "Call": "._http",
    "CallKind": "._http",
    "CancelOutcome": "._results",
    "CancelResult": "._results",
    "CancelledError": "._errors",
    "Check": ".middleware.check",
    "Client": "._client",
    "ConnectError": "._errors",
    "ConnectTimeoutError": "._errors",
    "Context": "._http",
    "ContextKey": "._http",
    "DEADLINE": "._keys",
    "DEFAULT_ENDPOINT": "._client",
    "DEFAULT_SCOPES": ".middleware.auth",
    "DEFAULT_TIMEOUTS": "._validate",
    "ENVIRONMENT": "._config",
    "EnvVar": "._config",
    "DeadlineExceededError": "._errors",
    "DeleteResult": "._operations",
    "Decision": ".middleware.retry",
    "EARTHENGINE_SCOPE": ".middleware.auth",
    "ENTRY_POINT_GROUP": "._plugins",
    "EemwError": "._errors",
    "Entry": "._pipeline",
    "FailedPreconditionError": "._errors",
    "Handler": "._pipeline",
    "Headers": "._http",
    "IDEMPOTENCY_KEY": "._keys",
    "Idempotency": ".middleware.idempotency",
    "InsecureTransportError": "._errors",
    "InternalError": "._errors",
    "InvalidArgumentError": "._errors",
    "InvalidHeaderError": "._errors",
    "InvalidNameError": "._errors",
    "MalformedResponseError": "._errors",
    "Middleware": "._pipeline",
    "MissingScopeWarning": ".middleware.auth",
    "NotFoundError": "._errors",
    "Notification": "._models",
    "Operation": "._models",
    "OperationChange": "._watch_model",
    "OperationFailedError": "._errors",
    "OperationMetadata": "._models",
    "OperationName": "._models",
    "OperationWatch": "._watch_stream",
    "Operations": "._operations",
    "OutOfRangeError": "._errors",
    "PermissionDeniedError": "._errors",
    "Phase": "._pipeline",
    "Pipeline": "._pipeline",
    "PluginError": "._errors",
    "PluginInfo": "._plugins",
    "PluginSettingError": "._plugins",
    "PluginSettings": "._plugins",
    "REQUIRED_SCOPES": ".middleware.auth",
    "RETRY_POLICY": ".middleware.retry",
    "RPC_CODES": "._errors",
    "QueueMetrics": "._queue_metrics",
    "ReadError": "._errors",
    "ReadTimeoutError": "._errors",
    "Request": "._http",
    "RequestsTransport": "._transport",
    "ResourceExhaustedError": "._errors",
    "Response": "._http",
    "Retry": ".middleware.retry",
    "RetryBudget": ".middleware.retry",
    "RetryExhaustedError": "._errors",
    "RetryPolicy": ".middleware.retry",
    "RetryState": ".middleware.retry",
    "SLEEP": "._keys",
    "ServerDeadlineExceededError": "._errors",
    "TimedOutError": "._errors",
    "Stack": "._pipeline",
    "StackError": "._pipeline",
    "Stage": "._models",
    "State": "._models",
    "Status": "._models",
    "TRACE_ATTRIBUTES": "._keys",
    "Tracing": ".middleware.tracing",
    "TransportError": "._errors",
    "UnauthenticatedError": "._errors",
    "UnavailableError": "._errors",
    "UnimplementedError": "._errors",
    "UsageError": "._errors",
    "WaitResult": "._results",
    "__version__": "._version",
    "installed_plugins": "._plugins",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eemw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "API_VERSIONS",
    "ATTEMPT",
    "CALLER_IDENTITY",
    "CLOCK",
    "CLOUD_PLATFORM_SCOPE",
    "DEADLINE",
    "DEFAULT_ENDPOINT",
    "DEFAULT_SCOPES",
    "DEFAULT_TIMEOUTS",
    "EARTHENGINE_SCOPE",
    "ENTRY_POINT_GROUP",
    "ENVIRONMENT",
    "IDEMPOTENCY_KEY",
    "REQUIRED_SCOPES",
    "RETRY_POLICY",
    "RPC_CODES",
    "SLEEP",
    "TRACE_ATTRIBUTES",
    "AbortedError",
    "AlreadyExistsError",
    "ApiError",
    "Auth",
    "Call",
    "CallKind",
    "CancelOutcome",
    "CancelResult",
    "CancelledError",
    "Check",
    "Client",
    "ConnectError",
    "ConnectTimeoutError",
    "Context",
    "ContextKey",
    "DeadlineExceededError",
    "Decision",
    "DeleteResult",
    "EemwError",
    "Entry",
    "EnvVar",
    "FailedPreconditionError",
    "Handler",
    "Headers",
    "Idempotency",
    "InsecureTransportError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHeaderError",
    "InvalidNameError",
    "MalformedResponseError",
    "Middleware",
    "MissingScopeWarning",
    "NotFoundError",
    "Notification",
    "Operation",
    "OperationChange",
    "OperationFailedError",
    "OperationMetadata",
    "OperationName",
    "OperationWatch",
    "Operations",
    "OutOfRangeError",
    "PermissionDeniedError",
    "Phase",
    "Pipeline",
    "PluginError",
    "PluginInfo",
    "PluginSettingError",
    "PluginSettings",
    "QueueMetrics",
    "ReadError",
    "ReadTimeoutError",
    "Request",
    "RequestsTransport",
    "ResourceExhaustedError",
    "Response",
    "Retry",
    "RetryBudget",
    "RetryExhaustedError",
    "RetryPolicy",
    "RetryState",
    "ServerDeadlineExceededError",
    "Stack",
    "StackError",
    "Stage",
    "State",
    "Status",
    "TimedOutError",
    "Tracing",
    "TransportError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UsageError",
    "WaitResult",
    "__version__",
    "installed_plugins",
]
