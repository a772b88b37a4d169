"""The secret-free guarantee: no credential reaches a log line, span, repr or error message.

One run through the default stack (tracing, idempotency, retry, auth, check; no plugins)
against the emulator mixes successes, retried 503s, a 401 answered by a refresh, a second
401, a 403, a 404, dropped and refused connections, refresh failures and an insecure
endpoint. Everything a user could observe is captured: every log record at DEBUG from every
logger, every span and event with their attributes, the metrics, every exception with its
``__cause__``/``__context__`` chain and traceback, the reprs of clients, stacks, entries,
middlewares, credentials, and of the requests and responses seen by recording stages. The
tokens the emulator actually issued (read off the wire) and the other credentials sent to
its token endpoint must appear in none of it.
"""

from __future__ import annotations

import logging
import socket
import traceback
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eemw
from eemw import Entry, Handler, Request, Response
from eemw.emulator import Emulator, Fault

STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
CANARY = "eemw-capture-canary"


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[logging.LogRecord]]:
    """Every record at DEBUG from every logger, including ones that do not propagate."""
    handler = ListHandler()
    root = logging.getLogger()
    # google-auth stops its loggers propagating unless "google" is configured: configure it.
    google = logging.getLogger("google")
    monkeypatch.setattr(google, "propagate", True)
    levels = {logger: logger.level for logger in (root, google)}
    isolated = [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in levels:
        logger.setLevel(logging.DEBUG)  # setLevel, not assignment: it clears level caches
    for logger in [root, *isolated]:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in [root, *isolated]:
            logger.removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


@dataclass
class Observed:
    """What the run exposed, as (where, text) pairs to search."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def add(self, where: str, value: object) -> None:
        self.texts.append((where, value if isinstance(value, str) else repr(value)))

    def add_error(self, where: str, error: BaseException) -> None:
        self.errors.append(error)
        self.add(f"{where}: traceback", "".join(traceback.format_exception(error)))
        for depth, link in enumerate(_chain(error)):
            label = f"{where}: {type(link).__name__} (chain {depth})"
            self.add(label, str(link))
            self.add(label, repr(link))
            self.add(label, repr(link.args))
            self.add(label, repr(vars(link)))


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)


def recorder(observed: Observed, where: str) -> Callable[[Request, Handler], Response]:
    """A stage that records the reprs of what passes through it."""

    def record(request: Request, call_next: Handler) -> Response:
        observed.add(f"{where} request", request)
        observed.add(f"{where} request headers", request.headers)
        observed.add(f"{where} request context", request.context)
        if "authorization" in request.headers:
            observed.add(f"{where} saw", "an authorization header")
        try:
            response = call_next(request)
        except eemw.EemwError as error:
            observed.add_error(f"{where} passing up", error)
            raise
        observed.add(f"{where} response", response)
        observed.add(f"{where} response headers", response.headers)
        return response

    return record


class Run:
    """Clients sharing one emulator, tracer, meter and recorders."""

    def __init__(self, emu: Emulator, observed: Observed) -> None:
        self.emu = emu
        self.observed = observed
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.clients: list[eemw.Client] = []

    def client(self, credentials: Any, **kwargs: Any) -> eemw.Client:
        options: dict[str, Any] = {
            "endpoint": self.emu.url,
            "credentials": credentials,
            "retry": eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
            "sleep": self.emu.advance,
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "middleware": [
                Entry("record-call", recorder(self.observed, "call phase"), "call"),
                Entry(
                    "record-attempt", recorder(self.observed, "below auth"), "attempt",
                    after="auth",
                ),
            ],
        }
        options.update(kwargs)
        client = eemw.Client("demo", **options)
        self.clients.append(client)
        return client

    def expect(self, error: type[BaseException], call: Callable[[], object]) -> None:
        with pytest.raises(error) as caught:
            call()
        self.observed.add_error(f"raised {error.__name__}", caught.value)

    def ok(self, call: Callable[[], object]) -> None:
        self.observed.add("result", call())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def user_creds(token: str | None, **kwargs: Any) -> Any:
    return user_credentials.Credentials(token, **kwargs)  # type: ignore[no-untyped-call]


def exercise(run: Run) -> None:
    emu = run.emu
    none = eemw.RetryPolicy.none()
    name = emu.add_operation(state="RUNNING")
    other = emu.add_operation(state="RUNNING")
    done = emu.add_operation(state="SUCCEEDED")
    dropped = emu.add_operation(state="RUNNING")
    missing = "projects/demo/operations/does-not-exist"

    client = run.client(emu.credentials())
    ops = client.operations
    run.ok(lambda: ops.get(name))
    run.ok(lambda: list(ops.list()))
    emu.add_fault(Fault(status=503, times=2))
    run.ok(lambda: ops.get(name))  # two retries
    emu.expire_tokens()
    run.ok(lambda: ops.get(name))  # 401, refresh, re-send
    run.ok(lambda: ops.cancel(name, idempotency_key="caller-key-1"))
    run.ok(lambda: ops.cancel(name, idempotency_key="caller-key-1"))  # replayed
    run.ok(lambda: ops.wait(name, timeout=30))
    run.ok(lambda: ops.cancel_many([other, done, missing]))
    run.ok(lambda: ops.delete(other))
    run.expect(eemw.NotFoundError, lambda: ops.get(missing))
    run.expect(eemw.FailedPreconditionError, lambda: ops.cancel(done))
    emu.add_fault(Fault(status=401, times=2))
    run.expect(eemw.UnauthenticatedError, lambda: ops.get(name))  # a second 401
    emu.add_fault(Fault(status=503, times=None))
    run.expect(eemw.UnavailableError, lambda: ops.get(name))  # retried, then gave up
    emu.clear_faults()
    emu.add_fault(Fault(kind="drop_after", times=1))
    run.expect(eemw.ReadError, lambda: ops.delete(dropped, retry=none))
    emu.add_fault(Fault(kind="drop_before", times=1))
    run.expect(eemw.TransportError, lambda: ops.get(name, retry=none))

    scoped_token = emu.issue_token(scopes=(STORAGE_SCOPE,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        storage = run.client(user_creds(scoped_token, scopes=[STORAGE_SCOPE]))
    for warning in caught:
        run.observed.add("warning", str(warning.message))
    run.expect(eemw.PermissionDeniedError, lambda: storage.operations.get(name))

    robot = run.client(service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        emu.service_account_info()
    ))
    run.ok(lambda: robot.operations.get(name))

    refused = run.client(emu.credentials(), endpoint=f"http://127.0.0.1:{closed_port()}")
    run.expect(eemw.ConnectError, lambda: refused.operations.get(name, retry=none))
    run.expect(eemw.ConnectError, lambda: refused.operations.get(name))  # after retries

    info = emu.authorized_user_info()
    revoked = run.client(user_creds(
        None, refresh_token="1//emu-revoked", token_uri=info["token_uri"],
        client_id=info["client_id"], client_secret=info["client_secret"],
    ))
    run.expect(eemw.UnauthenticatedError, lambda: revoked.operations.get(name))
    unreachable = run.client(user_creds(
        None, refresh_token=info["refresh_token"],
        token_uri=f"http://127.0.0.1:{closed_port()}/token",
        client_id=info["client_id"], client_secret=info["client_secret"],
    ))
    run.expect(eemw.ConnectError, lambda: unreachable.operations.get(name, retry=none))
    insecure = run.client(emu.credentials(), endpoint="http://earthengine.googleapis.com")
    run.expect(eemw.InsecureTransportError, lambda: insecure.operations.get(name))


def secrets_seen_by(emu: Emulator, clients: list[eemw.Client]) -> dict[str, str]:
    """Every credential that crossed the wire (secret -> what it is), read off the emulator."""
    found: dict[str, str] = {}
    for request in emu.requests:
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            found[authorization.removeprefix("Bearer ")] = "access token"
        if request.path.startswith("/token"):
            form = urllib.parse.parse_qs(request.body.decode())
            for key in ("refresh_token", "client_secret", "assertion"):
                found.update(dict.fromkeys(form.get(key, ()), key))
    for client in clients:
        token = client.credentials.token
        if token:
            found[token] = "access token"
    return found


def observe_objects(run: Run) -> None:
    add = run.observed.add
    add("emulator requests", run.emu.requests)
    for client in run.clients:
        add("client", client)
        add("client.operations", client.operations)
        add("client.transport", client.transport)
        add("client.credentials", client.credentials)
        add("client.stack", client.stack)
        add("client.stack.describe()", client.stack.describe())
        for entry in client.stack.entries:
            add(f"entry {entry.name}", entry)
            add(f"middleware {entry.name}", entry.middleware)
            add(f"middleware {entry.name} str", str(entry.middleware))
    for span in run.spans.get_finished_spans():
        add(f"span {span.name}", span.to_json())
    data = run.metrics.get_metrics_data()
    assert data is not None
    add("metrics", data.to_json())


def observe_logs(run: Run, records: list[logging.LogRecord]) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        where = f"log {record.name}"
        run.observed.add(where, formatter.format(record))
        run.observed.add(where, repr(vars(record)))


def test_no_credential_appears_in_logs_spans_reprs_or_errors(
    log_records: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EEMW_PLUGINS", raising=False)
    observed = Observed()
    with Emulator() as emu:
        run = Run(emu, observed)
        logging.getLogger("google.auth.transport.requests").debug(CANARY)
        exercise(run)
        secrets = secrets_seen_by(emu, run.clients)
        for client in run.clients:
            client.close()
        observe_objects(run)
        observe_logs(run, log_records)

    # The capture is real: it saw what each part of the run produces.
    assert any(CANARY in text for _, text in observed.texts), "google loggers are captured"
    kinds = list(secrets.values())
    assert kinds.count("access token") >= 5, "initial, after the 401s, 403 and robot tokens"
    assert {"refresh_token", "client_secret", "assertion"} <= set(kinds)
    logger_names = {record.name for record in log_records}
    assert {"eemw.auth", "eemw.retry"} <= logger_names
    assert any(name.startswith("urllib3") for name in logger_names)
    assert any(name.startswith("google") for name in logger_names)
    spans = run.spans.get_finished_spans()
    statuses = {span.attributes.get("http.response.status_code") for span in spans
                if span.attributes is not None}
    assert {200, 401, 403, 404, 503} <= statuses
    assert any(event.name == "eemw.retry" for span in spans for event in span.events)
    for kind in (
        eemw.UnauthenticatedError, eemw.PermissionDeniedError, eemw.NotFoundError,
        eemw.ConnectError, eemw.ReadError, eemw.UnavailableError,
        eemw.InsecureTransportError, eemw.FailedPreconditionError,
    ):
        assert any(isinstance(error, kind) for error in observed.errors), kind
    assert ("below auth saw", "an authorization header") in observed.texts

    leaks = [
        (where, kind)
        for secret, kind in secrets.items()
        for where, text in observed.texts
        if secret in text
    ]
    assert leaks == [], f"credentials leaked into: {sorted(set(leaks))}"
