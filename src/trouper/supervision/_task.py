"""TaskSupervisor: run one-off functions supervised, and await their result or their crash.

A task is a temporary child of a DynamicSupervisor. The caller is not linked to it (Elixir's
``Task.Supervisor.async_nolink``): a crashing task cannot take the caller down, and the
caller learns of the crash from :meth:`Task.result`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable
from typing import Any

import attrs

import trouper

from ._common import SupervisorError, start_child, terminate_child
from ._dynamic import DynamicSupervisor
from ._spec import ChildSpec


class TaskError(trouper.TrouperError):
    """The task did not return a value: it raised (``reason`` is the exception) or was killed."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"task failed: {reason!r}")
        self.reason = reason


class TaskTimeoutError(TaskError, TimeoutError):
    """No result within the timeout; the task keeps running (stop it with ``shutdown``)."""


@attrs.frozen(slots=True)
class _TaskResult:
    ref: trouper.Ref
    ok: bool
    value: Any


async def _run(caller: trouper.Pid, ref: trouper.Ref, fn: Callable[..., Any], args: Any) -> None:
    try:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        trouper.send(caller, _TaskResult(ref, False, exc))
        raise
    trouper.send(caller, _TaskResult(ref, True, result))


@attrs.define
class Task:
    """A running supervised task; await its outcome with :meth:`result`."""

    pid: trouper.Pid
    ref: trouper.Ref
    monitor_ref: trouper.Ref

    async def result(self, timeout: float | None = 5.0) -> Any:
        """The task's return value; raises :class:`TaskError` if it crashed or was killed.

        Must be called by the process that started the task (the result is a message to it).
        """

        def mine(message: Any) -> bool:
            kind = type(message)
            if kind is _TaskResult:
                return bool(message.ref is self.ref)
            return kind is trouper.Down and message.ref is self.monitor_ref

        wait = math.inf if timeout is None else timeout
        message = await trouper.receive(mine, timeout=wait, after=None)
        if message is None:
            raise TaskTimeoutError("timeout")
        if type(message) is trouper.Down:
            # The result (if any) was sent before the task died: take it if it is queued.
            late = await trouper.receive(mine, timeout=0, after=None)
            if late is None:
                raise TaskError(message.reason)
            message = late
        trouper.demonitor(self.monitor_ref, flush=True)
        if not message.ok:
            raise TaskError(message.value)
        return message.value

    async def shutdown(self, sup: trouper.Pid | str) -> None:
        """Stop the task through its supervisor (it gets ``shutdown``, then ``kill``)."""
        trouper.demonitor(self.monitor_ref, flush=True)
        with contextlib.suppress(SupervisorError):  # already gone
            await terminate_child(sup, self.pid)


class TaskSupervisor:
    """Supervised one-off tasks: ``task = await TaskSupervisor.run(sup, fn)``."""

    @staticmethod
    async def start_link(*, name: str | None = None, max_children: float = math.inf) -> trouper.Pid:
        return await DynamicSupervisor.start_link(name=name, max_children=max_children)

    @staticmethod
    async def run(
        sup: trouper.Pid | str, fn: Callable[..., Any], *args: Any, shutdown: float = 5.0
    ) -> Task:
        """Start ``fn(*args)`` (sync or async) under ``sup``, unlinked from the caller."""
        ref = trouper.make_ref()
        spec = ChildSpec(
            id="task",
            start=trouper.spawn_link,
            args=(_run, trouper.self(), ref, fn, args),
            restart="temporary",
            shutdown=shutdown,
        )
        pid = await start_child(sup, spec)
        assert pid is not None
        return Task(pid, ref, trouper.monitor(pid))

    @staticmethod
    async def start_child(
        sup: trouper.Pid | str, fn: Callable[..., Any], *args: Any
    ) -> trouper.Pid:
        """Start ``fn(*args)`` under ``sup`` and forget about it (its crash is only logged)."""

        async def body() -> None:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result

        spec = ChildSpec(id="task", start=trouper.spawn_link, args=(body,), restart="temporary")
        pid = await start_child(sup, spec)
        assert pid is not None
        return pid
