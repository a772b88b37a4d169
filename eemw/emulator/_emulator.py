"""`Emulator`: the public face of the local Earth Engine operations server."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._api import Api
from ._auth import DEFAULT_GRANTED_SCOPES, EE_SCOPE, TokenEndpoint, TokenStore
from ._clock import Clock
from ._core import Core
from ._faults import DEFAULT_CHAOS_MIX, Fault, FaultPlan
from ._operations import render
from ._records import EmulatorStats, RecordedRequest, Recorder, Stats
from ._server import EmulatorHTTPServer
from ._state import NewOperation, OperationStore, validate_project

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

_SEED_STATES = ("SUCCEEDED", "RUNNING", "PENDING", "FAILED", "CANCELLED", "SUCCEEDED", "RUNNING")
_SEED_TYPES = ("EXPORT_IMAGE", "EXPORT_FEATURES", "INGEST_IMAGE", "EXPORT_VIDEO", "INGEST_TABLE")
# serve_forever's poll interval bounds how long stop() waits for the accept loop.
_POLL_INTERVAL = 0.05


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "operations":
        raise ValueError(f"not an operation name: {name!r} (expected projects/P/operations/ID)")
    return parts[1], parts[3]


class Emulator:
    """A real HTTP server on loopback speaking the Earth Engine operations API.

    Operations change state only when the emulator clock moves (`advance`), unless `realtime`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        realtime: bool = False,
        require_auth: bool = True,
        token_lifetime: float = 3600.0,
        latency: float = 0.0,
        record: bool = True,
        seed_operations: int = 0,
        default_project: str = "demo",
        max_page_size: int = 1000,
        cancel_delay: float = 0.0,
        chaos_delay: float = 2.0,
        record_limit: int = 100_000,
    ) -> None:
        validate_project(default_project)
        if max_page_size < 1 or latency < 0 or cancel_delay < 0 or token_lifetime <= 0:
            raise ValueError(
                "max_page_size, latency, cancel_delay and token_lifetime must be sensible"
            )
        self.host, self._port = host, port
        self.default_project = default_project
        self.chaos_delay = chaos_delay
        self._clock = Clock(realtime)
        self._store = OperationStore(self._clock, cancel_delay)
        self._tokens = TokenStore(self._clock, token_lifetime)
        self._token_endpoint = TokenEndpoint(self._tokens, default_project)
        self._stats = Stats()
        self._faults = FaultPlan()
        self._recorder = Recorder(record, record_limit)
        api = Api(
            self._store,
            self._tokens,
            self._stats,
            require_auth=require_auth,
            max_page_size=max_page_size,
        )
        self._core = Core(
            api, self._token_endpoint, self._faults, self._recorder, self._stats, latency
        )
        self._stopping = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._seed(seed_operations)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("the emulator is already running")
            self._stopping.clear()
            self._store.reopen()
            server = EmulatorHTTPServer((self.host, self._port), self._core, self._stopping)
            self._server = server
            self._port = server.server_port
            self._core.root_url = self.url + "/"
            self._token_endpoint.token_uri = self.url + "/token"
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"eemw-emulator:{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._stopping.set()
            self._store.close()
            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join()
            self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port (the requested one until `start`)."""
        return self._port

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "the emulator is not running: call start() or use it as a context manager"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    # -- operations ---------------------------------------------------------------------------

    def add_operation(
        self,
        project: str | None = None,
        *,
        state: str = "PENDING",
        description: str | None = None,
        type: str = "EXPORT_IMAGE",
        priority: int = 100,
        id: str | None = None,
        duration: float = 30.0,
        start_after: float = 5.0,
        extra_metadata: Mapping[str, Any] | None = None,
        omit: Iterable[str] = (),
        fail_at_end: bool = False,
        error: Mapping[str, Any] | None = None,
        script_uri: str | None = None,
        destination_uris: Iterable[str] | None = None,
    ) -> str:
        """Create an operation and return its name, projects/{project}/operations/{id}."""
        spec = NewOperation(
            project=project or self.default_project,
            state=state,
            description=description,
            type=type,
            priority=priority,
            op_id=id,
            duration=duration,
            start_after=start_after,
            extra_metadata=copy.deepcopy(dict(extra_metadata or {})),
            omit=tuple(omit),
            fail_at_end=fail_at_end,
            error=copy.deepcopy(dict(error)) if error is not None else None,
            script_uri=script_uri,
            destination_uris=tuple(destination_uris) if destination_uris is not None else None,
        )
        return self._store.add(spec).name

    def operation(self, name: str) -> dict[str, Any] | None:
        """The operation's current wire JSON, or None once deleted or if unknown."""
        found = self._store.find(*_split_name(name))
        return None if found is None else copy.deepcopy(render(*found))

    def operation_names(self, project: str | None = None) -> list[str]:
        """Names of live operations in creation order (all projects when `project` is None)."""
        return self._store.names(project)

    def cancel_effects(self, name: str) -> int:
        """How many times a cancel was really applied to the operation (idempotency proof)."""
        return self._store.cancel_effects(*_split_name(name))

    def cancel_executions(self, name: str) -> int:
        """How many cancels of the operation the server ran (not replayed), effect or not."""
        return self._store.cancel_executions(*_split_name(name))

    def advance(self, seconds: float) -> None:
        """Move the emulator clock; operations progress and tokens age with it."""
        self._store.advance(seconds)

    @property
    def now(self) -> float:
        """Seconds on the emulator clock (0 at construction)."""
        return self._clock.now()

    def _seed(self, count: int) -> None:
        for index in range(count):
            op_type = _SEED_TYPES[index % len(_SEED_TYPES)]
            self.add_operation(
                state=_SEED_STATES[index % len(_SEED_STATES)],
                type=op_type,
                description=f"seed_{op_type.lower()}_{index}",
                priority=100 + (index % 3) * 50,
                duration=30.0 + (index % 5) * 15.0,
                # Sub-second offsets give the RFC 3339 fractions real digits to carry.
                start_after=5.0 + (index % 4) * 0.123456789,
                script_uri=f"https://code.earthengine.google.com/?scriptPath=users/demo/seed_{index}"
                if index % 2 == 0
                else None,
            )

    # -- auth ---------------------------------------------------------------------------------

    def authorized_user_info(
        self, granted_scopes: Iterable[str] = DEFAULT_GRANTED_SCOPES
    ) -> dict[str, str]:
        """An `authorized_user` JSON object (as gcloud writes) whose refresh token works here."""
        return {
            "type": "authorized_user",
            "client_id": self._token_endpoint.client_id,
            "client_secret": self._token_endpoint.client_secret,
            "refresh_token": self._token_endpoint.new_refresh_token(granted_scopes),
            "token_uri": self.url + "/token",
        }

    def credentials(
        self,
        *,
        scopes: Sequence[str] | None = None,
        granted_scopes: Iterable[str] = DEFAULT_GRANTED_SCOPES,
    ) -> Credentials:
        """User credentials with no token yet; google-auth refreshes them against this emulator."""
        from google.oauth2.credentials import Credentials

        info = self.authorized_user_info(granted_scopes)
        return Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=info["refresh_token"],
            token_uri=info["token_uri"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=scopes,
        )

    def service_account_info(self) -> dict[str, str]:
        """A service-account key file's JSON; its token_uri points here."""
        return self._token_endpoint.service_account.info(self.url + "/token")

    def issue_token(
        self, scopes: Iterable[str] = (EE_SCOPE,), lifetime: float | None = None
    ) -> str:
        """Mint an access token directly (lifetime defaults to the emulator's token_lifetime)."""
        token, _ = self._tokens.issue(scopes, lifetime)
        self._stats.incr("tokens_issued")
        return token

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid, so the next API call gets a 401."""
        self._tokens.expire_all()

    # -- faults, recording, counters ----------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Remove scripted faults and turn chaos off."""
        self._faults.clear()

    def set_chaos(
        self,
        rate: float,
        seed: int = 0,
        mix: Mapping[str, float] | None = None,
        *,
        delay: float | None = None,
    ) -> None:
        """Fault a `rate` share of API requests, kinds drawn from `mix` by a seeded RNG."""
        chosen_delay = self.chaos_delay if delay is None else delay
        self._faults.set_chaos(rate, seed, mix or DEFAULT_CHAOS_MIX, chosen_delay)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._recorder.snapshot()

    def clear_requests(self) -> None:
        self._recorder.clear()

    @property
    def stats(self) -> EmulatorStats:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<Emulator {where}>"
