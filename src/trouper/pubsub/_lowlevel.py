"""The runtime internals pubsub needs, in one place.

Pubsub keeps its tables the way ``trouper.actors.Registry`` does: the caller updates them
directly, and an :class:`ExitHook` in the subscriber's monitor table removes its entries
synchronously when it exits. ``trouper.actors`` has no public API for exit hooks or for
"the calling process's record", so this module reaches into its private modules. Nothing
else in ``trouper.pubsub`` does (other modules get process records from here and read only
their ``pid`` and ``node``): if the runtime grows a public low-level API (a
``trouper.actors.lowlevel`` with these functions), only this file changes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from trouper.actors import NotInProcessError, Pid, _process, lowlevel
from trouper.actors._node import Node
from trouper.actors._process import DEAD, EXITING, ExitHook, Process, add_exit_hook, current
from trouper.actors._process import deliver_each as send_each
from trouper.actors._runtime import get_node

__all__ = [
    "ExitHook",
    "Node",
    "Process",
    "add_exit_hook",
    "caller",
    "current_node",
    "pid_number",
    "process_of",
    "remove_exit_hook",
    "send_each",
]


def caller(what: str) -> Process:
    """The calling process's record; :class:`NotInProcessError` outside a live process."""
    proc = _process._running  # inside a reactive callback: as trouper.self() does
    if proc is None:
        proc = current()
    if proc is None or proc.status is DEAD or proc.status is EXITING:
        raise NotInProcessError(f"{what} must be called from inside a trouper process")
    return proc


# ``Pid.number`` without the property call: picking a shard is on every subscribe's path.
pid_number: Callable[[Pid], int] = operator.attrgetter("_n")


def current_node() -> Node:
    """The running node (:class:`trouper.NoNodeError` outside one)."""
    return get_node()


def process_of(pid: Pid) -> Process | None:
    """The live record behind ``pid``, or None once the process has exited."""
    return pid._proc


remove_exit_hook = lowlevel.remove_exit_hook
