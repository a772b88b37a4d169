"""eemw: a typed, observable middleware SDK for the Earth Engine operations API.

Every public name is exported here or from a public module that groups its kind:
:mod:`eemw.errors` (every exception), :mod:`eemw.keys` (the context keys),
:mod:`eemw.middleware` (the built-in stages), :mod:`eemw.testing` and
:mod:`eemw.emulator`. The modules whose names start with ``_`` are private.

Names load on first use (PEP 562): ``import eemw`` costs almost nothing, and a process that
only needs ``eemw.Operation`` or the CLI's ``--help`` never builds the client stack.

:data:`_EXPORTS` is the one list of the flat names; the ``TYPE_CHECKING`` block repeats it
as imports only because type checkers cannot read a mapping (a test keeps the two equal),
and ``__all__`` is derived from it. A name that moved keeps working for one minor version
with a :class:`DeprecationWarning` (:data:`_MOVED`).
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import errors as errors
    from . import keys as keys
    from . import middleware as middleware
    from ._client import API_VERSIONS as API_VERSIONS
    from ._client import DEFAULT_ENDPOINT as DEFAULT_ENDPOINT
    from ._client import Client as Client
    from ._config import ENVIRONMENT as ENVIRONMENT
    from ._config import EnvVar as EnvVar
    from ._errors import AbortedError as AbortedError
    from ._errors import AlreadyExistsError as AlreadyExistsError
    from ._errors import ApiError as ApiError
    from ._errors import ConnectError as ConnectError
    from ._errors import ConnectTimeoutError as ConnectTimeoutError
    from ._errors import DeadlineExceededError as DeadlineExceededError
    from ._errors import EemwError as EemwError
    from ._errors import FailedPreconditionError as FailedPreconditionError
    from ._errors import InsecureTransportError as InsecureTransportError
    from ._errors import InternalError as InternalError
    from ._errors import InvalidArgumentError as InvalidArgumentError
    from ._errors import InvalidHeaderError as InvalidHeaderError
    from ._errors import InvalidNameError as InvalidNameError
    from ._errors import MalformedResponseError as MalformedResponseError
    from ._errors import NotFoundError as NotFoundError
    from ._errors import OperationFailedError as OperationFailedError
    from ._errors import OutOfRangeError as OutOfRangeError
    from ._errors import PermissionDeniedError as PermissionDeniedError
    from ._errors import PluginError as PluginError
    from ._errors import ReadError as ReadError
    from ._errors import ReadTimeoutError as ReadTimeoutError
    from ._errors import RequestCancelledError as RequestCancelledError
    from ._errors import ResourceExhaustedError as ResourceExhaustedError
    from ._errors import RetryExhaustedError as RetryExhaustedError
    from ._errors import ServerDeadlineExceededError as ServerDeadlineExceededError
    from ._errors import TimedOutError as TimedOutError
    from ._errors import TransportError as TransportError
    from ._errors import UnauthenticatedError as UnauthenticatedError
    from ._errors import UnavailableError as UnavailableError
    from ._errors import UnimplementedError as UnimplementedError
    from ._errors import UsageError as UsageError
    from ._http import Call as Call
    from ._http import CallKind as CallKind
    from ._http import Context as Context
    from ._http import ContextKey as ContextKey
    from ._http import Headers as Headers
    from ._http import Request as Request
    from ._http import Response as Response
    from ._keys import CallContext as CallContext
    from ._keys import CallOptions as CallOptions
    from ._models import Notification as Notification
    from ._models import Operation as Operation
    from ._models import OperationMetadata as OperationMetadata
    from ._models import OperationName as OperationName
    from ._models import OperationStage as OperationStage
    from ._models import State as State
    from ._models import Status as Status
    from ._operations import DeleteResult as DeleteResult
    from ._operations import Operations as Operations
    from ._pipeline import Closeable as Closeable
    from ._pipeline import Entry as Entry
    from ._pipeline import Handler as Handler
    from ._pipeline import Middleware as Middleware
    from ._pipeline import MiddlewareError as MiddlewareError
    from ._pipeline import Phase as Phase
    from ._pipeline import Pipeline as Pipeline
    from ._pipeline import Stack as Stack
    from ._pipeline import StackError as StackError
    from ._plugins import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
    from ._plugins import PluginInfo as PluginInfo
    from ._plugins import PluginSettingError as PluginSettingError
    from ._plugins import installed_plugins as installed_plugins
    from ._queue_metrics import QueueMetrics as QueueMetrics
    from ._results import CancelOutcome as CancelOutcome
    from ._results import CancelResult as CancelResult
    from ._results import WaitResult as WaitResult
    from ._settings import PluginSettings as PluginSettings
    from ._transport import RequestsTransport as RequestsTransport
    from ._validate import DEFAULT_TIMEOUTS as DEFAULT_TIMEOUTS
    from ._version import __version__ as __version__
    from ._watch_model import OperationChange as OperationChange
    from ._watch_stream import OperationWatch as OperationWatch
    from .middleware.auth import CLOUD_PLATFORM_SCOPE as CLOUD_PLATFORM_SCOPE
    from .middleware.auth import DEFAULT_SCOPES as DEFAULT_SCOPES
    from .middleware.auth import EARTHENGINE_SCOPE as EARTHENGINE_SCOPE
    from .middleware.auth import REQUIRED_SCOPES as REQUIRED_SCOPES
    from .middleware.auth import MissingScopeWarning as MissingScopeWarning
    from .middleware.retry import RetryBudget as RetryBudget
    from .middleware.retry import RetryPolicy as RetryPolicy

# The one list: each module and the public names it gives. A module named "" gives
# public submodules.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "": ("errors", "keys", "middleware"),
    "._client": ("API_VERSIONS", "DEFAULT_ENDPOINT", "Client"),
    "._config": ("ENVIRONMENT", "EnvVar"),
    "._errors": (
        "AbortedError", "AlreadyExistsError", "ApiError", "ConnectError",
        "ConnectTimeoutError", "DeadlineExceededError", "EemwError", "FailedPreconditionError",
        "InsecureTransportError", "InternalError", "InvalidArgumentError",
        "InvalidHeaderError", "InvalidNameError", "MalformedResponseError", "NotFoundError",
        "OperationFailedError", "OutOfRangeError", "PermissionDeniedError", "PluginError",
        "ReadError", "ReadTimeoutError", "RequestCancelledError", "ResourceExhaustedError",
        "RetryExhaustedError", "ServerDeadlineExceededError", "TimedOutError", "TransportError",
        "UnauthenticatedError", "UnavailableError", "UnimplementedError", "UsageError",
    ),
    "._http": ("Call", "CallKind", "Context", "ContextKey", "Headers", "Request", "Response"),
    "._keys": ("CallContext", "CallOptions"),
    "._models": (
        "Notification", "Operation", "OperationMetadata", "OperationName", "OperationStage",
        "State", "Status",
    ),
    "._operations": ("DeleteResult", "Operations"),
    "._pipeline": (
        "Closeable", "Entry", "Handler", "Middleware", "MiddlewareError", "Phase", "Pipeline",
        "Stack", "StackError",
    ),
    "._plugins": ("ENTRY_POINT_GROUP", "PluginInfo", "PluginSettingError", "installed_plugins"),
    "._settings": ("PluginSettings",),
    "._queue_metrics": ("QueueMetrics",),
    "._results": ("CancelOutcome", "CancelResult", "WaitResult"),
    "._transport": ("RequestsTransport",),
    "._validate": ("DEFAULT_TIMEOUTS",),
    "._version": ("__version__",),
    "._watch_model": ("OperationChange",),
    "._watch_stream": ("OperationWatch",),
    ".middleware.auth": (
        "CLOUD_PLATFORM_SCOPE", "DEFAULT_SCOPES", "EARTHENGINE_SCOPE", "REQUIRED_SCOPES",
        "MissingScopeWarning",
    ),
    ".middleware.retry": ("RetryBudget", "RetryPolicy"),
}

# Names that moved: old flat name -> (public module, name there). They warn on use and
# go in the next minor version.
_MOVED: dict[str, tuple[str, str]] = {
    "Stage": ("eemw", "OperationStage"),
    "CancelledError": ("eemw", "RequestCancelledError"),
    "RPC_CODES": ("eemw.errors", "RPC_CODES"),
    **{key: ("eemw.keys", key) for key in (
        "ATTEMPT", "CALLER_IDENTITY", "CLOCK", "DEADLINE", "IDEMPOTENCY_KEY", "RETRY_POLICY",
        "SLEEP", "TRACE_ATTRIBUTES",
    )},
    **{stage: ("eemw.middleware", stage) for stage in (
        "Auth", "Check", "Decision", "Idempotency", "Retry", "RetryState", "Tracing",
    )},
}

_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)  # noqa: PLE0605


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is not None:
        if module:
            value = getattr(importlib.import_module(module, __name__), name)
        else:
            value = importlib.import_module(f".{name}", __name__)
        globals()[name] = value  # later lookups skip this function
        return value
    moved = _MOVED.get(name)
    if moved is None:
        raise AttributeError(f"module 'eemw' has no attribute {name!r}")
    home, new = moved
    warnings.warn(
        f"eemw.{name} is deprecated and goes in the next minor version: use {home}.{new}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), new)


def __dir__() -> list[str]:
    return __all__
