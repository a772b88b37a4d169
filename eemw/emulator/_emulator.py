"""`Emulator`: the public face of the local Earth Engine operations server."""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._answers import Answer
from ._api import Api
from ._auth import DEFAULT_GRANTED_SCOPES, EE_SCOPE, TokenEndpoint, TokenStore
from ._clock import Clock
from ._core import Core
from ._faults import DEFAULT_CHAOS_MIX, Fault, FaultPlan
from ._operations import SERVICE_DIGITS, WireStyle, render
from ._quota import QuotaGate
from ._records import EmulatorStats, RecordedRequest, Recorder, Stats
from ._seed import seed_demo
from ._server import EmulatorHTTPServer
from ._state import NewOperation, OperationStore, validate_project

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

DEFAULT_CANCEL_DELAY = 2.0
# serve_forever's poll interval bounds how long stop() waits for the accept loop.
_POLL_INTERVAL = 0.05


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "operations":
        raise ValueError(f"not an operation name: {name!r} (expected projects/P/operations/ID)")
    return parts[1], parts[3]


def _checked(name: str) -> str:
    _split_name(name)
    return name


class Emulator:
    """A real HTTP server on loopback speaking the Earth Engine API as the service does.

    Operations change state only when the emulator clock moves (`advance`), unless `realtime`.
    Defaults follow the service (see the package docstring); kindnesses are opt-in:
    `honour_idempotency_keys`, `cancel_delay=0`, `hostile_timestamps` (the opposite: 9 digits).
    Quotas (`quota_qps`, `quota_concurrent`) run on `quota_clock`, real monotonic time.
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
        cancel_delay: float = DEFAULT_CANCEL_DELAY,
        chaos_delay: float = 2.0,
        record_limit: int = 100_000,
        honour_idempotency_keys: bool = False,
        hostile_timestamps: bool = False,
        quota_qps: float | None = None,
        quota_concurrent: int | None = None,
        quota_clock: Callable[[], float] = time.monotonic,
        quota_retry_info: bool = False,
        epoch: datetime | None = None,
    ) -> None:
        validate_project(default_project)
        numbers = (latency, cancel_delay, token_lifetime, chaos_delay)
        if max_page_size < 1 or min(numbers) < 0 or token_lifetime == 0:
            raise ValueError(
                "max_page_size, latency, cancel_delay, chaos_delay and token_lifetime "
                "must be sensible"
            )
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError("latency, cancel_delay, chaos_delay and token_lifetime must be finite")
        self.host, self._port = host, port
        self.default_project = default_project
        self.chaos_delay = chaos_delay
        self._clock = Clock(realtime, epoch)
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
            honour_idempotency_keys=honour_idempotency_keys,
            hostile_timestamps=hostile_timestamps,
            epoch_ns=round(self._clock.epoch_unix * 1_000_000_000),
        )
        self._api = api
        self._core = Core(
            api, self._token_endpoint, self._faults, self._recorder, self._stats, latency
        )
        if quota_qps is not None or quota_concurrent is not None:
            self._core.quota = QuotaGate(
                quota_qps, quota_concurrent, clock=quota_clock, send_retry_info=quota_retry_info
            )
        self._stopping = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        seed_demo(self, seed_operations)

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
        create_time: datetime | None = None,
    ) -> str:
        """Create an operation and return its name, projects/{project}/operations/{id}.

        `create_time` (timezone-aware, not after `now_datetime`) back-dates it while keeping
        `state`: a RUNNING operation created three days ago has been running since
        `start_after` seconds after that.
        """
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
            create_at=None if create_time is None else self._clock.to_seconds(create_time),
        )
        return self._store.add(spec).name

    def operation(self, name: str, version: str = "v1") -> dict[str, Any] | None:
        """The operation's current wire JSON (as `version` writes it), or None once deleted."""
        found = self._store.find(*_split_name(name))
        if found is None:
            return None
        style = WireStyle(round(self._clock.epoch_unix * 1e9), version, SERVICE_DIGITS)
        return copy.deepcopy(render(*found, style))

    def operation_names(self, project: str | None = None) -> list[str]:
        """Names of live operations, newest first as `list` answers (all projects if None)."""
        return self._store.names(project)

    def cancel_effects(self, name: str) -> int:
        """How many times a cancel really took effect on the operation (0 or 1 when faithful)."""
        return self._store.effects(_checked(name)).cancel_effects

    def cancel_executions(self, name: str) -> int:
        """How many cancels of the operation the server ran (not replayed), effect or not."""
        return self._store.effects(_checked(name)).cancel_executions

    def delete_effects(self, name: str) -> int:
        """How many deletes removed the operation (still counted after it is gone)."""
        return self._store.effects(_checked(name)).delete_effects

    def delete_executions(self, name: str) -> int:
        """How many deletes of the name the server ran, including those answered 404."""
        return self._store.effects(_checked(name)).delete_executions

    def advance(self, seconds: float) -> None:
        """Move the emulator clock; operations progress and tokens age with it."""
        self._store.advance(seconds)

    @property
    def now(self) -> float:
        """Seconds on the emulator clock (0 at construction)."""
        return self._clock.now()

    @property
    def now_datetime(self) -> datetime:
        """The emulator clock as a UTC datetime: what a createTime written now would say."""
        return self._clock.to_datetime(self._clock.now())

    @property
    def epoch(self) -> datetime:
        """The UTC datetime the emulator clock started at (its time 0)."""
        return self._clock.epoch

    # -- canned answers for other Earth Engine methods ------------------------------------------

    def set_answer(self, method_id: str, answer: Answer) -> None:
        """Answer `method_id` (a discovery id such as earthengine.projects.value.compute).

        `answer` is a JSON value (answered 200), bytes (200, application/octet-stream), or a
        callable taking the RecordedRequest and returning a body or a (status, body) pair;
        None restores the default. Faults and quotas apply to these requests as to any.
        """
        self._api.answers.set(method_id, answer)

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
