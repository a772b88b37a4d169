"""Queue metrics: OpenTelemetry observable gauges of one project's operations.

:class:`QueueMetrics` owns one project-wide :class:`~eemw._watch.Watcher` and three
observable gauges fed from the snapshot of its latest round. The gauges' callbacks never
send a request: collection by any exporter (console, OTLP, Prometheus) reads the
snapshot, so the cost to the project's quota is the watcher's alone (about one ``list``
page per 1,000 operations per round). Only ``opentelemetry-api`` is needed; the SDK and
exporter are the application's choice.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING

from ._errors import EemwError, UsageError
from ._models import Operation, State
from ._validate import MAX_TIMEOUT
from ._version import __version__
from ._watch import Watcher
from ._watch_model import OperationChange

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

    from ._client import Client

__all__ = ["QueueMetrics"]

logger = logging.getLogger("eemw.queue")

_QUEUED = (State.PENDING, State.RUNNING, State.CANCELLING)


@dataclass(frozen=True)
class _Snapshot:
    """What the gauges report, computed once per round."""

    queued: Counter[tuple[str, str]] = field(default_factory=Counter)
    oldest_running: float | None = None
    failures: Counter[str] = field(default_factory=Counter)


class QueueMetrics:
    """Observable gauges of ``project``'s queue, for any OpenTelemetry exporter.

    Registers, on ``meter_provider`` (default: the global one), with attribute
    ``eemw.project`` on every point:

    - ``eemw.queue.operations``: unfinished operations (PENDING, RUNNING, CANCELLING)
      by ``eemw.operation.state`` and ``eemw.operation.type``;
    - ``eemw.queue.oldest_running_age`` (s): how long the longest-running RUNNING
      operation has been running (from its start time, else its create time), measured
      against ``now()`` (default: the wall clock, UTC);
    - ``eemw.queue.failures``: operations the watcher saw fail during the last
      ``window`` seconds, by ``eemw.operation.type`` (ones already FAILED when the
      metrics started are not counted).

    Call :meth:`refresh` for one round now, or :meth:`start` for a first round now and
    then one every ``poll_interval`` seconds on a daemon thread until :meth:`close` (or
    the end of a ``with`` block). A background round that fails is logged and the gauges
    keep the last snapshot: they never report a state no response carried.
    """

    def __init__(
        self,
        client: Client,
        *,
        project: str | None = None,
        meter_provider: MeterProvider | None = None,
        poll_interval: float = 30.0,
        window: float = 300.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        for what, value in (("poll_interval", poll_interval), ("window", window)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value <= MAX_TIMEOUT
            ):
                raise UsageError(f"{what} must be a number of seconds above 0, not {value!r}")
        self._client = client
        self._watcher = Watcher(client.operations, None, project=project)
        self.project: str = self._watcher.project or ""
        self._interval = float(poll_interval)
        self._window = float(window)
        self._now = now or _utc_now
        self._failed: deque[tuple[float, str]] = deque()
        self._rounds = 0
        self._snapshot = _Snapshot()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._register(meter_provider)

    def _register(self, meter_provider: MeterProvider | None) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter("eemw.queue", __version__, meter_provider=meter_provider)
        meter.create_observable_gauge(
            "eemw.queue.operations", [self._observe_queued], unit="{operation}",
            description="Unfinished operations of the project, by state and type",
        )
        meter.create_observable_gauge(
            "eemw.queue.oldest_running_age", [self._observe_oldest], unit="s",
            description="How long the longest-running operation has been running",
        )
        meter.create_observable_gauge(
            "eemw.queue.failures", [self._observe_failures], unit="{operation}",
            description="Operations seen failing during the last window, by type",
        )

    # -- rounds --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """One watcher round now; the gauges report its result from then on.

        Raises what the round raised (an :class:`~eemw.EemwError`); the gauges then keep
        the previous snapshot.
        """
        clock = self._client.clock
        changes = self._watcher.poll(clock() + max(self._interval, 60.0))
        first = self._rounds == 0
        self._rounds += 1
        at = clock()
        for change in changes:
            if _newly_failed(change, first):
                self._failed.append((at, change.after.metadata.type or ""))
        while self._failed and self._failed[0][0] <= at - self._window:
            self._failed.popleft()
        snapshot = _snapshot(self._watcher.operations(), self._failed, self._now())
        with self._lock:
            self._snapshot = snapshot

    def start(self) -> QueueMetrics:
        """Refresh every ``poll_interval`` seconds on a daemon thread until :meth:`close`.

        The first round runs in the caller's thread, so a project the credentials cannot
        list fails here, at start-up, instead of in a log line later.
        """
        if self._thread is None:
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="eemw-queue-metrics",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.refresh()
            except EemwError as error:
                logger.warning("queue metrics for projects/%s: round failed, keeping the "
                               "last snapshot: %s", self.project, error)
            except Exception:
                logger.exception("queue metrics for projects/%s: round failed", self.project)

    def close(self) -> None:
        """Stop the background refreshes (if started) and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> QueueMetrics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- gauge callbacks: read the snapshot, never the network ---------------------------------

    def _current(self) -> _Snapshot:
        with self._lock:
            return self._snapshot

    def _observe_queued(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [
            Observation(n, {"eemw.project": self.project, "eemw.operation.state": state,
                            "eemw.operation.type": kind})
            for (state, kind), n in sorted(self._current().queued.items())
        ]

    def _observe_oldest(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        age = self._current().oldest_running
        return [] if age is None else [Observation(age, {"eemw.project": self.project})]

    def _observe_failures(self, options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [
            Observation(n, {"eemw.project": self.project, "eemw.operation.type": kind})
            for kind, n in sorted(self._current().failures.items())
        ]


def _newly_failed(change: OperationChange, first_round: bool) -> bool:
    if not change.after.failed:
        return False
    if change.before is None:
        return not first_round  # new since the watch began, and failed already
    return not change.before.failed


def _snapshot(
    ops: list[Operation], failed: Iterable[tuple[float, str]], now: datetime
) -> _Snapshot:
    queued: Counter[tuple[str, str]] = Counter()
    oldest = -math.inf
    for op in ops:
        if op.state in _QUEUED:
            queued[(op.state.value, op.metadata.type or "")] += 1
        if op.state is State.RUNNING:
            since = op.metadata.start_time or op.metadata.create_time
            if since is not None:
                oldest = max(oldest, (now - since).total_seconds())
    return _Snapshot(
        queued=queued,
        oldest_running=None if oldest == -math.inf else max(0.0, oldest),
        failures=Counter(kind for _, kind in failed),
    )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
