"""The file sink survives SIGKILL: a cut record never glues the next record onto it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eemw_audit import FileSink

# The child appends whole records, then the first part of one more (what a kill in the
# middle of writing it leaves behind), says so, and blocks until it is killed.
CHILD = r"""
import os, sys
from eemw_audit import FileSink
path = sys.argv[1]
sink = FileSink(path)
for i in range(3):
    sink.write('{"n":%d,"by":"child"}' % i, {})
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"n":3,"by":"ch')
print("cut", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_record_cut_by_sigkill_stays_alone_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "cut"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()

    restarted = FileSink(path)  # the service comes back and keeps auditing
    for i in range(2):
        restarted.write(json.dumps({"n": i, "by": "restarted"}), {})

    lines = path.read_text().splitlines()
    assert lines[3] == '{"n":3,"by":"ch'  # the cut record, alone
    parsed = [json.loads(line) for i, line in enumerate(lines) if i != 3]
    assert [(r["by"], r["n"]) for r in parsed] == [
        ("child", 0), ("child", 1), ("child", 2), ("restarted", 0), ("restarted", 1),
    ]


def test_each_record_is_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = FileSink(tmp_path / "audit.jsonl")
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes | memoryview) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    sink.write('{"n":1}', {})
    sink.write('{"n":2}', {})
    assert writes == [b'{"n":1}\n', b'{"n":2}\n']
