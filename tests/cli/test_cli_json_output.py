"""`--json` output is terminal-safe: no server string can reach a terminal unescaped."""

from __future__ import annotations

import json

import pytest
from clitools import Run

from eemw._cli.output import json_line
from eemw.emulator import Emulator

# Characters a terminal acts on, or that reorder or hide text, beyond the C0 controls
# json.dumps already escapes: DEL, C1 (CSI, NEL), bidi override/isolate, zero-width,
# line and paragraph separators, BOM, a tag character beyond the BMP.
HOSTILE = "ok\x7f\x9b31m\x85\u202eevil\u2066\u200b\u2028\u2029\ufeff\U000e0041end"


def test_every_unprintable_character_is_escaped_and_the_value_survives() -> None:
    line = json_line({"description": HOSTILE, "plain": "café ✓"})
    assert line.isprintable()
    assert json.loads(line) == {"description": HOSTILE, "plain": "café ✓"}
    assert "café ✓" in line  # printable text stays readable
    assert "\\u202e" in line and "\\udb40\\udc41" in line


@pytest.mark.parametrize("value", ["", "plain", "\x00\x1b[2J", "\U0001f600", "\\u202e"])
def test_json_line_round_trips(value: str) -> None:
    line = json_line({"v": value})
    assert line.isprintable() and json.loads(line) == {"v": value}


def test_cli_json_escapes_a_hostile_description(cli: Run, emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", description=HOSTILE)
    result = cli("operations", "get", name, "--json")
    assert result.code == 0, result.err
    assert result.out.rstrip("\n").isprintable()
    assert json.loads(result.out)["description"] == HOSTILE
