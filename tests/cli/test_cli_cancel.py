"""`eemw operations cancel`: by name, --all, --dry-run, confirmation, partial failure."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from clitools import (
    PIPE_BYTES,
    TIMEOUT,
    Run,
    api_paths,
    clean_env,
    run_into_closing_reader,
    run_on_tty,
)

from eemw.emulator import Emulator, Fault

CANCEL_KEYS = {"name", "outcome", "error", "error_type"}


def seed(emu: Emulator) -> dict[str, str]:
    return {
        "running": emu.add_operation("demo", state="RUNNING"),
        "pending": emu.add_operation("demo", state="PENDING"),
        "done": emu.add_operation("demo", state="SUCCEEDED"),
        "failed": emu.add_operation("demo", state="FAILED"),
    }


def cancels_sent(emu: Emulator) -> list[str]:
    return [p for p in api_paths(emu) if p.endswith(":cancel")]


def test_cancel_by_name_cancels_and_exits_0(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "cancel", ops["running"], ops["pending"].rsplit("/", 1)[1])
    assert result.code == 0, result.err
    assert emu.cancel_effects(ops["running"]) == emu.cancel_effects(ops["pending"]) == 1
    assert "2 cancelled" in result.out
    emu.advance(2)  # cancel is asynchronous: CANCELLED comes on the emulator clock
    assert all(emu.operation(ops[k])["done"] for k in ("running", "pending"))  # type: ignore[index]


def test_some_failures_make_a_partial_failure(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    missing = "projects/demo/operations/NO_SUCH_TASK"
    result = cli("operations", "cancel", ops["running"], ops["done"], missing, "--json")
    assert result.code == 3
    records = result.records()
    assert all(set(r) == CANCEL_KEYS for r in records)
    outcomes = {r["name"]: (r["outcome"], r["error_type"]) for r in records}
    assert outcomes == {
        ops["running"]: ("cancelled", None),
        ops["done"]: ("already_done", "FailedPreconditionError"),
        missing: ("not_found", "NotFoundError"),
    }
    assert emu.cancel_effects(ops["running"]) == 1


def test_human_output_of_a_partial_failure_lists_each_outcome(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "cancel", ops["running"], "NO_SUCH_TASK")
    assert result.code == 3
    assert "1 cancelled, 1 not found" in result.out
    assert "projects/demo/operations/NO_SUCH_TASK" in result.out


def test_every_cancel_failing_exits_1(cli: Run, emu: Emulator) -> None:
    emu.add_fault(Fault(status=403, times=None, path_contains=":cancel"))
    running = emu.add_operation("demo", state="RUNNING")
    result = cli("operations", "cancel", running, "--json")
    assert result.code == 1
    [record] = result.records()
    assert record["outcome"] == "error"
    assert record["error_type"] == "PermissionDeniedError"
    human = cli("operations", "cancel", running)
    assert human.code == 1
    assert "error" in human.out and "PERMISSION_DENIED" in human.out


def test_a_bad_name_fails_before_anything_is_cancelled(cli: Run, emu: Emulator) -> None:
    running = emu.add_operation("demo", state="RUNNING")
    result = cli("operations", "cancel", running, "not/a name")
    assert result.code == 2
    assert emu.requests == []


def test_names_and_all_together_is_a_usage_error(cli: Run, emu: Emulator) -> None:
    running = emu.add_operation("demo", state="RUNNING")
    assert cli("operations", "cancel", running, "--all", "--yes").code == 2
    assert cli("operations", "cancel").code == 2
    assert cli("operations", "cancel", running, "--state", "RUNNING").code == 2
    assert emu.requests == []


def test_all_without_a_terminal_or_yes_refuses_and_sends_nothing(cli: Run, emu: Emulator) -> None:
    seed(emu)
    result = cli("operations", "cancel", "--all")
    assert result.code == 2
    assert "--yes" in result.err
    assert emu.requests == []


def test_dry_run_lists_targets_and_sends_nothing_mutating(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "cancel", "--all", "--dry-run", "--json")
    assert result.code == 0, result.err
    assert {(r["name"], r["outcome"]) for r in result.records()} == {
        (ops["running"], "would_cancel"), (ops["pending"], "would_cancel"),
    }
    assert cancels_sent(emu) == []
    assert all(p.startswith("GET ") for p in api_paths(emu))


def test_dry_run_human_output_says_nothing_was_sent(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "cancel", "--all", "--dry-run", "--state", "PENDING")
    assert result.code == 0, result.err
    assert ops["pending"].rsplit("/", 1)[1] in result.out
    assert ops["running"].rsplit("/", 1)[1] not in result.out
    assert "nothing was sent" in result.out
    assert cancels_sent(emu) == []


def test_all_yes_cancels_pending_and_running_only(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "cancel", "--all", "--yes")
    assert result.code == 0, result.err
    assert "2 cancelled" in result.out
    effects = {k: emu.cancel_effects(name) for k, name in ops.items()}
    assert effects == {"running": 1, "pending": 1, "done": 0, "failed": 0}


def test_all_with_state_and_type_narrows_the_selection(cli: Run, emu: Emulator) -> None:
    video = emu.add_operation("demo", state="RUNNING", type="EXPORT_VIDEO")
    image = emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE")
    queued = emu.add_operation("demo", state="PENDING", type="EXPORT_VIDEO")
    result = cli("operations", "cancel", "--all", "--yes", "--state", "RUNNING",
                 "--type", "EXPORT_VIDEO", "--json")
    assert result.code == 0, result.err
    assert [r["name"] for r in result.records()] == [video]
    assert emu.cancel_effects(image) == emu.cancel_effects(queued) == 0


def test_nothing_to_cancel_exits_0(cli: Run, emu: Emulator) -> None:
    emu.add_operation("demo", state="SUCCEEDED")
    result = cli("operations", "cancel", "--all", "--yes")
    assert result.code == 0
    assert "nothing to cancel" in result.err
    assert cancels_sent(emu) == []


def test_confirmation_on_a_terminal(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    ops = seed(emu)
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "cancel", "--all"]
    env = clean_env(TERM="xterm-256color", COLUMNS="120")

    code, shown = run_on_tty(argv, b"n\n", env)
    assert code == 1  # declining is a refusal, not an interruption
    assert "Cancel 2 operations in project demo?" in shown
    assert "nothing cancelled" in shown
    assert cancels_sent(emu) == []

    code, shown = run_on_tty(argv, b"y\n", env)
    assert code == 0, shown
    assert "2 cancelled" in shown
    assert "\x1b[" in shown  # colour on a terminal
    assert emu.cancel_effects(ops["running"]) == emu.cancel_effects(ops["pending"]) == 1


def test_ctrl_c_during_a_bulk_cancel_reports_and_exits_130(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    ops = seed(emu)
    # The server holds each cancel for a moment, so Ctrl-C lands while they are in flight.
    emu.add_fault(Fault(kind="delay", delay=0.5, times=None, path_contains=":cancel"))
    proc = subprocess.Popen(
        [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
         "--project", "demo", "operations", "cancel", ops["running"], ops["pending"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    assert proc.stderr is not None
    assert "cancelling 2 operations" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "interrupted:" in err and "of 2 cancels finished" in err
    assert "Traceback" not in err


# -- a reader that goes away (`eemw … | head -1`) -------------------------------------------


def test_a_reader_closing_early_silences_json_output_but_not_the_cancels(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(200)]
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "cancel", "--all", "--yes", "--json"]
    code, first, err = run_into_closing_reader(argv, clean_env())
    assert 200 * len(first) > 2 * PIPE_BYTES  # it was still writing when the reader left
    assert first.startswith(b'{"name": "projects/demo/operations/')
    assert code == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err
    assert err.splitlines() == []
    assert all(emu.cancel_effects(name) == 1 for name in names)


def test_a_reader_closing_early_on_the_table_keeps_the_exit_code(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(199)]
    missing = "projects/demo/operations/NO_SUCH_TASK"
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "cancel", *names, missing]
    code, first, err = run_into_closing_reader(argv, clean_env())
    assert first.split() == [b"NAME", b"OUTCOME"]
    assert 200 * len(names[0]) > 2 * PIPE_BYTES
    assert code == 3, err  # some cancelled, one not found: what the command would say anyway
    assert err.splitlines() == ["cancelling 200 operations (Ctrl-C to stop)…"]
    assert all(emu.cancel_effects(name) == 1 for name in names)
