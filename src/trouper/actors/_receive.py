"""Selective receive for task processes (Erlang's ``receive ... after``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import trio

from . import _process
from ._process import DEAD, EXITING, RUNNING, WAITING, Process
from ._types import NotInProcessError, ReceiveTimeoutError

_MISSING: Any = object()


def current_task_process(what: str) -> Process:
    """The calling task process, or a clear error (reactive callbacks cannot wait)."""
    if _process._running is not None:
        raise NotInProcessError(
            f"{what} cannot be used in a reactive callback (a plain def cannot wait); "
            "write the behaviour with async callbacks to make it a task process"
        )
    proc = _process.current_task_owner()
    if proc is None or proc.status is DEAD:
        raise NotInProcessError(f"{what} must be called from inside a trouper process")
    return proc


def _as_predicate(match: Any) -> Any:
    if match is None or (callable(match) and not isinstance(match, type | tuple)):
        return match
    if isinstance(match, type | tuple):
        return lambda message: isinstance(message, match)
    raise TypeError(
        f"receive() match must be a predicate, a type or a tuple of types, not {match!r}"
    )


def receive(
    match: Any = None, *, timeout: float | None = None, after: Any = _MISSING
) -> Coroutine[Any, Any, Any]:
    """Take the oldest message that matches, waiting for one if needed.

    Args:
        match: ``None`` (any message), a predicate ``message -> bool``, a type or a tuple of
            types. Messages that do not match stay in the mailbox, in their order.
        timeout: seconds to wait for a *matching* message, counted from the call (messages
            that do not match do not extend it). ``0`` only looks at what is already queued.
            ``None`` waits forever.
        after: returned when the timeout expires. Without it a timeout raises
            :class:`ReceiveTimeoutError`.

    Only task processes can receive: a reactive process gets each message as a call to its
    ``handle`` callback instead; there ``receive`` raises :class:`NotInProcessError` at once
    (not when awaited, which a plain def cannot do).
    """
    proc = current_task_process("receive()")
    return _receive(proc, _as_predicate(match), timeout, after)


async def _receive(proc: Process, predicate: Any, timeout: float | None, after: Any) -> Any:
    await trio.lowlevel.checkpoint_if_cancelled()
    deadline = math.inf if timeout is None else trio.current_time() + timeout
    scanned = 0
    while True:
        mailbox = proc.mailbox
        if mailbox:
            if predicate is None:
                message = mailbox.popleft()
                proc.handled += 1
                await proc.node.fair_yield()
                return message
            for index, message in enumerate(itertools.islice(mailbox, scanned, None), scanned):
                if predicate(message):
                    del mailbox[index]
                    proc.handled += 1
                    await proc.node.fair_yield()
                    return message
            scanned = len(mailbox)
        if trio.current_time() >= deadline:
            break
        if not await _park(proc, deadline):
            break
    if after is _MISSING:
        raise ReceiveTimeoutError(f"no matching message within {timeout} s")
    return after


async def _park(proc: Process, deadline: float) -> bool:
    """Sleep until a message arrives (True) or the deadline passes (False)."""
    task = proc.task
    assert task is not None
    task.waiter = trio.lowlevel.current_task()
    proc.status = WAITING

    def abort(_: Any) -> trio.lowlevel.Abort:
        task.waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    try:
        if deadline == math.inf:
            await trio.lowlevel.wait_task_rescheduled(abort)
            return True
        with trio.move_on_at(deadline):
            await trio.lowlevel.wait_task_rescheduled(abort)
            return True
        return False
    finally:
        if proc.status is not EXITING and proc.status is not DEAD:
            proc.status = RUNNING


def receive_all_nowait(match: Any = None) -> list[Any]:
    """Take every queued message that matches, oldest first, without waiting.

    For a task process that must sweep many messages at once (a supervisor collecting the
    exits of a million children): one call instead of a ``receive`` checkpoint each.
    Messages that do not match stay queued in order.
    """
    proc = current_task_process("receive_all_nowait()")
    mailbox = proc.mailbox
    if not mailbox:
        return []
    predicate = _as_predicate(match)
    if predicate is None:
        taken = list(mailbox)
        mailbox.clear()
    else:
        taken = []
        kept: list[Any] = []
        for message in mailbox:
            (taken if predicate(message) else kept).append(message)
        mailbox.clear()
        mailbox.extend(kept)
    proc.handled += len(taken)
    return taken


@contextmanager
def wake_on_message() -> Iterator[trio.CancelScope]:
    """A cancel scope that the calling task process's next message cancels.

    How a process waits for I/O *or* mail in one task (a connection reading its socket while
    its channels send it replies)::

        with trouper.wake_on_message():
            await trio.lowlevel.wait_readable(sock)
        for message in trouper.receive_all_nowait():
            ...

    If a message is already queued, the scope is cancelled on entry.
    """
    proc = current_task_process("wake_on_message()")
    task = proc.task
    assert task is not None
    with trio.CancelScope() as scope:
        if proc.mailbox:
            scope.cancel()
        else:
            task.wake_scope = scope
        try:
            yield scope
        finally:
            if task.wake_scope is scope:
                task.wake_scope = None
