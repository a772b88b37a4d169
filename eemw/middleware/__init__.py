"""The built-in stages, one per module, and what configures them.

=============  =======  =====================================================================
stage          phase    class
=============  =======  =====================================================================
tracing        call     :class:`Tracing`: one INTERNAL span and the metrics of each call
idempotency    call     :class:`Idempotency`: one key per mutating call, a replay cache
retry          call     :class:`Retry` (:class:`RetryPolicy`, :class:`RetryBudget`)
auth           attempt  :class:`Auth`: credentials, scopes, the bearer header
check          attempt  :class:`Check`: non-2xx statuses become typed errors
http-tracing   attempt  :class:`HttpTracing`: one CLIENT span per HTTP send
=============  =======  =====================================================================

Each is usable on its own in any :class:`~eemw.Stack`, and a client takes your own in
place of one: ``eemw.Client(replace={"retry": MyRetry()})``. :func:`decide` is the retry
stage's pure transition (a :class:`RetryState` and an error in, a :class:`Decision` out),
for a retry stage of your own that keeps eemw's rules. The modules' other helpers are not
part of the API and may change.
"""

from .._stages import BUILTIN_STAGES
from .auth import Auth
from .check import Check
from .idempotency import Idempotency
from .retry import Decision, Retry, RetryBudget, RetryPolicy, RetryState, decide
from .tracing import HttpTracing, Tracing

__all__ = [
    "BUILTIN_STAGES",
    "Auth",
    "Check",
    "Decision",
    "HttpTracing",
    "Idempotency",
    "Retry",
    "RetryBudget",
    "RetryPolicy",
    "RetryState",
    "Tracing",
    "decide",
]
