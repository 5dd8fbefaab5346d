"""Process behaviours and how a behaviour becomes a running process.

A behaviour is a class; a process runs a fresh instance of it (a restart builds a new one,
so state starts clean, as in OTP). The execution mode follows from how the class is written:

* every callback a plain ``def``: a **reactive** process, run by the node's scheduler, with no
  trio task while it waits. Its ``init`` runs inside ``spawn`` (in the new process's context),
  so spawning one is as cheap as building an object.
* any callback ``async def``: a **task** process, with its own trio task; its callbacks may
  await (I/O, ``call``, ``receive``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs
import trio

from . import _process
from ._node import Node, crash_report
from ._process import EXITING, RUNNING, WAITING, Process, add_link, add_monitor, remove_link
from ._receive import receive
from ._runtime import get_node
from ._types import (
    IGNORE,
    KILLED,
    NORMAL,
    InitError,
    NotInProcessError,
    Pid,
    ProcessExit,
    Ref,
    Stop,
    is_clean_exit,
)

DEFAULT_START_TIMEOUT = 5.0


class Actor:
    """The simplest behaviour: one ``handle`` callback for every message.

    ============================  ===================================================
    API                           callback
    ============================  ===================================================
    ``spawn(MyActor, *args)``,    ``init(*args)``: return None, ``IGNORE`` or ``Stop``
    ``await MyActor.start_link``
    a message arrives             ``handle(message)``: return None or ``Stop``
    the process ends on its own   ``terminate(reason)`` (not after a kill or a signal)
    ============================  ===================================================

    Plain ``def`` callbacks make a reactive process; ``async def`` ones a task process.
    An exception in a callback ends this process only, with the exception as its reason.
    """

    _trouper_task_mode: ClassVar[bool] = False
    _trouper_callbacks: ClassVar[tuple[str, ...]] = ("init", "handle", "terminate")

    _trouper_default_init: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._trouper_task_mode = any(
            inspect.iscoroutinefunction(getattr(cls, name, None)) for name in cls._trouper_callbacks
        )
        # Spawning skips the init step entirely for behaviours that do not define one.
        cls._trouper_default_init = getattr(cls.init, "_trouper_default", False)

    def init(self, *args: Any) -> Any:
        return None

    init._trouper_default = True  # type: ignore[attr-defined]

    def handle(self, message: Any) -> Any:
        return None

    def terminate(self, reason: Any) -> Any:
        return None

    # -- starting ---------------------------------------------------------------------------

    @classmethod
    async def start_link(
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_START_TIMEOUT
    ) -> Pid | None:
        """Start a process linked to the caller; returns after ``init`` has run.

        Returns the pid, or None if ``init`` returned ``IGNORE``. If ``init`` raises or
        returns ``Stop(reason)``, raises :class:`InitError` with that reason; as in OTP the
        failed process's exit signal then reaches the linked caller too (trap exits to
        survive it). A name already taken raises :class:`AlreadyRegisteredError`.
        """
        pid, _ = await _start(cls, args, link=True, monitor=False, name=name, timeout=timeout)
        return pid

    @classmethod
    def start_link_nowait(cls, *args: Any, name: str | None = None) -> Pid | None:
        """:meth:`start_link` for a reactive behaviour, without awaiting: ``init`` runs inline.

        A reactive behaviour's ``init`` runs inside the start, so its outcome is known when
        this returns: the pid, None for ``IGNORE``, or :class:`InitError` (the failed
        process's exit signal reaches the linked caller too, as with ``start_link``). This is
        how a reactive process starts linked children, since it cannot await.

        Raises:
            TypeError: the behaviour is in task mode (its ``init`` may await: use
                ``start_link``).
            NotInProcessError: not called from inside a process.
        """
        if cls._trouper_task_mode:
            raise TypeError(
                f"{cls.__name__} has async callbacks (a task process): use await start_link()"
            )
        parent = _process.current()
        if parent is None:
            raise NotInProcessError("start_link_nowait must be called from inside a process")
        ack = InlineAck()
        proc, _ = start_process(get_node(), cls, args, parent=parent, link=True, name=name, ack=ack)
        assert ack.outcome is not None  # reactive init ran inline
        _process.raise_if_exiting(parent)
        kind, reason = ack.outcome
        if kind == "ok":
            return proc.pid
        if kind == "ignore":
            return None
        raise InitError(reason) from reason if isinstance(reason, BaseException) else None

    @classmethod
    async def start(
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_START_TIMEOUT
    ) -> Pid | None:
        """Like :meth:`start_link`, without a link."""
        pid, _ = await _start(cls, args, link=False, monitor=False, name=name, timeout=timeout)
        return pid

    @classmethod
    async def start_monitor(
        cls, *args: Any, name: str | None = None, timeout: float | None = DEFAULT_START_TIMEOUT
    ) -> tuple[Pid, Ref] | None:
        """Like :meth:`start`, monitored by the caller; returns ``(pid, ref)``."""
        pid, ref = await _start(cls, args, link=False, monitor=True, name=name, timeout=timeout)
        if pid is None or ref is None:
            return None
        return pid, ref


@attrs.define
class InitAck:
    """How a starter learns how ``init`` went: ("ok" | "ignore" | "error", reason)."""

    outcome: tuple[str, Any] | None = None
    event: trio.Event = attrs.field(factory=trio.Event)

    def set(self, kind: str, value: Any = None) -> None:
        if self.outcome is None:
            self.outcome = (kind, value)
            self.event.set()


class InlineAck:
    """An ack for a reactive ``init`` that runs inline: nothing to wait for, no trio.Event."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: tuple[str, Any] | None = None

    def set(self, kind: str, value: Any = None) -> None:
        if self.outcome is None:
            self.outcome = (kind, value)


def _init_outcome(result: Any) -> tuple[str, Any]:
    if result is IGNORE:
        return ("ignore", NORMAL)
    if isinstance(result, Stop):
        return ("error", result.reason)
    return ("ok", None)


def start_process(
    node: Node,
    target: Any,
    args: tuple[Any, ...],
    *,
    parent: Process | None,
    link: bool = False,
    monitor: bool = False,
    name: str | None = None,
    trap_exit: bool = False,
    ack: InitAck | InlineAck | None = None,
) -> tuple[Process, Ref | None]:
    """Create a process for ``target`` (an Actor subclass or an async function) and start it.

    Links, monitors and the name are in place before any of the process's code runs, so
    ``spawn_link`` and ``spawn_monitor`` are atomic.
    """
    task_mode = getattr(target, "_trouper_task_mode", None)
    if task_mode is not None and isinstance(target, type):
        behaviour: Any = target()
    elif inspect.iscoroutinefunction(target):
        behaviour = None
        task_mode = True
    else:
        raise TypeError(
            f"spawn needs an async function or an Actor/GenServer subclass, not {target!r}"
        )
    if name is not None:
        node.check_name_free(name)
    proc = node.new_process(behaviour, task=task_mode)
    proc.trap_exit = trap_exit
    ref: Ref | None = None
    if parent is not None:
        proc.parent = parent.pid
        if link:
            add_link(parent, proc)
        if monitor:
            ref = Ref()
            add_monitor(parent, proc, ref)
    if name is not None:
        node.register(name, proc)
    if behaviour is None:
        node.start_task(proc, lambda: target(*args))
    elif task_mode:
        node.start_task(proc, lambda: _run_task_behaviour(proc, behaviour, args, ack))
    elif ack is not None or args or not behaviour._trouper_default_init:
        _init_reactive(proc, behaviour, args, ack)
    # else: a reactive behaviour without init is ready as it is (status WAITING).
    return proc, ref


def _init_reactive(
    proc: Process, behaviour: Any, args: tuple[Any, ...], ack: InitAck | InlineAck | None
) -> None:
    prev = _process.set_running(proc)
    proc.status = RUNNING
    try:
        kind, reason = _init_outcome(behaviour.init(*args))
    except ProcessExit as exc:
        kind, reason = "error", exc.reason
    except Exception as exc:
        kind, reason = "error", exc
    finally:
        _process.set_running(prev)
    node = proc.node
    if proc.status is EXITING:  # killed by a signal its own init caused
        kind, reason = "error", proc.exit_reason
    elif kind == "ok":
        proc.status = WAITING
    else:
        proc.status = EXITING
        proc.exit_reason = reason
        if not is_clean_exit(reason):
            crash_report(proc, reason)
    if ack is not None:
        ack.set(kind, reason)
    if proc.status is EXITING:
        node.schedule_finalize(proc)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def _run_task_behaviour(
    proc: Process, behaviour: Any, args: tuple[Any, ...], ack: InitAck | InlineAck | None
) -> None:
    try:
        kind, reason = _init_outcome(await _maybe_await(behaviour.init(*args)))
    except ProcessExit as exc:
        kind, reason = "error", exc.reason
    except Exception as exc:
        if ack is not None:
            ack.set("error", exc)
        raise
    if ack is not None:
        ack.set(kind, reason)
    if kind != "ok":
        raise ProcessExit(reason)
    handle: Callable[[Any], Awaitable[Any] | Any] = behaviour.handle
    while True:
        message = await receive()
        try:
            result = await _maybe_await(handle(message))
        except Exception as exc:
            if proc.status is EXITING:
                raise  # killed by a signal while handling: no terminate
            reason = exc.reason if isinstance(exc, ProcessExit) else exc
            await _terminate_task(behaviour, reason)
            raise
        if isinstance(result, Stop):
            await _terminate_task(behaviour, result.reason)
            raise ProcessExit(result.reason)
        if proc.status is EXITING:
            return


async def _terminate_task(behaviour: Any, reason: Any) -> None:
    """Run an async-mode ``terminate``; a crash in it becomes the exit reason."""
    try:
        await _maybe_await(behaviour.terminate(reason))
    except Exception as exc:
        raise ProcessExit(exc) from exc


async def _start(
    cls: type[Actor],
    args: tuple[Any, ...],
    *,
    link: bool,
    monitor: bool,
    name: str | None,
    timeout: float | None,
) -> tuple[Pid | None, Ref | None]:
    node = get_node()
    parent = _process.current()
    if (link or monitor) and parent is None:
        raise NotInProcessError("start_link/start_monitor must be called from inside a process")
    ack = InitAck()
    proc, ref = start_process(
        node, cls, args, parent=parent, link=link, monitor=monitor, name=name, ack=ack
    )
    if not link:
        # As gen:start does: a server started without a link is its own parent, so an Exit
        # from whoever started it is plain information for handle_info. (Its messages are
        # only read after init, so setting it now is in time.)
        proc.parent = proc.pid
    if ack.outcome is None:
        with trio.move_on_after(math.inf if timeout is None else timeout):
            await ack.event.wait()
        if ack.outcome is None:
            if parent is not None and link:
                remove_link(parent, proc)
            _process.begin_exit(proc, KILLED)
            raise InitError("timeout")
    else:
        await node.fair_yield()
    kind, reason = ack.outcome
    if kind == "ok":
        return proc.pid, ref
    if kind == "ignore":
        return None, None
    raise InitError(reason) from reason if isinstance(reason, BaseException) else None
