"""`eemw stack|plugins|emulator|demo`, --emulator, credentials files, and the missing extra."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from clitools import TIMEOUT, Run, clean_env, run_on_tty
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.emulator import Emulator

BUILT_IN = [("tracing", "call"), ("idempotency", "call"), ("retry", "call"),
            ("auth", "attempt"), ("check", "attempt"), ("http-tracing", "attempt")]


# -- stack and plugins ---------------------------------------------------------------------


def test_stack_prints_the_resolved_order_with_phases(run: Run) -> None:
    result = run("stack")  # needs no login: the stack does not depend on credentials
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()[1:]]
    assert [(r[1], r[2]) for r in rows[:6]] == BUILT_IN
    assert rows[6][0] == "transport"


def test_stack_json(run: Run) -> None:
    records = run("stack", "--json").records()
    assert [(r["name"], r["phase"]) for r in records] == BUILT_IN
    assert [r["position"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(r["plugin"] is None for r in records)
    assert records[3]["origin"] == "eemw.middleware.auth.Auth"


def shipped_plugins() -> dict[str, str]:
    """The installed plugins by name; `make test` always installs the two shipped ones."""
    installed = {p.name: p.distribution for p in eemw.installed_plugins()}
    assert {"ratelimit", "audit"} <= installed.keys(), (
        "the ratelimit and audit plugins are not installed: run `make test`, or "
        "pip install ./plugins/eemw-ratelimit ./plugins/eemw-audit"
    )
    return installed


def test_stack_shows_enabled_plugins_where_the_library_puts_them(run: Run) -> None:
    installed = shipped_plugins()
    records = run("stack", "--plugins", "ratelimit,audit", "--json").records()
    with eemw.Client(credentials=AnonymousCredentials(), plugins=["ratelimit", "audit"]) as c:
        expected = [(e.name, e.phase, e.plugin) for e in c.stack.entries]
    assert [(r["name"], r["phase"], r["plugin"]) for r in records] == expected
    assert ("audit", "call", installed["audit"]) in expected
    assert ("ratelimit", "attempt", installed["ratelimit"]) in expected


def test_unknown_plugin_is_a_usage_error(run: Run) -> None:
    result = run("stack", "--plugins", "no-such-plugin")
    assert result.code == 2
    assert "no-such-plugin" in result.err and "Traceback" not in result.err


def test_plugins_lists_every_installed_plugin(run: Run) -> None:
    installed = eemw.installed_plugins()
    records = run("plugins", "--json").records()
    assert [(r["name"], r["distribution"], r["version"]) for r in records] == [
        (p.name, p.distribution, p.version) for p in installed
    ]
    assert not any(r["enabled"] for r in records)


def test_plugins_marks_the_enabled_ones(run: Run) -> None:
    installed = shipped_plugins()
    by_flag = {r["name"]: r["enabled"] for r in run(
        "plugins", "--json", "--plugins", "audit,ratelimit").records()}
    by_env = {r["name"]: r["enabled"] for r in run(
        "plugins", "--json", env=clean_env(EEMW_PLUGINS="audit,ratelimit")).records()}
    expected = {name: name in ("audit", "ratelimit") for name in installed}
    assert by_flag == by_env == expected
    assert not all(expected.values())  # the fixture plugins are installed and not enabled
    human = run("plugins", "--plugins", "audit")
    row = next(line.split() for line in human.out.splitlines() if line.startswith("audit "))
    assert row[:4] == ["audit", installed["audit"], row[2], "yes"]


def test_audit_records_of_the_command_go_to_stderr(cli: Run, emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    result = cli("--plugins", "audit", "operations", "cancel", name, "--json")
    assert result.code == 0, result.err
    assert [r["outcome"] for r in result.records()] == ["cancelled"]  # stdout stays data
    [record] = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    assert (record["call"], record["operation"], record["outcome"]) == (
        "operations.cancel", name, "ok")
    named = cli("operations", "delete", name, "--yes",
                env=clean_env(EEMW_PLUGINS="audit", EEMW_PLUGIN_AUDIT_LOGGER="acme.audit"))
    assert named.code == 0, named.err
    assert '"call":"operations.delete"' in named.err


def test_log_records_are_left_to_logging_the_program_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from eemw._cli.session import show_log_records

    root = logging.getLogger()
    configured = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [configured])
    show_log_records()
    assert root.handlers == [configured]
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    show_log_records()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    assert logging.getLogger("acme.audit").getEffectiveLevel() == logging.INFO


def test_the_command_never_names_a_plugin_logger() -> None:
    # The core knows no plugin: the audit trail shows because INFO records do.
    source = Path(__file__).resolve().parents[2] / "eemw"
    for path in [source / "cli.py", *(source / "_cli").glob("*.py")]:
        assert "eemw.audit" not in path.read_text(), path


def test_plugins_flags_an_enabled_plugin_that_is_not_installed(run: Run) -> None:
    result = run("plugins", "--json", "--plugins", "ghost")
    assert result.code == 2
    assert {"name": "ghost", "installed": False, "enabled": True}.items() <= next(
        r for r in result.records() if r["name"] == "ghost").items()
    assert "ghost" in result.err


# -- --emulator, eemw emulator, eemw demo --------------------------------------------------


def test_emulator_flag_makes_any_command_work_offline(run: Run) -> None:
    records = run("--emulator", "operations", "list", "--json").records()
    assert len(records) == 12
    assert {r["project"] for r in records} == {"demo"}
    assert {"SUCCEEDED", "RUNNING", "PENDING", "FAILED", "CANCELLED"} <= {
        r["state"] for r in records
    }
    # The seed is deterministic, so an id from one run names the same task in the next.
    first = records[0]
    [again] = run("--emulator", "operations", "get", first["id"], "--json").records()
    assert (again["name"], again["description"]) == (first["name"], first["description"])


def test_emulator_flag_conflicts_with_endpoint(run: Run) -> None:
    result = run("--emulator", "--endpoint", "https://example.com", "operations", "list")
    assert result.code == 2
    assert "--emulator" in result.err


def listed(result: object) -> list[tuple[str, str, str]]:
    return [(r["id"], r["type"], r["description"]) for r in result.records()]  # type: ignore[attr-defined]


def test_emulator_command_serves_the_demo_operations_until_interrupted(
    eemw_script: str, run: Run, tmp_path: Path
) -> None:
    credentials = tmp_path / "emulator-user.json"
    # Started as a shell starts a background job (`eemw emulator &`): with SIGINT ignored,
    # which `kill -INT` must still overcome.
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$0" emulator --port 0 --credentials-file "$1"',
         eemw_script, str(credentials)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        assert credentials.stat().st_mode & 0o077 == 0  # it holds a client secret
        result = run("--endpoint", match.group(1), "--credentials", str(credentials),
                     "--project", "demo", "operations", "list", "--json")
        assert result.code == 0, result.err
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    # Ctrl-C is how a foreground server ends: a normal exit, and no warning on loopback.
    assert proc.returncode == 0
    assert err == ""
    # The same tasks under the same ids as `--emulator`, so one session carries over.
    assert listed(result) == listed(run("--emulator", "operations", "list", "--json"))


def test_emulator_command_warns_off_loopback(run: Run) -> None:
    # A documentation address (TEST-NET-1): the warning comes first, then binding fails.
    result = run("emulator", "--host", "192.0.2.1", "--port", "0")
    assert result.code == 1
    warning, error = result.err.splitlines()
    assert warning.startswith("eemw: warning: --host 192.0.2.1 is not a loopback address")
    assert error.startswith("eemw: error: cannot start the emulator on 192.0.2.1:0")


@pytest.mark.parametrize(
    "args",
    [
        ("emulator", "--fault-rate", "5"), ("emulator", "--fault-rate", "-1"),
        ("emulator", "--fault-rate", "nan"), ("emulator", "--port", "65536"),
        ("emulator", "--port", "-1"), ("emulator", "--latency", "-5"),
        ("emulator", "--latency", "inf"), ("emulator", "--seed-operations", "10001"),
        ("emulator", "--fault-seed", "x"),
        ("operations", "wait", "X", "--timeout", "nan"),
        ("operations", "wait", "X", "--timeout", "1e9"),
        ("operations", "wait", "X", "--poll-interval", "0"),
        ("operations", "list", "--page-size", "1001"), ("operations", "list", "--limit", "-1"),
    ],
    ids=" ".join,
)
def test_out_of_range_values_are_usage_errors(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    from eemw.cli import main

    with pytest.raises(SystemExit) as caught:
        main(list(args))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {next(a for a in args if a.startswith('--'))}" in err


def test_ctrl_c_while_starting_up_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import eemw.cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(eemw.cli, "build_parser", interrupted)
    assert eemw.cli.main(["operations", "list"]) == 130
    assert capsys.readouterr().err == "eemw: interrupted\n"


def test_demo_runs(run: Run) -> None:
    result = run("demo")
    assert result.code == 0, result.err
    assert "eemw demo" in result.out
    assert "API requests reached the emulator" in result.out


# -- credentials ---------------------------------------------------------------------------


def test_service_account_key_file_works(run: Run, emu: Emulator, tmp_path: Path) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    key = tmp_path / "sa.json"
    key.write_text(json.dumps(emu.service_account_info()))
    result = run("--endpoint", emu.url, "--credentials", str(key), "--project", "demo",
                 "operations", "get", name, "--json")
    assert result.code == 0, result.err
    assert result.records()[0]["name"] == name


def test_unreadable_credentials_are_a_usage_error(run: Run, emu: Emulator, tmp_path: Path) -> None:
    missing = run("--endpoint", emu.url, "--credentials", str(tmp_path / "nope.json"),
                  "operations", "list", "--project", "demo")
    assert missing.code == 2 and "cannot load credentials" in missing.err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    bad = run("--endpoint", emu.url, "--credentials", str(garbage), "operations", "list",
              "--project", "demo")
    assert bad.code == 2 and "cannot load credentials" in bad.err
    assert emu.requests == []


def test_no_credentials_anywhere_is_a_usage_error_saying_what_to_do(
    run: Run, tmp_path: Path
) -> None:
    # No ADC file, no gcloud config, no metadata server: google.auth.default() finds nothing.
    env = clean_env(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path), NO_GCE_CHECK="True")
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    result = run("operations", "list", "--project", "demo", env=env)
    assert result.code == 2
    [line] = result.err.splitlines()
    assert "--credentials" in line and "--emulator" in line


def test_credentials_the_server_rejects_are_an_api_error(
    run: Run, emu: Emulator, tmp_path: Path
) -> None:
    info = emu.authorized_user_info()
    info["refresh_token"] = "rt-unknown-to-the-server-7f3a"
    path = tmp_path / "revoked.json"
    path.write_text(json.dumps(info))
    result = run("--endpoint", emu.url, "--credentials", str(path), "--project", "demo",
                 "operations", "list")
    assert result.code == 1
    [line] = result.err.splitlines()
    assert "UNAUTHENTICATED" in line and "credentials" in line
    assert "rt-unknown-to-the-server-7f3a" not in result.err + result.out


# -- terminal behaviour and the missing extra -------------------------------------------------


def test_colour_only_on_a_terminal_and_never_with_no_color(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    emu.add_operation("demo", state="FAILED")
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "list"]
    code, coloured = run_on_tty(argv, b"", clean_env(TERM="xterm-256color", COLUMNS="120"))
    assert code == 0, coloured
    assert _colours(coloured)
    code, plain = run_on_tty(argv, b"", clean_env(TERM="xterm-256color", COLUMNS="120",
                                                  NO_COLOR="1"))
    assert code == 0, plain
    assert "FAILED" in plain and not _colours(plain)


def _colours(text: str) -> set[str]:
    """The foreground colour codes in ``text``'s SGR escape sequences."""
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = params.split(";")
        found |= {c for c in codes if c in {str(n) for n in (*range(30, 38), *range(90, 98))}}
        found |= {"256"} if "38" in codes else set()
    return found


def test_without_rich_it_names_the_extra_to_install(run: Run, tmp_path: Path) -> None:
    # A `rich` package that refuses to import stands in for an install without the extra.
    blocker = tmp_path / "rich"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('rich is not installed')\n")
    result = run("--emulator", "operations", "list",
                 env=clean_env(PYTHONPATH=str(tmp_path)))
    assert result.code == 2
    assert "pip install 'eemw[cli]'" in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


def test_importing_the_cli_module_does_not_import_rich(tmp_path: Path) -> None:
    import sys

    code = "import sys, eemw.cli; print('rich' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=clean_env(), timeout=TIMEOUT)
    assert done.stdout.strip() == "False"


def test_seeding_more_than_the_demo_set_starts_it_again() -> None:
    from eemw._cli.seed import DEMO_OPERATIONS, seed_demo

    with Emulator() as emu:
        names = seed_demo(emu, DEMO_OPERATIONS + 2)
        described = [emu.operation(n)["metadata"]["description"] for n in names]  # type: ignore[index]
    assert len(set(names)) == DEMO_OPERATIONS + 2
    assert described[DEMO_OPERATIONS:] == [f"{d} #2" for d in described[:2]]
