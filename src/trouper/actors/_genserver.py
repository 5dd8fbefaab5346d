"""GenServer: a process that serves synchronous calls, casts and plain messages.

==========================================  ==============================================
API                                         callback
==========================================  ==============================================
``await Server.start_link(*args)``          ``init(*args)`` -> None | ``IGNORE`` | ``Stop``
``await call(server, request, timeout)``    ``handle_call(request, from_)`` -> reply value,
                                            ``NOREPLY`` (answer later with ``reply``) or
                                            ``Stop(reason, reply=...)``
``cast(server, request)``                   ``handle_cast(request)`` -> None | ``Stop``
any other message (``send``, timers,        ``handle_info(message)`` -> None | ``Stop``
``Exit``, ``Down``)
``await stop(server, reason)``,             ``terminate(reason)``
a ``Stop``, a crash, or (trapping exits)
an ``Exit`` from the parent
==========================================  ==============================================

State lives on ``self``: every start builds a fresh instance, so a restart starts clean.
Plain ``def`` callbacks make a reactive process (no task while idle; a callback cannot
wait, so it cannot ``call`` another server: it sends and handles the answer as a message).
Any ``async def`` callback makes a task process, whose callbacks may await anything.

A call is a rendezvous: the reply goes straight to the waiting caller, never through its
mailbox, so a reply that comes after the caller gave up (timeout) is dropped, as OTP does
with process aliases. The caller watches the server while it waits: if the server dies
first, the call fails with the server's exit reason.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Coroutine
from typing import Any, ClassVar

import attrs
import outcome
import structlog
import trio

from . import _process
from ._api import resolve
from ._behaviour import Actor
from ._node import crash_report, run_terminate
from ._process import (
    WAITING,
    ExitHook,
    Process,
    add_exit_hook,
    add_monitor,
    deliver,
    remove_exit_hook,
)
from ._types import (
    _NO_REPLY,
    NOPROC,
    NORMAL,
    CallError,
    CallTimeoutError,
    Down,
    Exit,
    NotInProcessError,
    Pid,
    ProcessExit,
    Ref,
    Stop,
    is_clean_exit,
)

log = structlog.get_logger("trouper")

DEFAULT_CALL_TIMEOUT = 5.0


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOREPLY"


NOREPLY: Any = _NoReply()
"""Returned from ``handle_call`` to answer later with :func:`reply`."""


class From(ExitHook):
    """Where a call's reply goes: the waiting caller. Passed to ``handle_call`` as ``from_``.

    It also watches the server: if the server exits before replying, the caller is woken
    with the server's exit reason.
    """

    __slots__ = ("_request", "_result", "_server", "_task", "pid")

    def __init__(self, pid: Pid | None, server: object, request: object) -> None:
        self.pid = pid  # the caller's pid (None if the caller is plain trio code)
        self._task: trio.lowlevel.Task | None = None  # set once the caller parks
        # None while the call is open; then the outcome, or _GONE if the caller gave up.
        self._result: Any = None
        self._server = server
        self._request = request

    def _settle(self, result: outcome.Outcome[Any]) -> None:
        if self._result is None:
            self._result = result
            if self._task is not None:
                trio.lowlevel.reschedule(self._task, result)

    def reply(self, value: Any) -> None:
        self._settle(outcome.Value(value))

    def process_exited(self, pid: Pid, reason: Any) -> None:
        self._settle(outcome.Error(CallError(reason, self._server, self._request)))

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        if self._result is None:
            self._result = _GONE
        return trio.lowlevel.Abort.SUCCEEDED

    def __repr__(self) -> str:
        return f"<From {self.pid!r}>"


_GONE: Any = object()


@attrs.frozen(slots=True)
class Reply:
    """The answer to :func:`send_request`, delivered as a message to the requester."""

    ref: Ref
    value: Any


class _RequestFrom(From):
    """A call whose reply arrives as a ``Reply`` message (``gen_server:send_request``).

    The requester monitors the server under the request's ref, so a server that dies first
    produces ``Down(ref, server, reason)`` instead.
    """

    __slots__ = ("_ref", "_requester", "_target")

    def __init__(self, requester: Process, target: Process, ref: Ref, request: object) -> None:
        super().__init__(requester.pid, target.pid, request)
        self._ref = ref
        self._requester = requester
        self._target = target

    def reply(self, value: Any) -> None:
        if self._result is None:
            self._result = _GONE
            ref = self._ref
            monitoring = self._requester.monitoring
            if monitoring is not None and monitoring.pop(ref, None) is not None:
                if self._target.monitors is not None:
                    self._target.monitors.pop(ref, None)
                deliver(self._requester, Reply(ref, value))

    def process_exited(self, pid: Pid, reason: Any) -> None:
        pass  # the requester's own monitor reports it


class _Call:
    __slots__ = ("from_", "request")

    def __init__(self, from_: From, request: Any) -> None:
        self.from_ = from_
        self.request = request


class _Cast:
    __slots__ = ("request",)

    def __init__(self, request: Any) -> None:
        self.request = request


class _SysStop:
    __slots__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason


def reply(from_: From, value: Any) -> None:
    """Answer a call that ``handle_call`` deferred by returning ``NOREPLY``.

    Can be called from any process (or later from the server itself). A reply to a caller
    that already gave up is dropped.
    """
    from_.reply(value)


async def _wait(proc: Process, waiter: From, timeout: float | None, message: Any) -> Any:
    """Watch ``proc``, hand it ``message`` and wait until the waiter is settled."""
    add_exit_hook(proc, waiter)
    node = proc.node
    if (
        proc.task is None
        and proc.status is WAITING
        and not proc.pending
        and _process._running is None
    ):
        # An idle reactive server: run its callback right here (no task switch). Nothing is
        # queued for it, so this keeps its message order.
        proc.pending += 1
        node.runq.appendleft(message)
        node.runq.appendleft(proc)
        node.run_queue(1)
    else:
        deliver(proc, message)
    try:
        result = waiter._result
        if result is not None:
            await node.fair_checkpoint()
            return result.unwrap()
        waiter._task = trio.lowlevel.current_task()
        if timeout is None or timeout == math.inf:
            return await trio.lowlevel.wait_task_rescheduled(waiter._abort)
        with trio.move_on_after(timeout):
            return await trio.lowlevel.wait_task_rescheduled(waiter._abort)
        raise CallTimeoutError(waiter._server, waiter._request, timeout)
    finally:
        if waiter._result is None:
            waiter._result = _GONE
        remove_exit_hook(proc, waiter)


def call(
    server: Pid | str, request: Any, timeout: float | None = DEFAULT_CALL_TIMEOUT
) -> Coroutine[Any, Any, Any]:
    """Send ``request`` to a GenServer and wait for its reply (default timeout 5 s).

    Raises :class:`CallError` with OTP's reason: ``"noproc"`` (no such process or name),
    ``"calling_self"``, the server's exit reason if it dies first; and
    :class:`CallTimeoutError` (reason ``"timeout"``) if no reply comes in time. Works from
    task processes and from plain trio code inside the node; a reactive callback cannot wait,
    so it cannot call: there ``call`` raises :class:`NotInProcessError` at once (not when
    awaited, which a plain def cannot do).
    """
    if _process._running is not None:
        raise NotInProcessError(
            "call() cannot be used in a reactive callback (a plain def cannot wait); "
            "use send_request() and handle the Reply, or make the behaviour async"
        )
    return _call(server, request, timeout)


async def _call(server: Pid | str, request: Any, timeout: float | None) -> Any:
    proc = resolve(server)
    me = _process.current_task_owner()
    if proc is None:
        await trio.lowlevel.checkpoint()
        raise CallError(NOPROC, server, request)
    if proc is me:
        raise CallError("calling_self", server, request)
    waiter = From(me.pid if me is not None else None, server, request)
    return await _wait(proc, waiter, timeout, _Call(waiter, request))


def send_request(server: Pid | str, request: Any) -> Ref:
    """Send a call without waiting: the reply arrives later as ``Reply(ref, value)``.

    This is how a reactive process (which cannot wait) calls a server: it handles the
    ``Reply`` in its callbacks. If the server is not running or dies before replying, a
    ``Down(ref, server, reason)`` arrives instead, as with ``gen_server:send_request``.
    """
    me = _process.current()
    if me is None:
        raise NotInProcessError("send_request() must be called from inside a process")
    ref = Ref()
    proc = resolve(server)
    if proc is None:
        deliver(me, Down(ref, server, NOPROC))
        return ref
    add_monitor(me, proc, ref)
    deliver(proc, _Call(_RequestFrom(me, proc, ref, request), request))
    return ref


def cast(server: Pid | str, request: Any) -> None:
    """Send ``request`` to a GenServer's ``handle_cast`` without waiting. Never fails."""
    proc = resolve(server)
    if proc is not None:
        deliver(proc, _Cast(request))


async def stop(server: Pid | str, reason: Any = NORMAL, timeout: float | None = None) -> None:
    """Stop a GenServer with ``reason`` and wait until it has exited (``terminate`` runs).

    Raises :class:`CallError` (reason ``"noproc"``) if it is not running, or with the actual
    reason if it exited for another one; :class:`CallTimeoutError` on timeout.
    """
    proc = resolve(server)
    if proc is None:
        await trio.lowlevel.checkpoint()
        raise CallError(NOPROC, server, ("stop", reason))
    me = _process.current()
    if proc is me:
        raise CallError("calling_self", server, ("stop", reason))
    waiter = From(me.pid if me is not None else None, server, ("stop", reason))
    try:
        await _wait(proc, waiter, timeout, _SysStop(reason))
    except CallTimeoutError:
        raise
    except CallError as exc:
        if exc.reason is not reason and exc.reason != reason:
            raise


class GenServer(Actor):
    """Base class of generic servers; see the module docstring for the callback table."""

    _trouper_callbacks: ClassVar[tuple[str, ...]] = (
        "init",
        "handle_call",
        "handle_cast",
        "handle_info",
        "terminate",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handle = GenServer._handle_async if cls._trouper_task_mode else GenServer._handle_sync  # type: ignore[method-assign,assignment]

    # -- callbacks (override these) ---------------------------------------------------------

    def init(self, *args: Any) -> Any:
        return None

    init._trouper_default = True  # type: ignore[attr-defined]

    def handle_call(self, request: Any, from_: From) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} has no handle_call for {request!r}")

    def handle_cast(self, request: Any) -> Any:
        raise NotImplementedError(f"{type(self).__qualname__} has no handle_cast for {request!r}")

    def handle_info(self, message: Any) -> Any:
        log.warning("unexpected_message", server=type(self).__qualname__, message=repr(message))
        return None

    def terminate(self, reason: Any) -> Any:
        return None

    # -- dispatch (the engine calls ``handle``; it is one of these two) ---------------------

    def _route(self, message: Any) -> tuple[Any, tuple[Any, ...]]:
        kind = type(message)
        if kind is _Call:
            return self.handle_call, (message.request, message.from_)
        if kind is _Cast:
            return self.handle_cast, (message.request,)
        if kind is _SysStop:
            return None, ()
        if kind is Exit:
            proc = _process.current()
            if proc is not None and proc.trap_exit and message.pid is proc.parent:
                return None, ()
        return self.handle_info, (message,)

    @staticmethod
    def _outcome(message: Any, result: Any) -> Stop | None:
        """Apply a callback's result; returns the Stop to carry out, if any."""
        if type(result) is Stop:
            return result
        if type(message) is _Call and result is not NOREPLY:
            message.from_.reply(result)
        return None

    @staticmethod
    def _stop_for(message: Any) -> Stop:
        # A stop request or the parent's exit: terminate with the reason they carry.
        return Stop(message.reason)

    def _handle_sync(self, message: Any) -> None:
        callback, args = self._route(message)
        stop = (
            self._stop_for(message) if callback is None else self._outcome(message, callback(*args))
        )
        if stop is not None:
            proc = _process.current()
            assert proc is not None
            reason = run_terminate(proc, stop.reason)
            self._finish_stop(proc, message, stop, reason)

    async def _handle_async(self, message: Any) -> None:
        callback, args = self._route(message)
        if callback is None:
            stop: Stop | None = self._stop_for(message)
        else:
            result = callback(*args)
            if inspect.isawaitable(result):
                result = await result
            stop = self._outcome(message, result)
        if stop is not None:
            proc = _process.current()
            assert proc is not None
            reason = stop.reason
            try:
                result = self.terminate(reason)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                reason = exc
            self._finish_stop(proc, message, stop, reason)
            raise ProcessExit(reason)

    @staticmethod
    def _finish_stop(proc: Process, message: Any, stop: Stop, reason: Any) -> None:
        if type(message) is _Call and stop.reply is not _NO_REPLY:
            message.from_.reply(stop.reply)
        if not is_clean_exit(reason):
            crash_report(proc, reason)
        _process.request_stop(proc, reason)


GenServer.handle = GenServer._handle_sync  # type: ignore[method-assign,assignment]
