"""Import time and cold start, each in fresh interpreter processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from ._config import Config
from ._emulator import EmulatorProcess
from ._measure import Section, Table
from ._peers import API_CORE_HTTP_OPTIONS, installed

DEPS = "import requests, google.auth, opentelemetry.trace, cachetools"
# The environment of every child process: see run().
_ENV: dict[str, str] = {}
IMPORTS = {
    "import eemw": ("import eemw", None),
    "eemw.Client": ("import eemw; eemw.Client", None),
    "its 4 dependencies": (DEPS, None),
    "import ee": ("import ee", "ee"),
    "google-api-core operations_v1": (
        "from google.api_core import operations_v1", "google.api_core"
    ),
}

# Every cold-start script prints how long its three phases took, in seconds: importing the
# library, building its client or session, and the first call (token refresh included).
_CREDS = """
import json, os
from google.oauth2 import service_account
info = json.loads(os.environ["BENCH_SA"])
url, name = os.environ["BENCH_URL"], os.environ["BENCH_NAME"]
creds = service_account.Credentials.from_service_account_info(
    info, scopes=["https://www.googleapis.com/auth/earthengine"])
"""
_T0 = "import time\n_t = [time.perf_counter()]\n"
_LAP = "_t.append(time.perf_counter())\n"
_REPORT = "print(json.dumps([b - a for a, b in zip(_t, _t[1:])]))\n"
COLD = {
    "requests": ("requests", _T0 + """
import requests
import google.auth.transport.requests
""" + _LAP + _CREDS + _LAP + """
session = requests.Session()
""" + _LAP + """
creds.refresh(google.auth.transport.requests.Request())
r = session.get(f"{url}/v1/{name}", headers={"Authorization": "Bearer " + creds.token})
r.raise_for_status()
assert r.json()["name"] == name
""" + _LAP + _REPORT),
    "eemw": ("eemw", _T0 + """
import eemw
eemw.Client
""" + _LAP + _CREDS + _LAP + """
client = eemw.Client("demo", endpoint=url, credentials=creds)
""" + _LAP + """
assert client.operations.get(name).name == name
""" + _LAP + _REPORT),
    "google-auth AuthorizedSession": ("google.auth", _T0 + """
from google.auth.transport.requests import AuthorizedSession
""" + _LAP + _CREDS + _LAP + """
session = AuthorizedSession(creds)
""" + _LAP + """
r = session.get(f"{url}/v1/{name}")
r.raise_for_status()
assert r.json()["name"] == name
""" + _LAP + _REPORT),
    "earthengine-api ee.data": ("ee", _T0 + """
import ee
""" + _LAP + _CREDS + _LAP + """
ee.data.initialize(credentials=creds, cloud_api_base_url=url, project="demo")
""" + _LAP + """
assert ee.data.getOperation(name)["name"] == name
""" + _LAP + _REPORT),
    "google-api-core operations (REST)": ("google.api_core", _T0 + """
from google.api_core.operations_v1 import AbstractOperationsClient
from google.api_core.operations_v1.transports.rest import OperationsRestTransport
""" + _LAP + _CREDS + _LAP + """
options = json.loads(os.environ["BENCH_API_CORE_OPTIONS"])
transport = OperationsRestTransport(host=url, credentials=creds, http_options=options)
client = AbstractOperationsClient(transport=transport)
""" + _LAP + """
assert client.get_operation(name).name == name
""" + _LAP + _REPORT),
}
PHASES = ("import", "credentials", "construct", "first call")
COLD_BASE = "google-auth AuthorizedSession"


def run(cfg: Config) -> tuple[Section, dict[str, float | None]]:
    section = Section(
        "Import and cold start",
        "Fresh interpreter processes (same venv, an empty working directory), interleaved; "
        "medians. Import time is measured inside the process around the import statement. "
        "Bytecode is cached for every package alike (a private `PYTHONPYCACHEPREFIX`, filled "
        "by a warm-up run), as it would be for installed packages.",
    )
    with tempfile.TemporaryDirectory(prefix="eemw-bench-pyc-") as cache:
        _ENV.clear()
        _ENV.update({k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
        _ENV["PYTHONPYCACHEPREFIX"] = cache
        try:
            return _run(cfg, section)
        finally:
            _ENV.clear()


def _run(cfg: Config, section: Section) -> tuple[Section, dict[str, float | None]]:
    imports = _import_times(cfg.import_reps)
    base = imports.get("its 4 dependencies")
    table = Table("Import", ["statement", "median ms", "÷ eemw's 4 dependencies"])
    for label, seconds in imports.items():
        stmt = IMPORTS[label][0]
        table.rows.append([f"`{stmt}`", f"{seconds * 1e3:.1f}",
                           f"{seconds / base:.2f}x" if base else "n/a"])
    table.notes.append(f"eemw's dependencies: `{DEPS}`.")
    section.tables.append(table)
    section.tables.append(_heaviest(runs=1 if cfg.smoke else 3))
    cold_table, cold_ratio = _cold(cfg.coldstart_reps)
    section.tables.append(cold_table)
    # The target is judged on importing eemw *and* reaching its client: `import eemw` alone
    # is lazy (PEP 562) and would flatter the figure.
    ratio = imports["eemw.Client"] / base if base else None
    return section, {"import": ratio, "cold": cold_ratio}


def _import_times(reps: int) -> dict[str, float]:
    chosen = {k: v[0] for k, v in IMPORTS.items() if v[1] is None or installed(v[1])}
    for label, stmt in list(chosen.items()):
        try:
            _import_seconds(stmt)  # compile the .pyc files first
        except subprocess.CalledProcessError:
            # Installed but not importable here (google-api-core without grpcio, say).
            del chosen[label]
    times: dict[str, list[float]] = {k: [] for k in chosen}
    for rep in range(reps):
        order = list(chosen)
        order = order[rep % len(order):] + order[: rep % len(order)]
        for label in order:
            times[label].append(_import_seconds(chosen[label]))
    return {k: statistics.median(v) for k, v in times.items()}


def _import_seconds(stmt: str) -> float:
    code = f"import time\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=cwd, env=_ENV)
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(stmt: str) -> list[tuple[str, int, int]]:
    """``-X importtime``: (module, self µs, depth), in the order Python reports them."""
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", stmt],
                             capture_output=True, text=True, check=True, cwd=cwd, env=_ENV)
    found = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _total, name = line[len("import time:"):].split("|")
        if own.strip().isdigit():
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            found.append((name.strip(), int(own), depth))
    return found


def _blame(rows: list[tuple[str, int, int]]) -> dict[str, str]:
    """Each module -> the eemw module whose import pulled it in (its nearest ancestor)."""
    blamed: dict[str, str] = {}
    for i, (name, _, depth) in enumerate(rows):
        owner, level = "", depth
        # importtime lists children before their parent: walk forward to the ancestors.
        for parent, _, parent_depth in rows[i + 1:]:
            if parent_depth < level:
                level = parent_depth
                if not owner and parent.startswith("eemw."):
                    owner = parent
        blamed[name] = owner or name
    return blamed


def _heaviest(runs: int = 3, top: int = 10) -> Table:
    deps = {name for name, _, _ in _importtime(DEPS)}
    # `-X importtime` reports only what import statements load: eemw.Client loads
    # eemw._client through importlib (PEP 562), so the statement names it to count it.
    samples = [_importtime("import eemw._client; eemw.Client") for _ in range(runs)]
    blamed = _blame(samples[0])
    groups: dict[tuple[str, str], list[float]] = {}
    for rows in samples:
        totals: dict[tuple[str, str], float] = {}
        for name, own, _ in rows:
            if name in deps:
                continue
            package = name.split(".")[0]
            key = (package, "" if package == "eemw" else blamed.get(name, name))
            totals[key] = totals.get(key, 0.0) + own
        for key, value in totals.items():
            groups.setdefault(key, []).append(value)
    table = Table(
        "What `import eemw; eemw.Client` loads beyond its 4 dependencies "
        f"(`-X importtime`, median of {runs} runs)",
        ["package", "pulled in by", "self ms"],
    )
    medians = {k: statistics.median(v + [0.0] * (runs - len(v))) for k, v in groups.items()}
    for (package, owner), value in sorted(medians.items(), key=lambda kv: -kv[1])[:top]:
        by = "(its own modules)" if package == "eemw" else f"`{owner}`"
        table.rows.append([f"`{package}`", by, f"{value / 1000:.1f}"])
    table.notes.append(
        f"{sum(medians.values()) / 1000:.1f} ms of import self time beyond the dependencies' "
        "own (under `-X importtime`, which inflates it)."
    )
    return table


def _cold(reps: int) -> tuple[Table, float | None]:
    table = Table(
        "Fresh process to its first result (a `get` with service-account credentials)",
        ["client", "process ms", f"÷ {COLD_BASE}", *(f"{p} ms" for p in PHASES)],
    )
    chosen = {k: v[1] for k, v in COLD.items() if installed(v[0])}
    with EmulatorProcess(seed=3) as emu:
        name = emu.operations()[0]["name"]
        env = {**_ENV, "BENCH_SA": json.dumps(emu.service_account_info), "BENCH_URL": emu.url,
               "BENCH_NAME": name, "BENCH_API_CORE_OPTIONS": json.dumps(API_CORE_HTTP_OPTIONS)}
        for label, script in list(chosen.items()):
            try:
                _process_seconds(script, env)  # warm the .pyc files and the OS caches
            except subprocess.CalledProcessError as exc:
                del chosen[label]
                last = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
                table.notes.append(f"{label}: left out, its first call fails: "
                                   f"{_clip(last[0]).rstrip('.') if last else 'no output'}.")
        times: dict[str, list[float]] = {k: [] for k in chosen}
        phases: dict[str, list[list[float]]] = {k: [] for k in chosen}
        for rep in range(reps):
            order = list(chosen)
            order = order[rep % len(order):] + order[: rep % len(order)]
            for label in order:
                seconds, laps = _process_seconds(chosen[label], env)
                times[label].append(seconds)
                phases[label].append(laps)
    medians = {label: statistics.median(values) for label, values in times.items()}
    base = medians.get(COLD_BASE)
    for label, median in medians.items():
        laps = [statistics.median(column) for column in zip(*phases[label], strict=True)]
        table.rows.append([label, f"{median * 1e3:.0f}",
                           f"{median / base:.2f}x" if base else "n/a",
                           *(f"{lap * 1e3:.1f}" for lap in laps)])
    table.notes.append(
        "Each process imports its library, builds service-account credentials (the same key "
        "for all), builds its client, refreshes a token against the emulator (a signed JWT "
        "grant) and gets one operation; the process is timed from spawn to exit, and each "
        "phase inside it. Medians."
    )
    if "earthengine-api ee.data" in times:
        table.notes.append("earthengine-api also fetches and parses the discovery document.")
    mine = phases.get("eemw")
    theirs = phases.get(COLD_BASE)
    if mine and theirs:
        columns = zip(zip(*mine, strict=True), zip(*theirs, strict=True), strict=True)
        gaps = [statistics.median(a) - statistics.median(b) for a, b in columns]
        table.notes.append(
            f"Where eemw's process differs from {COLD_BASE}'s, phase by phase (ms, + is "
            "slower): "
            + ", ".join(f"{p} {g * 1e3:+.1f}" for p, g in zip(PHASES, gaps, strict=True)) + "."
        )
    ratio = medians["eemw"] / base if base and "eemw" in medians else None
    return table, ratio


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _process_seconds(script: str, env: dict[str, str]) -> tuple[float, list[float]]:
    """Seconds from spawn to exit, and the phases the script reports."""
    with tempfile.TemporaryDirectory() as cwd:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=cwd,
                              capture_output=True)
        seconds = time.perf_counter() - started
    return seconds, [float(x) for x in json.loads(done.stdout.decode().splitlines()[-1])]
