"""The command's client settings: --timeout, --retry-attempts / --no-retry, --verbose."""

from __future__ import annotations

import pytest
from clitools import Run, api_paths, clean_env

from eemw.emulator import Emulator, Fault


def _get(emu: Emulator) -> tuple[str, str]:
    name = emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE")
    return "operations", "get", name


def test_retry_attempts_1_sends_one_request_against_a_503(cli: Run, emu: Emulator) -> None:
    emu.add_fault(Fault(status=503))
    result = cli(*_get(emu), "--retry-attempts", "1")
    assert result.code == 1
    assert "503" in result.err or "unavailable" in result.err.lower()
    assert len(api_paths(emu)) == 1


def test_no_retry_is_one_attempt_and_the_default_retries(cli: Run, emu: Emulator) -> None:
    args = _get(emu)
    emu.add_fault(Fault(status=503))
    assert cli(*args, "--no-retry").code == 1
    assert len(api_paths(emu)) == 1
    emu.add_fault(Fault(status=503))
    assert cli(*args).code == 0  # the default policy retries the 503
    assert len(api_paths(emu)) == 3


def test_the_command_reads_eemw_retry_attempts_and_the_flag_wins(
    cli: Run, emu: Emulator
) -> None:
    args = _get(emu)
    emu.add_fault(Fault(status=503))
    assert cli(*args, env=clean_env(EEMW_RETRY_ATTEMPTS="1")).code == 1
    assert len(api_paths(emu)) == 1
    emu.add_fault(Fault(status=503))
    assert cli(*args, "--retry-attempts", "2", env=clean_env(EEMW_RETRY_ATTEMPTS="1")).code == 0
    assert len(api_paths(emu)) == 3


def test_timeout_is_the_deadline_of_the_request(cli: Run, emu: Emulator) -> None:
    args = _get(emu)
    # The emulator holds the answer far past the deadline (its server stops the delay
    # when it closes), so only the client's deadline can end the command.
    emu.add_fault(Fault(kind="delay", delay=30.0))
    result = cli(*args, "--timeout", "0.3", "--no-retry")
    assert result.code == 1
    assert "no response within the attempt timeout of 0.3s" in result.err


def test_eemw_timeout_reaches_the_request_too(cli: Run, emu: Emulator) -> None:
    args = _get(emu)
    emu.add_fault(Fault(kind="delay", delay=30.0))
    result = cli(*args, "--no-retry", env=clean_env(EEMW_TIMEOUT="0.3"))
    assert result.code == 1
    assert "no response within the attempt timeout of 0.3s" in result.err


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--timeout", "0", "must be more than 0"),
    ("--timeout", "soon", "not a number of seconds"),
    ("--timeout", "nan", "finite"),
    ("--retry-attempts", "0", "must be from 1 to 100"),
    ("--retry-attempts", "two", "not a whole number"),
])
def test_bad_values_are_usage_errors_before_any_request(
    cli: Run, emu: Emulator, flag: str, value: str, says: str
) -> None:
    result = cli(*_get(emu), flag, value)
    assert result.code == 2
    assert f"argument {flag}: " in result.err and says in result.err
    assert api_paths(emu) == []


def test_a_bad_eemw_timeout_names_the_variable(cli: Run, emu: Emulator) -> None:
    result = cli(*_get(emu), env=clean_env(EEMW_TIMEOUT="-1"))
    assert result.code == 2
    assert "EEMW_TIMEOUT" in result.err
    assert api_paths(emu) == []


def test_verbose_logs_one_line_per_attempt_without_the_token(cli: Run, emu: Emulator) -> None:
    args = _get(emu)
    emu.add_fault(Fault(status=503))
    result = cli(*args, "--verbose")
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("eemw: GET ")]
    url = f"{emu.url}/v1/{args[2]}"
    assert [line.split()[1:5] for line in lines] == [
        ["GET", url, "->", "503"], ["GET", url, "->", "200"],
    ]
    assert all(line.endswith(" ms)") for line in lines)
    tokens = {r.headers.get("Authorization", r.headers.get("authorization", "")).split()[-1]
              for r in emu.requests if not r.path.startswith("/token")}
    assert tokens and all(token not in result.err for token in tokens)
    assert "Bearer" not in result.err and "Bearer" not in result.out


def test_without_verbose_there_is_no_http_log(cli: Run, emu: Emulator) -> None:
    result = cli(*_get(emu))
    assert result.code == 0, result.err
    assert "GET " not in result.err
