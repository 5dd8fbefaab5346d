"""Starting and stopping a node: ``open_node`` (inside trio) and ``run`` (from plain Python)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import trio

from . import _process
from ._node import Node
from ._process import EXITING, RUNNING
from ._types import NoNodeError, ProcessExit

T = TypeVar("T")

_active: Node | None = None


def get_node() -> Node:
    """The running node; raises :class:`NoNodeError` outside one."""
    node = _active
    if node is None or node.closed:
        raise NoNodeError("no trouper node is running: use trouper.run() or trouper.open_node()")
    return node


# Full (oldest-generation) collections walk every live object; with millions of processes
# CPython 3.11's default (one per 10 middle-generation collections) spends most of a mass
# spawn in the collector: spawning 2M processes measured 187k/s with it, 432k/s with 1000.
GC_FULL_COLLECTION_THRESHOLD = 1000


@contextmanager
def _gc_tuned(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], max(before[2], GC_FULL_COLLECTION_THRESHOLD))
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def _single_errors_unwrapped() -> Iterator[None]:
    # The node's own tasks never raise, so an exception group out of its nursery holds the
    # root's one exception: raise that, as `trio.run(main)` users expect (SystemExit stays
    # a SystemExit, so an application's exit status survives).
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise


@asynccontextmanager
async def open_node(*, tune_gc: bool = True) -> AsyncIterator[Node]:
    """Run a trouper node for the duration of the block.

    The task that enters the block becomes the node's first process (the *root* process): it
    has a pid, can ``receive``, link and monitor. Processes belong to the node, not to the
    nursery of whoever spawned them; when the block ends every remaining process is stopped
    at once (no exit signals are sent: the node is going away).

    If the root process is killed by an exit signal (a linked process crashed and the root
    does not trap exits, or someone called ``exit(root, reason)``), the block is cancelled and
    :class:`ProcessExit` with that reason is raised out of it.

    One node runs per OS process at a time (DESIGN.md section 5: a node is an OS process).

    Args:
        tune_gc: while the node runs, make CPython's full garbage collections rarer (the
            third threshold becomes at least ``GC_FULL_COLLECTION_THRESHOLD``); young
            collections are unchanged. Restored when the node stops. Pass False to keep
            your own settings.
    """
    global _active
    if _active is not None and not _active.closed:
        raise RuntimeError("a trouper node is already running in this process")
    killed = False
    reason: Any = None
    with _gc_tuned(tune_gc), _single_errors_unwrapped():
        async with trio.open_nursery() as nursery:
            node = Node(nursery)
            _active = node
            nursery.start_soon(node.run_scheduler, name="trouper scheduler")
            nursery.start_soon(node.run_timers, name="trouper timers")
            root = node.new_process(None, task=True)
            assert root.task is not None
            root.task.trio_task = trio.lowlevel.current_task()
            root.status = RUNNING
            token = _process.current_task_process.set(root)
            try:
                with root.task.scope:
                    yield node
            finally:
                _process.current_task_process.reset(token)
                if root.status is EXITING:
                    killed, reason = True, root.exit_reason
                # The node is going away: no exit signals (not even the root's), so no
                # process starts cleaning up half-way through the shutdown.
                node.shutdown()
                if _active is node:
                    _active = None
    if killed:  # any reason, None included: exit reasons are arbitrary values
        raise ProcessExit(reason)


def run(
    main: Callable[..., Awaitable[T]], *args: Any, tune_gc: bool = True, **trio_run_options: Any
) -> T:
    """Start a node, run ``main(*args)`` as its root process and return its result.

    When ``main`` returns, every process still running is stopped and ``run`` returns.
    ``tune_gc`` is :func:`open_node`'s; other keyword arguments go to ``trio.run``
    (``clock=``, ``instruments=``...).
    """

    # Anything with an async ``__trouper_main__`` method (an Application) runs that way.
    main = getattr(main, "__trouper_main__", main)

    async def _root() -> T:
        async with open_node(tune_gc=tune_gc):
            return await main(*args)

    return trio.run(_root, **trio_run_options)
