"""earthengine-api per request: ee's own transport against ee through eemw's pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._config import Config
from ._emulator import EmulatorProcess
from ._measure import Samples, Section, interleaved, per_call_table
from ._peers import installed

BASELINE = "ee alone"
THROUGH = "ee through eemw"
KINDS = ("projects.operations.get", "projects.value.compute")


def run(cfg: Config) -> tuple[Section, dict[str, dict[str, Samples]]]:
    section = Section(
        "earthengine-api through eemw, per request",
        "The same googleapiclient resource ee builds (`ee._cloud_api_utils."
        "build_cloud_resource`, from the emulator's discovery document) is called with ee's "
        "own transport (its requests session wrapped in google-auth's `AuthorizedHttp`, "
        "ee's default retries armed) and with `eemw.earthengine.EarthEngineTransport` "
        "(eemw's default stack: tracing without an SDK, idempotency, retry, auth, check; "
        "ee's retries off, as `eemw.earthengine.initialize` sets them). Emulator in its own "
        f"process. Interleaved blocks of {cfg.e2e_block} requests, {cfg.e2e_rounds} rounds; "
        "per-request wall time and the calling thread's CPU. `value.compute` evaluates "
        "`ee.Number(1)` (the emulator answers `{\"result\": null}`).",
    )
    if not installed("ee"):
        section.notes.append("earthengine-api: not installed here; section skipped.")
        return section, {}
    results: dict[str, dict[str, Samples]] = {}
    with EmulatorProcess(seed=10) as emu:
        name = emu.live_names()[0]
        contenders, close = _contenders(emu, name)
        try:
            for kind in KINDS:
                fns = {who: calls[kind] for who, calls in contenders.items()}
                results[kind] = interleaved(
                    fns, rounds=cfg.e2e_rounds, block=cfg.e2e_block, warmup=cfg.e2e_warmup
                )
                section.tables.append(per_call_table(kind, results[kind], "transport", BASELINE))
        finally:
            close()
    return section, results


def _contenders(
    emu: EmulatorProcess, name: str
) -> tuple[dict[str, dict[str, Callable[[], object]]], Callable[[], None]]:
    import ee
    import requests

    import eemw
    from eemw.earthengine import EarthEngineTransport

    session = requests.Session()
    alone = ee._cloud_api_utils.build_cloud_resource(
        emu.url, session, credentials=emu.credentials(), num_retries=5
    )
    client = eemw.Client(emu.project, endpoint=emu.url, credentials=emu.credentials())
    through = ee._cloud_api_utils.build_cloud_resource(
        emu.url, session, http_transport=EarthEngineTransport(client), num_retries=0
    )
    # ee.Number(1).serialize(for_cloud_api=True), without initializing ee globally.
    body = {"expression": {"result": "0", "values": {"0": {"constantValue": 1}}}}

    def calls(resource: Any, retries: int) -> dict[str, Callable[[], object]]:
        projects = resource.projects()
        return {
            "projects.operations.get":
                lambda: projects.operations().get(name=name).execute(num_retries=retries),
            "projects.value.compute": lambda: projects.value().compute(
                project=f"projects/{emu.project}", body=body
            ).execute(num_retries=retries),
        }

    def close() -> None:
        client.close()
        session.close()

    return {BASELINE: calls(alone, 5), THROUGH: calls(through, 0)}, close


def wall_ratio(results: dict[str, dict[str, Samples]], kind: str) -> float | None:
    """Median wall time through eemw over ee alone, for the target table."""
    samples = results.get(kind, {})
    mine, base = samples.get(THROUGH), samples.get(BASELINE)
    return mine.wall_median / base.wall_median if mine and base else None
