"""Concurrency: 16 threads x 500 calls through one client while the tokens keep expiring.

The emulator invalidates every issued token at a few points of the run
(``expire_tokens``), while google-auth still believes its token is good: exactly what a
revoked or early-expired token looks like. Each expiry must cost one refresh for the
whole client, not one per thread, and the calls in flight when it happens are re-sent
once with the new token. No call fails, and the counters on both sides agree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from reliability_tools import Report

import eemw
from eemw.emulator import Emulator

THREADS = 16
CALLS_PER_THREAD = 500
CANCELS_PER_THREAD = 10
TOTAL = THREADS * CALLS_PER_THREAD
# Far apart, so every call in flight at one expiry has finished long before the next.
EXPIRE_AT = frozenset({TOTAL // 4, TOTAL // 2, 3 * TOTAL // 4})


class RefreshProbe:
    """Wraps a credentials object's ``refresh`` to count refreshes and their overlap."""

    def __init__(self, credentials: Any) -> None:
        self._refresh: Callable[[Any], None] = credentials.refresh
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.count = 0
        credentials.refresh = self

    def __call__(self, request: Any) -> None:
        with self._lock:
            self.running += 1
            self.count += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self._refresh(request)
        finally:
            with self._lock:
                self.running -= 1


def test_many_threads_share_one_client_through_token_refreshes(
    reliability_report: Report,
) -> None:
    errors: list[BaseException] = []
    done = 0
    lock = threading.Lock()

    with Emulator() as emu:
        per_thread = [
            [emu.add_operation("demo", state="RUNNING", duration=1e9, start_after=0.0)
             for _ in range(CANCELS_PER_THREAD)]
            for _ in range(THREADS)
        ]
        client = eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                             sleep=emu.advance)
        probe = RefreshProbe(client.credentials)

        def worker(mine: list[str]) -> None:
            nonlocal done
            every = CALLS_PER_THREAD // CANCELS_PER_THREAD
            for i in range(CALLS_PER_THREAD):
                try:
                    if i % every == 0:
                        client.operations.cancel(mine[i // every])
                    else:
                        op = client.operations.get(mine[i % CANCELS_PER_THREAD])
                        assert op.name == mine[i % CANCELS_PER_THREAD]
                except Exception as error:
                    with lock:
                        errors.append(error)
                with lock:
                    done += 1
                    if done in EXPIRE_AT:
                        emu.expire_tokens()

        threads = [threading.Thread(target=worker, args=(ops,)) for ops in per_thread]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.close()
        stats = emu.stats
        effects = [emu.cancel_effects(name) for ops in per_thread for name in ops]

    rejected = stats["unauthenticated"]
    reliability_report.add("concurrency", {
        "threads": THREADS,
        "calls": done,
        "errors": len(errors),
        "token_expiries": len(EXPIRE_AT),
        "refreshes": probe.count,
        "most_refreshes_at_once": probe.most_at_once,
        "rejected_with_401": rejected,
        "api_requests": stats["api_requests"],
    })

    assert errors == []
    assert done == TOTAL
    # One refresh for the first token and one per expiry: not one per thread.
    assert probe.count == stats["tokens_issued"] == 1 + len(EXPIRE_AT)
    assert probe.most_at_once == 1
    # Each 401 was answered by exactly one re-send; every call got one 200.
    assert stats["api_requests"] == TOTAL + rejected
    assert rejected >= len(EXPIRE_AT)  # every expiry was noticed by at least one call
    token_answers = stats["token_requests"]  # the emulator counts /token's 200s too
    assert stats["responses"] == {"200": TOTAL + token_answers, "401": rejected}
    assert stats["cancels_applied"] == THREADS * CANCELS_PER_THREAD == sum(effects)
