"""The contenders, each as get/cancel/list callables against one emulator.

Every contender does what a user of it would write to get the parsed result: raw
requests checks the status and decodes the JSON; eemw returns ``Operation`` values. A
contender that is not installed, or cannot do a call against the emulator, is skipped
with a note saying why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ._emulator import EmulatorProcess

Call = Callable[[], object]
KINDS = ("get", "cancel", "list")

# google-api-core's REST operations client only knows the generic `operations/**`
# paths; Earth Engine's live under `projects/*/operations/*`.
API_CORE_HTTP_OPTIONS = {
    "google.longrunning.Operations.GetOperation": [
        {"method": "get", "uri": "/v1/{name=projects/*/operations/*}"}
    ],
    "google.longrunning.Operations.CancelOperation": [
        {"method": "post", "uri": "/v1/{name=projects/*/operations/*}:cancel", "body": "*"}
    ],
    "google.longrunning.Operations.ListOperations": [
        {"method": "get", "uri": "/v1/{name=projects/*}/operations"}
    ],
    "google.longrunning.Operations.DeleteOperation": [
        {"method": "delete", "uri": "/v1/{name=projects/*/operations/*}"}
    ],
}


@dataclass(frozen=True)
class Targets:
    """What the per-call benchmark works on."""

    project: str
    get_name: str
    cancel_name: str


@dataclass
class Peer:
    name: str
    calls: dict[str, Call] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    close: Callable[[], None] = lambda: None


def peers(emu: EmulatorProcess, t: Targets) -> tuple[list[Peer], list[str]]:
    """Every contender that could be set up, and notes on the ones that could not."""
    made: list[Peer] = []
    notes: list[str] = []
    for name, factory in FACTORIES.items():
        try:
            peer = factory(emu, t)
        except ImportError as exc:
            notes.append(f"{name}: not installed here ({exc.name or exc}); skipped.")
            continue
        except Exception as exc:
            notes.append(f"{name}: could not be set up against the emulator "
                         f"({type(exc).__name__}: {_short(exc)}); skipped.")
            continue
        _probe(peer)
        notes.extend(f"{name}: {n}" for n in peer.notes)
        if peer.calls:
            made.append(peer)
    return made, notes


def _probe(peer: Peer) -> None:
    """One call of each kind; a kind that fails is dropped with a note."""
    for kind, call in list(peer.calls.items()):
        try:
            call()
        except Exception as exc:
            del peer.calls[kind]
            peer.notes.append(f"`{kind}` fails against the emulator "
                              f"({type(exc).__name__}: {_short(exc)}); not measured.")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def raw_requests(emu: EmulatorProcess, t: Targets) -> Peer:
    import requests

    session = requests.Session()
    headers = {"Authorization": "Bearer " + emu.token()}
    get_url = f"{emu.url}/v1/{t.get_name}"
    cancel_url = f"{emu.url}/v1/{t.cancel_name}:cancel"
    list_url = f"{emu.url}/v1/projects/{t.project}/operations?pageSize=10"

    def get() -> object:
        r = session.get(get_url, headers=headers)
        r.raise_for_status()
        return r.json()

    def cancel() -> object:
        r = session.post(cancel_url, headers=headers)
        r.raise_for_status()
        return r.json()

    def list_() -> object:
        r = session.get(list_url, headers=headers)
        r.raise_for_status()
        return r.json()["operations"]

    return Peer("requests", {"get": get, "cancel": cancel, "list": list_}, close=session.close)


def authorized_session(emu: EmulatorProcess, t: Targets) -> Peer:
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(emu.credentials())
    get_url = f"{emu.url}/v1/{t.get_name}"
    cancel_url = f"{emu.url}/v1/{t.cancel_name}:cancel"
    list_url = f"{emu.url}/v1/projects/{t.project}/operations?pageSize=10"

    def get() -> object:
        r = session.get(get_url)
        r.raise_for_status()
        return r.json()

    def cancel() -> object:
        r = session.post(cancel_url)
        r.raise_for_status()
        return r.json()

    def list_() -> object:
        r = session.get(list_url)
        r.raise_for_status()
        return r.json()["operations"]

    return Peer(
        "google-auth AuthorizedSession", {"get": get, "cancel": cancel, "list": list_},
        close=session.close,
    )


def eemw_client(emu: EmulatorProcess, t: Targets) -> Peer:
    import eemw

    client = eemw.Client(t.project, endpoint=emu.url, credentials=emu.credentials())
    ops = client.operations

    def list_() -> object:
        return list(ops.list(page_size=10))

    return Peer(
        "eemw",
        {"get": lambda: ops.get(t.get_name), "cancel": lambda: ops.cancel(t.cancel_name),
         "list": list_},
        close=client.close,
    )


def ee_data(emu: EmulatorProcess, t: Targets) -> Peer:
    import ee

    notes = ee_initialize(emu, t.project)
    project_path = f"projects/{t.project}"
    return Peer(
        "earthengine-api ee.data",
        {"get": lambda: ee.data.getOperation(t.get_name),
         "cancel": lambda: ee.data.cancelOperation(t.cancel_name),
         "list": lambda: ee.data.listOperations(project_path)},
        notes=notes,
    )


def ee_initialize(emu: EmulatorProcess, project: str) -> list[str]:
    """Point earthengine-api at the emulator through its discovery document.

    ``ee.Initialize(url=…)`` also loads the algorithm catalogue (``projects.algorithms``),
    which the emulator's discovery document does not describe; ``ee.data.initialize``
    sets up everything the operations calls use (credentials, base URL, project) and
    builds the client from the emulator's ``/$discovery/rest?version=v1``.
    """
    import ee

    try:
        ee.Initialize(emu.credentials(), url=emu.url, project=project)
        return []
    except Exception as exc:
        ee.data.initialize(credentials=emu.credentials(), cloud_api_base_url=emu.url,
                           project=project)
        return [f"`ee.Initialize(url=…)` fails against the emulator ({type(exc).__name__}: "
                f"{_short(exc)}): it loads the algorithm catalogue, which the emulator's "
                "discovery document lacks; initialised with `ee.data.initialize(...)` instead."]


def api_core(emu: EmulatorProcess, t: Targets) -> Peer:
    from google.api_core.operations_v1 import AbstractOperationsClient
    from google.api_core.operations_v1.transports.rest import OperationsRestTransport

    transport = OperationsRestTransport(
        host=emu.url, credentials=emu.credentials(), http_options=API_CORE_HTTP_OPTIONS
    )
    client = AbstractOperationsClient(transport=transport)
    parent = f"projects/{t.project}"

    def list_() -> object:
        return list(client.list_operations(parent, filter_="", page_size=10))

    return Peer(
        "google-api-core operations (REST)",
        {"get": lambda: client.get_operation(t.get_name),
         "cancel": lambda: client.cancel_operation(t.cancel_name),
         "list": list_},
    )


FACTORIES: dict[str, Callable[[EmulatorProcess, Targets], Peer]] = {
    "requests": raw_requests,
    "eemw": eemw_client,
    "google-auth AuthorizedSession": authorized_session,
    "earthengine-api ee.data": ee_data,
    "google-api-core operations (REST)": api_core,
}


def versions() -> dict[str, str]:
    """Installed versions of everything measured (absent ones are left out)."""
    from importlib import metadata

    names = [
        "eemw", "requests", "urllib3", "google-auth", "opentelemetry-api", "cachetools",
        "earthengine-api", "google-api-python-client", "google-auth-httplib2", "httplib2",
        "google-api-core", "protobuf", "grpcio", "psutil", "opentelemetry-sdk",
    ]
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False

