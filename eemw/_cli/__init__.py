"""The internals of the ``eemw`` command (:mod:`eemw.cli` is the entry point).

Modules here may import ``rich``; :mod:`eemw.cli` imports them only after checking that
the ``cli`` extra is installed, so ``import eemw.cli`` stays light. The exceptions, which
:mod:`eemw.cli` imports up front, need only the standard library: this package,
:mod:`.streams` and :mod:`.seed`.
"""

from __future__ import annotations

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE"]

EXIT_OK = 0
EXIT_ERROR = 1
"""An API or transport error, every operation of the command failed, or a confirmation
was declined."""
EXIT_USAGE = 2
"""Bad arguments or configuration: nothing was sent."""
EXIT_PARTIAL = 3
"""A bulk command finished but some of its operations failed."""
EXIT_INTERRUPTED = 130
"""Ctrl-C."""
