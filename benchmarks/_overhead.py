"""Stack overhead: the default stack over MockTransport, one stage at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._config import Config
from ._measure import Section, Table, interleaved_batches

EE_SCOPE = "https://www.googleapis.com/auth/earthengine"
NAME = "projects/demo/operations/BENCHMARK0123456789"
# Stages are added in this order, innermost first, so each row adds one stage.
STAGES = ("check", "auth", "retry", "idempotency", "tracing")
# Tracing is two stages: the call span, and the attempt span above the transport.
_COMPANIONS = {"tracing": ("http-tracing",)}

OPERATION: dict[str, Any] = {
    "name": NAME,
    "metadata": {
        "@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
        "state": "RUNNING", "description": "export_ndvi_2024", "type": "EXPORT_IMAGE",
        "priority": 100, "createTime": "2024-05-01T10:00:00.123456Z",
        "updateTime": "2024-05-01T10:05:00Z", "startTime": "2024-05-01T10:00:05.5Z",
        "progress": 0.42, "attempt": 1,
        "stages": [{"displayName": "Create Local Files", "completeWorkUnits": 1,
                    "totalWorkUnits": 1, "description": "Computation of temporary files."}],
        "scriptUri": "https://code.earthengine.google.com/?scriptPath=users/demo/ndvi",
        "destinationUris": ["https://drive.google.com/#folders/demo"],
        "batchEecuUsageSeconds": 12.5,
    },
    "done": False,
}


def bodies() -> dict[str, bytes]:
    """The canned success body of each call kind (list: a page of 10)."""
    page = {"operations": [{**OPERATION, "name": f"{NAME[:-2]}{i:02d}"} for i in range(10)]}
    return {
        "get": json.dumps(OPERATION).encode(), "wait": json.dumps(OPERATION).encode(),
        "cancel": b"{}", "delete": b"{}", "list": json.dumps(page).encode(),
    }


def canned_transport() -> Callable[[Any], Any]:
    """A transport answering every call with its canned body, recording nothing."""
    import eemw

    answers = bodies()
    headers = eemw.Headers({"Content-Type": "application/json"})

    def send(request: Any) -> Any:
        return eemw.Response(200, headers, answers[request.call.kind], request)

    return send


def credentials() -> Any:
    """Credentials with a token that never expires: auth never refreshes in a benchmark."""
    from google.oauth2.credentials import Credentials

    return Credentials("benchmark-token", scopes=[EE_SCOPE])


def run(cfg: Config, raw_get_ns: float | None) -> Section:
    import eemw
    from eemw.testing import MockTransport

    section = Section(
        "Stack overhead (MockTransport)",
        "The default stack over `eemw.testing.MockTransport` (canned bodies, https endpoint, a "
        "token that never expires), against the bare transport call. Rows add one stage at a "
        f"time; µs per call, the best of {cfg.overhead_rounds} interleaved batches of "
        f"{cfg.overhead_batch} calls (the least disturbed by other work on the machine). Δ is "
        "what the row's stage adds.",
    )
    canned = canned_transport()
    mock = MockTransport(canned)
    captured: dict[str, Any] = {}

    def capture(request: Any, call_next: Any) -> Any:
        captured[request.call.kind] = request
        return call_next(request)

    probe = eemw.Client("demo", credentials=credentials(), transport=mock,
                        middleware=[eemw.Entry("capture", capture, "call", before="tracing")])
    probe.operations.get(NAME, timeout=86_400)
    probe.operations.cancel(NAME, timeout=86_400)
    entries = [e for e in probe.stack.entries if e.name != "capture"]
    client = eemw.Client("demo", credentials=credentials(), transport=mock)

    rows: dict[str, dict[str, Callable[[], object]]] = {}
    for kind in ("get", "cancel"):
        request = captured[kind]
        rows.setdefault("transport only", {})[kind] = _bind(mock, request)
        for i, stage in enumerate(STAGES):
            names = {n for s in STAGES[: i + 1] for n in (s, *_COMPANIONS.get(s, ()))}
            pipeline = eemw.Stack([e for e in entries if e.name in names]).build(mock)
            label = f"+ {stage}" + (" (= full default stack)" if stage == "tracing" else "")
            rows.setdefault(label, {})[kind] = _bind(pipeline, request)
    rows["client.operations call (full)"] = {
        "get": lambda: client.operations.get(NAME),
        "cancel": lambda: client.operations.cancel(NAME),
    }

    results: dict[str, dict[str, float]] = {label: {} for label in rows}
    for kind in ("get", "cancel"):
        fns = {label: calls[kind] for label, calls in rows.items() if kind in calls}
        timed = interleaved_batches(
            fns, rounds=cfg.overhead_rounds, batch=cfg.overhead_batch,
            warmup=min(200, cfg.overhead_batch), between=mock.requests.clear, pick=min,
        )
        for label, (wall, _cpu) in timed.items():
            results[label][kind] = wall
    section.tables.append(_table(results))
    (listed, _), = interleaved_batches(
        {"list": lambda: list(client.operations.list(page_size=10))},
        rounds=cfg.overhead_rounds, batch=max(1, cfg.overhead_batch // 10), warmup=10,
        between=mock.requests.clear, pick=min,
    ).values()
    section.notes.append(
        f"`list(client.operations.list(page_size=10))` (one page of 10 operations parsed): "
        f"{listed * 1e6:.1f} µs per call."
    )
    full = results["+ tracing (= full default stack)"]
    bare = results["transport only"]
    added = {kind: (full[kind] - bare[kind]) * 1e6 for kind in ("get", "cancel")}
    section.notes.append(
        f"Full default stack over the bare transport call: get +{added['get']:.1f} µs, "
        f"cancel +{added['cancel']:.1f} µs per call."
    )
    if raw_get_ns:
        share = added["get"] * 1e3 / raw_get_ns
        section.notes.append(
            f"That is {share:.0%} of one raw-requests `get` to the emulator in this run."
        )
    return section


def _bind(handler: Callable[[Any], Any], request: Any) -> Callable[[], object]:
    return lambda: handler(request)


def _table(results: dict[str, dict[str, float]]) -> Table:
    table = Table("µs per call", ["stack", "get", "Δ get", "cancel", "Δ cancel"])
    previous: dict[str, float] = {}
    for label, by_kind in results.items():
        row = [label]
        for kind in ("get", "cancel"):
            value = by_kind.get(kind)
            if value is None:
                row += ["", ""]
                continue
            staged = label.startswith("+")
            delta = f"+{(value - previous[kind]) * 1e6:.2f}" if staged and kind in previous else ""
            row += [f"{value * 1e6:.2f}", delta]
            if staged or label == "transport only":
                previous[kind] = value
        table.rows.append(row)
    return table
