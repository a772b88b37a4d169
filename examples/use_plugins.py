"""Enable installed plugins by name: ``ratelimit`` and ``audit``.

Shows how third-party stages join the pipeline. Installing a plugin changes nothing;
naming it enables it, with its settings:

- ``ratelimit`` (eemw-ratelimit): a client-side token bucket per quota project, in the
  attempt phase after ``auth``, so every attempt is paced;
- ``audit`` (eemw-audit): one JSON line per cancel or delete, in the call phase after
  ``idempotency``, here appended to a temporary file.

The same works without code changes: ``EEMW_PLUGINS=ratelimit,audit`` and
``EEMW_PLUGIN_<NAME>_<KEY>=value``. The plugins live in this repository under plugins/;
install them as a user would (``make`` does this for you):

    pip install plugins/eemw-ratelimit plugins/eemw-audit
    python examples/use_plugins.py
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import eemw
from eemw.emulator import Emulator

WANTED = ("ratelimit", "audit")


def main() -> int:
    installed = {p.name: p for p in eemw.installed_plugins()}
    missing = [name for name in WANTED if name not in installed]
    if missing:
        print(f"not installed: {', '.join(missing)}; run: "
              "pip install plugins/eemw-ratelimit plugins/eemw-audit", file=sys.stderr)
        return 1
    for name in WANTED:
        info = installed[name]
        print(f"installed: {name} from {info.distribution} {info.version} ({info.target})")

    with tempfile.TemporaryDirectory() as tmp, Emulator() as emu:
        audit_file = Path(tmp) / "audit.jsonl"
        names = [emu.add_operation("demo", state="RUNNING", description=f"export {i}")
                 for i in range(6)]
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            plugins=list(WANTED),
            plugin_settings={
                "ratelimit": {"qps": "20", "burst": "2"},
                "audit": {"path": str(audit_file), "identity": "example@demo"},
            },
        ) as client:
            print("\nThe resolved stack with both plugins (outermost first):")
            print(client.stack.describe())

            started = time.monotonic()
            for name in names:
                client.operations.get(name)
            took = time.monotonic() - started
            print(f"\n6 gets at qps=20, burst=2 took {took:.2f}s (paced by ratelimit)")

            client.operations.cancel(names[0])
            client.operations.delete(names[1])
            with contextlib.suppress(eemw.NotFoundError):
                client.operations.cancel("projects/demo/operations/NO_SUCH_TASK")

        print(f"\naudit records in {audit_file.name}:")
        for line in audit_file.read_text().splitlines():
            record = json.loads(line)
            print(f"  {record['call']:<17} {record['operation'].rsplit('/', 1)[1]:<24} "
                  f"{record['outcome']:<5} {record['error_code'] or ''} by {record['identity']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
