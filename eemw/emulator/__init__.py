"""A local Earth Engine server for demos, tests and benchmarks, faithful by default.

A real HTTP/1.1 server on loopback speaking the operations API's wire format (get, list,
cancel, delete, wait in v1, v1beta and v1alpha), canned answers for the rest of Earth
Engine's REST methods (so earthengine-api runs against it), a token endpoint that
google-auth's own flows work against, per-project quotas, fault injection, and a record of
every request it received::

    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        creds = emu.credentials()          # refreshes against emu.url + "/token"
        emu.advance(60)                    # the operation finishes on the emulator clock

Decisions a client should know about (each default follows the real service; kindnesses are
explicit options):

- No Idempotency-Key replay: Earth Engine documents no such header, so by default the key is
  only recorded. `honour_idempotency_keys=True` models a deduping proxy: the first answer
  for a key is replayed for the same method and path, reusing it elsewhere is a 400.
  `cancel_effects`/`cancel_executions`/`delete_effects`/`delete_executions` and the stats
  count side effects as the server sees them.
- Cancel is asynchronous: right after `cancel` an operation is CANCELLING; it becomes
  CANCELLED (done, error.code 1) `cancel_delay` seconds later on the emulator clock (default
  2; 0 is an explicit kindness), unless it finishes first (cancel is best effort). Cancelling
  a CANCELLING operation answers {} again; cancelling a done one is 400 FAILED_PRECONDITION.
- Timestamps carry 0, 3 or 6 fractional digits, as the service writes them
  (earthengine-api parses them with %f); `hostile_timestamps=True` adds 9-digit ones.
- `list` answers newest first by create time; page tokens are cursors bound to the project
  and filter; `pageSize` is honoured up to `max_page_size` (default 1000), 50 when absent.
- `metadata.@type` names the version asked for; fields holding a zero value (progress 0,
  attempt 0, empty lists) are left out, as proto3 JSON does.
- Operations and access tokens age only on the emulator clock: `advance()` moves it, and
  `realtime=True` adds wall-clock time. `epoch` is the calendar time of clock 0: a fixed
  2026-01-01T00:00:00Z by default for reproducible tests, the wall time at construction when
  `realtime` (so age-based scripts see realistic times). `now_datetime` is the clock as a
  datetime and `add_operation(create_time=...)` back-dates an operation.
- Token expiry is checked on the emulator clock, so `advance(token_lifetime)` or
  `expire_tokens()` makes the next call a 401 while google-auth still believes its token is
  valid (exactly the refresh-on-401 path).
- Without `realtime`, `:wait` answers at once with the current state (allowed: best effort).
- Other Earth Engine methods are keyed by discovery id (`set_answer`): the algorithms list
  is a few real-format algorithms, value:compute answers {"result": null}, exports and
  imports create an operation of the matching type (deduplicated by the body's requestId,
  as Earth Engine documents), anything else is a 404 NOT_FOUND envelope.
- Quotas (`quota_qps`, `quota_concurrent`) are per quota project (X-Goog-User-Project, else
  the project in the URL), on real monotonic time; excess gets 429 RESOURCE_EXHAUSTED with
  ErrorInfo RATE_LIMIT_EXCEEDED and QuotaFailure details (RetryInfo if `quota_retry_info`).
- google-auth's `Credentials.from_authorized_user_info` always resets `token_uri` to Google,
  so build `Credentials(token_uri=...)` yourself from `authorized_user_info()` (as
  `credentials()` does). Service-account assertions may use either the emulator's token URI
  or Google's as `aud`, because google-auth always signs Google's.
- Faults and chaos hit API requests only, never `/token` or discovery; scripted faults come
  first, in insertion order, at most one fault per request. Chaos is reproducible for a seed
  when the requests arrive in the same order (one client thread). Front-end faults (status,
  html, drop_before) strike before the quota check; the others after the request ran.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._auth import CLOUD_SCOPE, EE_SCOPE
    from ._cli import serve
    from ._emulator import Emulator
    from ._faults import DEFAULT_CHAOS_MIX, FAULT_KINDS, Fault
    from ._records import EmulatorStats, RecordedRequest
    from ._seed import DEMO_OPERATIONS, seed_demo

__all__ = [
    "CLOUD_SCOPE",
    "DEFAULT_CHAOS_MIX",
    "DEMO_OPERATIONS",
    "EE_SCOPE",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "RecordedRequest",
    "seed_demo",
    "serve",
]

# Loaded on first use, so importing the demo dataset (as the `eemw` command does for its
# help text) does not pull in the server, cryptography and all.
_HOMES = {
    "CLOUD_SCOPE": "_auth",
    "EE_SCOPE": "_auth",
    "serve": "_cli",
    "Emulator": "_emulator",
    "DEFAULT_CHAOS_MIX": "_faults",
    "FAULT_KINDS": "_faults",
    "Fault": "_faults",
    "EmulatorStats": "_records",
    "RecordedRequest": "_records",
    "DEMO_OPERATIONS": "_seed",
    "seed_demo": "_seed",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
