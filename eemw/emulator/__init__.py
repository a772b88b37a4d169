"""A local Earth Engine operations server for demos, tests and benchmarks.

A real HTTP/1.1 server on loopback speaking the operations API's wire format (get, list,
cancel, delete, wait in v1, v1beta and v1alpha), with a token endpoint that google-auth's
own flows work against, fault injection, and a record of every request it received::

    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        creds = emu.credentials()          # refreshes against emu.url + "/token"
        emu.advance(60)                    # the operation finishes on the emulator clock

Decisions a client should know about:

- Operations and access tokens age only on the emulator clock: `advance()` moves it, and
  `realtime=True` adds wall-clock time. Token expiry is checked on that clock, so
  `advance(token_lifetime)` or `expire_tokens()` makes the next call a 401 while google-auth
  still believes its token is valid (exactly the refresh-on-401 path).
- Without `realtime`, `:wait` answers at once with the current state (allowed: best effort).
- google-auth's `Credentials.from_authorized_user_info` always resets `token_uri` to Google,
  so build `Credentials(token_uri=...)` yourself from `authorized_user_info()` (as
  `credentials()` does). Service-account assertions may use either the emulator's token URI
  or Google's as `aud`, because google-auth always signs Google's.
- An `Idempotency-Key` on cancel/delete replays the first recorded answer for the same
  method and path; reusing the key elsewhere is a 400 INVALID_ARGUMENT.
- Faults and chaos hit API requests only, never `/token` or discovery; scripted faults come
  first, in insertion order, at most one fault per request. Chaos is reproducible for a seed
  when the requests arrive in the same order (one client thread).
"""

from ._auth import CLOUD_SCOPE, EE_SCOPE
from ._cli import serve
from ._emulator import Emulator
from ._faults import DEFAULT_CHAOS_MIX, FAULT_KINDS, Fault
from ._records import EmulatorStats, RecordedRequest

__all__ = [
    "CLOUD_SCOPE",
    "DEFAULT_CHAOS_MIX",
    "EE_SCOPE",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorStats",
    "Fault",
    "RecordedRequest",
    "serve",
]
