"""What a platform team tripped over: piped tables, delete's confirmation, honest dry runs,
errors that name what could not be reached, the plugins hint, and shell completion."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from clitools import TIMEOUT, Run, api_paths, clean_env, run_on_tty

from eemw.emulator import Emulator


def test_piped_tables_carry_no_trailing_spaces(cli: Run, emu: Emulator) -> None:
    emu.add_operation("demo", state="RUNNING", description="short")
    emu.add_operation("demo", state="SUCCEEDED", description="a much longer description")
    for argv in (("operations", "list"), ("stack",), ("plugins",)):
        result = cli(*argv)
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert len(lines) > 1
        assert [line for line in lines if line != line.rstrip()] == [], argv


# -- delete asks, like cancel --------------------------------------------------------------


def test_delete_off_a_terminal_needs_yes_and_sends_nothing(cli: Run, emu: Emulator) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    emu.clear_requests()
    result = cli("operations", "delete", name)
    assert result.code == 2
    assert "--yes" in result.err
    assert api_paths(emu) == []
    assert emu.operation(name) is not None


def test_delete_dry_run_shows_the_operation_and_deletes_nothing(
    cli: Run, emu: Emulator
) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED", description="old export")
    result = cli("operations", "delete", name, "--dry-run")
    assert result.code == 0, result.err
    assert "old export" in result.out
    assert "nothing was sent" in result.out
    assert cli("operations", "delete", name, "--dry-run", "--json").records() == [
        {"name": name, "outcome": "would_delete"}
    ]
    assert all(path.startswith("GET ") for path in api_paths(emu))
    assert emu.operation(name) is not None


def test_delete_on_a_terminal_asks_and_declining_exits_1(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "delete", name]
    env = clean_env(TERM="xterm-256color", COLUMNS="120")

    code, shown = run_on_tty(argv, b"n\n", env)
    assert code == 1
    assert "Delete the record of" in shown
    assert "nothing deleted" in shown
    assert emu.operation(name) is not None

    code, shown = run_on_tty(argv, b"y\n", env)
    assert code == 0, shown
    assert emu.operation(name) is None


# -- cancel --dry-run says what would really happen ----------------------------------------


def test_dry_run_by_name_never_says_a_done_operation_would_be_cancelled(
    cli: Run, emu: Emulator
) -> None:
    running = emu.add_operation("demo", state="RUNNING")
    done = emu.add_operation("demo", state="SUCCEEDED")
    missing = "projects/demo/operations/NO_SUCH_TASK"
    result = cli("operations", "cancel", running, done, missing, "--dry-run", "--json")
    assert result.code == 0, result.err
    assert {r["name"]: r["outcome"] for r in result.records()} == {
        running: "would_cancel", done: "already_done", missing: "not_found",
    }
    human = cli("operations", "cancel", running, done, "--dry-run")
    assert "1 operation would be cancelled, 1 operation already done" in human.out
    assert f"{done}: already done, would not be cancelled" in human.out
    assert not [p for p in api_paths(emu) if p.endswith(":cancel")]


def test_dry_run_all_with_done_states_lists_them_as_already_done(
    cli: Run, emu: Emulator
) -> None:
    done = emu.add_operation("demo", state="SUCCEEDED")
    result = cli("operations", "cancel", "--all", "--state", "SUCCEEDED", "--dry-run", "--json")
    assert result.records()[0]["name"] == done
    assert [r["outcome"] for r in result.records()] == ["already_done"]


# -- errors name what they could not reach -------------------------------------------------


def test_an_unreachable_endpoint_is_named(run: Run, emu: Emulator, tmp_path: Path) -> None:
    creds = tmp_path / "user.json"
    creds.write_text(json.dumps(emu.authorized_user_info()))
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
    result = run("--endpoint", dead, "--credentials", str(creds), "--project", "demo",
                 "operations", "get", "X")
    assert result.code == 1
    assert f"{dead}/v1/projects/demo/operations/X" in result.err


def test_an_unreachable_token_url_is_named(run: Run, tmp_path: Path) -> None:
    creds = tmp_path / "user.json"
    creds.write_text(json.dumps({
        "type": "authorized_user", "client_id": "id", "client_secret": "not-a-secret",
        "refresh_token": "rt", "token_uri": "http://127.0.0.1:9/token",
    }))
    result = run("--endpoint", "http://127.0.0.1:9", "--credentials", str(creds),
                 "--project", "demo", "operations", "get", "X")
    assert result.code == 1
    assert "http://127.0.0.1:9/token" in result.err
    assert "not-a-secret" not in result.err and "rt" not in result.err.split()


# -- plugins -------------------------------------------------------------------------------


def test_plugins_never_advises_enabling_what_is_enabled(run: Run) -> None:
    some = run("plugins", "--plugins", "audit")
    hint = next(line for line in some.out.splitlines() if line.startswith("enable with"))
    assert "audit" not in hint
    assert "ratelimit" in hint
    every = ",".join(r["name"] for r in run("plugins", "--json").records())
    assert "enable with" not in run("plugins", "--plugins", every).out


# -- completion ----------------------------------------------------------------------------


def complete(script: str, *words: str) -> list[str]:
    """What bash offers after ``eemw *words`` (the last word is the one being typed)."""
    line = " ".join(("eemw", *words))
    driver = (f'{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}; _eemw; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", driver], capture_output=True, text=True,
                          timeout=TIMEOUT, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_offers_what_the_parser_accepts(run: Run) -> None:
    result = run("completion", "bash")
    assert result.code == 0, result.err
    assert complete(result.out, "oper") == ["operations"]
    assert complete(result.out, "operations", "ca") == ["cancel"]
    assert complete(result.out, "ops", "cancel", "--dr") == ["--dry-run"]
    assert complete(result.out, "--json", "operations", "delete", "--y") == ["--yes"]
    assert "completion" in complete(result.out, "")


def test_zsh_completion_runs_the_same_function_through_bashcompinit(run: Run) -> None:
    zsh = run("completion", "zsh")
    bash = run("completion", "bash")
    assert zsh.code == 0, zsh.err
    assert "bashcompinit" in zsh.out
    assert bash.out.split("\n", 1)[1] in zsh.out
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-c", zsh.out], check=True, timeout=TIMEOUT)


def test_completion_for_an_unknown_shell_is_a_usage_error(run: Run) -> None:
    assert run("completion", "fish").code == 2
