"""Every exception eemw raises, in one place: ``from eemw.errors import NotFoundError``.

The tree, the rule for which type a failure surfaces as, and the RPC-code table
(:data:`RPC_CODES`) are documented in :mod:`eemw._errors`, re-exported here whole; the
stack's own errors (:class:`StackError` at build time, :class:`MiddlewareError` at run
time) and :class:`PluginSettingError` join them. The common classes are also importable
as ``eemw.<Name>``.
"""

from __future__ import annotations

from ._errors import *  # noqa: F403 - the tree's own list is the one list
from ._errors import __all__ as _tree
from ._pipeline import MiddlewareError, StackError
from ._plugins import PluginSettingError

__all__ = [*_tree, "MiddlewareError", "PluginSettingError", "StackError"]  # noqa: PLE0604
