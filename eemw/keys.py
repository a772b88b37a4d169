"""The context keys eemw defines: typed keys for values a request carries.

Each name here is a *key*, not the value it stands for: ``request.context.get(keys.CLOCK)``
is the client's clock, ``request.context.get(keys.ATTEMPT)`` the attempt number. A stage
reads per-call values with them; a plugin defines keys of its own with
:class:`eemw.ContextKey` (callers set those per call with ``context=``).

============================  ================================================  ===========
key                           value                                             set by
============================  ================================================  ===========
:data:`DEADLINE`              absolute deadline of the call, on the client's    the client
                              clock (``None``: none)
:data:`ATTEMPT`               zero-based retry attempt of the call              retry
:data:`IDEMPOTENCY_KEY`       the mutating call's idempotency key               idempotency
:data:`TRACE_ATTRIBUTES`      extra attributes for the call's span              the client
:data:`RETRY_POLICY`          this call's :class:`~eemw.RetryPolicy` override   the client
:data:`CALLER_IDENTITY`       the credentials' account e-mail, or ``None``      the client
:data:`CLOCK`                 the client's monotonic clock                      the client
:data:`SLEEP`                 the client's sleep                                the client
============================  ================================================  ===========
"""

from __future__ import annotations

from ._keys import ATTEMPT, CLOCK, DEADLINE, IDEMPOTENCY_KEY, SLEEP, TRACE_ATTRIBUTES
from ._plugins import CALLER_IDENTITY
from .middleware.retry import RETRY_POLICY

__all__ = [
    "ATTEMPT",
    "CALLER_IDENTITY",
    "CLOCK",
    "DEADLINE",
    "IDEMPOTENCY_KEY",
    "RETRY_POLICY",
    "SLEEP",
    "TRACE_ATTRIBUTES",
]
