"""Standard streams that outlive their reader (``eemw … | head``).

Imported by :mod:`eemw.cli` before the ``cli`` extra is checked, so it needs nothing but
the standard library.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast

__all__ = ["PipeGuard", "guarded_streams"]


class PipeGuard:
    """A text stream that goes quiet, instead of raising, once its reader has gone.

    The first :class:`BrokenPipeError` points the stream's descriptor at ``/dev/null``, as
    Python's documentation on SIGPIPE advises, so neither a later write nor the
    interpreter's last flush of what is still buffered can fail; from then on writes are
    dropped. The command itself carries on and exits with its own code: a bulk cancel a
    reader stopped watching is still a bulk cancel. Everything else is the wrapped
    stream's (``isatty``, ``fileno``, ``encoding``, …).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_streams() -> Iterator[tuple[PipeGuard, PipeGuard]]:
    """``sys.stdout`` and ``sys.stderr`` behind a :class:`PipeGuard` while the block runs."""
    saved = sys.stdout, sys.stderr
    out, err = PipeGuard(sys.stdout), PipeGuard(sys.stderr)
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
