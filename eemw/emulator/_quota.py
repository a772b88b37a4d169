"""Per-project quotas: requests per second over a sliding window, and concurrent requests.

Earth Engine's quotas belong to the quota project (the X-Goog-User-Project header, else the
project in the URL) and are measured in real time, so this gate runs on a monotonic clock
(injectable for tests), never on the emulator clock. A rejected request costs no quota.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._wire import ApiError, error_info, retry_info

QUOTA_FAILURE_TYPE = "type.googleapis.com/google.rpc.QuotaFailure"
WINDOW = 1.0
_RATE_METRIC = "earthengine.googleapis.com/requests"
_CONCURRENT_METRIC = "earthengine.googleapis.com/concurrent_requests"


def _nothing() -> None:
    return None


class _Usage:
    __slots__ = ("in_flight", "recent")

    def __init__(self) -> None:
        self.recent: deque[float] = deque()
        self.in_flight = 0


class QuotaGate:
    """Admits or rejects one API request; `admit` returns the release to call once answered."""

    def __init__(
        self,
        qps: float | None,
        concurrent: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        send_retry_info: bool = False,
    ) -> None:
        if qps is not None and not (math.isfinite(qps) and qps >= 1):
            raise ValueError("quota_qps must be at least 1 request per second (or None)")
        if concurrent is not None and concurrent < 1:
            raise ValueError("quota_concurrent must be at least 1 (or None)")
        # A window holds whole requests: 2.5/s admits 2 in any one-second window.
        self.per_window = None if qps is None else int(qps)
        self.concurrent = concurrent
        self._clock = clock
        self._send_retry_info = send_retry_info
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def admit(self, project: str) -> Callable[[], None]:
        """Count the request in, or raise the 429 Earth Engine sends when over quota."""
        now = self._clock()
        with self._lock:
            usage = self._usage.get(project)
            if usage is None:
                usage = self._usage[project] = _Usage()
            recent = usage.recent
            while recent and recent[0] <= now - WINDOW:
                recent.popleft()
            if self.concurrent is not None and usage.in_flight >= self.concurrent:
                raise self._concurrency_error(project)
            if self.per_window is not None and len(recent) >= self.per_window:
                raise self._rate_error(project, recent[0] + WINDOW - now)
            recent.append(now)
            usage.in_flight += 1
        return self._releaser(usage)

    def _releaser(self, usage: _Usage) -> Callable[[], None]:
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    usage.in_flight -= 1

        return release

    def _rate_error(self, project: str, wait: float) -> ApiError:
        limit = str(self.per_window)
        details = _details(project, _RATE_METRIC, "RequestsPerSecondPerProject", limit)
        if self._send_retry_info:
            details.append(retry_info(round(max(wait, 0.001), 3)))
        return _exhausted(project, "Requests per second", "RequestsPerSecondPerProject", details)

    def _concurrency_error(self, project: str) -> ApiError:
        limit = str(self.concurrent)
        details = _details(project, _CONCURRENT_METRIC, "ConcurrentRequestsPerProject", limit)
        return _exhausted(project, "Concurrent requests", "ConcurrentRequestsPerProject", details)


def _details(project: str, metric: str, limit_name: str, limit: str) -> list[dict[str, Any]]:
    return [
        error_info(
            "RATE_LIMIT_EXCEEDED",
            consumer=f"projects/{project}",
            quota_metric=metric,
            quota_limit=limit_name,
            quota_limit_value=limit,
        ),
        {
            "@type": QUOTA_FAILURE_TYPE,
            "violations": [
                {
                    "subject": f"projects/{project}",
                    "description": f"Quota {limit_name} ({limit}) exceeded.",
                }
            ],
        },
    ]


def _exhausted(
    project: str, metric_text: str, limit_name: str, details: list[dict[str, Any]]
) -> ApiError:
    return ApiError(
        "RESOURCE_EXHAUSTED",
        f"Quota exceeded for quota metric '{metric_text}' and limit '{limit_name}' of service "
        f"'earthengine.googleapis.com' for consumer 'projects/{project}'.",
        details=details,
    )


NO_RELEASE: Callable[[], None] = _nothing
