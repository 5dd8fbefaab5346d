"""Low-level runtime hooks for libraries built on trouper (pubsub, channels, registries).

Application code should not need these: links, monitors and ``trap_exit`` are the tools of
the actor model. A library that keeps a table keyed by processes, or owns a resource on a
process's behalf, needs to hear of an exit *synchronously* and *whatever the reason*
(``kill`` included, where no ``terminate`` runs) and without the cost of a monitor. That is
an exit hook: an object whose ``process_exited(pid, reason)`` the runtime calls while the
process is finalized, before its links and monitors fire. A process's first hook costs no
allocation (it has a slot of its own); further ones go into its monitor table.

A hook must not raise and must not block: it runs inside the runtime's exit handling.
"""

from __future__ import annotations

from typing import Any

from . import _process
from ._process import ExitHook as ExitHook
from ._types import NoProcError, Pid

__all__ = ["ExitHook", "add_exit_hook", "remove_exit_hook"]


def add_exit_hook(pid: Pid, hook: Any) -> None:
    """Have ``hook.process_exited(pid, reason)`` called when ``pid`` exits (once, however
    often added).

    Raises:
        NoProcError: ``pid`` has already exited (its hooks have run: nothing would call
            this one).
    """
    proc = pid._proc
    if proc is None or proc.status is _process.DEAD:
        raise NoProcError(pid)
    _process.add_exit_hook(proc, hook)


def remove_exit_hook(pid: Pid, hook: Any) -> None:
    """Undo :func:`add_exit_hook`; nothing if the process or the hook is gone."""
    proc = pid._proc
    if proc is not None:
        _process.remove_exit_hook(proc, hook)
