"""The process API: spawn, send, links, monitors, exit signals, names and timers.

Every function here acts on the calling process (found through the running node) the way
the Erlang BIF of the same name does; otp-semantics.md sections A1-A6 are the specification.
"""

from __future__ import annotations

from typing import Any

from . import _process
from ._behaviour import start_process
from ._process import (
    DEAD,
    EXITING,
    Process,
    add_link,
    add_monitor,
    deliver,
    raise_if_exiting,
    remove_link,
)
from ._runtime import get_node
from ._types import (
    NOPROC,
    Down,
    Exit,
    NameNotRegisteredError,
    NoProcError,
    NotInProcessError,
    Pid,
    Ref,
)

# The sender of a signal that comes from outside any process (plain trio code in the node).
OUTSIDE = Pid(0, None)


def _me(what: str) -> Process:
    proc = _process.current()
    if proc is None or proc.status is DEAD:
        raise NotInProcessError(f"{what} must be called from inside a trouper process")
    return proc


def self() -> Pid:
    """The calling process's pid (Erlang's ``self()``)."""
    proc = _process._running  # fast path: inside a reactive callback
    if proc is None:
        proc = _me("self()")
    return proc.pid


# ---------------------------------------------------------------------------------------------
# Spawning


def spawn(target: Any, *args: Any, name: str | None = None, trap_exit: bool = False) -> Pid:
    """Start a process running ``target`` and return its pid at once.

    Args:
        target: an ``async def`` function (a task process running ``target(*args)``), or an
            :class:`Actor` / :class:`GenServer` subclass (a fresh instance; its ``init(*args)``
            runs in the new process; reactive or task mode follows from its callbacks).
        name: register the new process under this name before it runs.
        trap_exit: start with exits trapped.
    """
    node = get_node()
    proc, _ = start_process(
        node, target, args, parent=_process.current(), name=name, trap_exit=trap_exit
    )
    return proc.pid


def spawn_link(target: Any, *args: Any, name: str | None = None, trap_exit: bool = False) -> Pid:
    """Like :func:`spawn`, linked to the caller atomically (no window where it can die unlinked)."""
    node = get_node()
    parent = _me("spawn_link()")
    proc, _ = start_process(
        node, target, args, parent=parent, link=True, name=name, trap_exit=trap_exit
    )
    raise_if_exiting(parent)
    return proc.pid


def spawn_monitor(
    target: Any, *args: Any, name: str | None = None, trap_exit: bool = False
) -> tuple[Pid, Ref]:
    """Like :func:`spawn`, monitored by the caller atomically; returns ``(pid, ref)``."""
    node = get_node()
    parent = _me("spawn_monitor()")
    proc, ref = start_process(
        node, target, args, parent=parent, monitor=True, name=name, trap_exit=trap_exit
    )
    assert ref is not None
    return proc.pid, ref


# ---------------------------------------------------------------------------------------------
# Messages and signals


def send(dest: Pid | str, message: Any) -> None:
    """Send ``message`` to a pid or a registered name. Never blocks.

    Messages from one sender to one receiver arrive in the order sent. Sending to a pid whose
    process has exited is silently dropped; sending to a name nobody holds raises
    :class:`NameNotRegisteredError`.
    """
    if type(dest) is Pid:
        proc = dest._proc
        if proc is None:
            return
        if proc.task is None and proc.status is not EXITING:
            # deliver()'s reactive branch, inlined: this is the hottest path of the runtime.
            proc.pending += 1
            node = proc.node
            runq = node.runq
            runq.append(proc)
            runq.append(message)
            if node.scheduler_parked is not None:
                node.wake_scheduler()
            return
        deliver(proc, message)
        return
    if isinstance(dest, str):
        found = get_node().names.get(dest)
        if found is None:
            raise NameNotRegisteredError(dest)
        deliver(found, message)
        return
    raise TypeError(f"send() needs a Pid or a registered name, not {dest!r}")


def exit(pid: Pid, reason: Any) -> None:
    """Send an exit signal to ``pid`` (Erlang's ``exit/2``).

    ``"kill"`` cannot be trapped: the target dies with reason ``"killed"``. ``"normal"`` is
    ignored unless the target is the caller itself. Any other reason kills a target that does
    not trap exits; one that does receives ``Exit(sender, reason)``. A task process dies at
    its next checkpoint (trio cannot interrupt code that never awaits).

    To end the calling process itself with a reason, ``raise trouper.ProcessExit(reason)``.
    """
    if type(pid) is not Pid:
        raise TypeError(f"exit() needs a Pid, not {pid!r}")
    target = pid._proc
    me = _process.current()
    if target is not None:
        sender = me.pid if me is not None else OUTSIDE
        _process.signal_exit(target, sender, reason, linked=False)
    raise_if_exiting(me)


def is_alive(pid: Pid) -> bool:
    """True while the process is neither exiting nor exited (OTP's ``is_process_alive``)."""
    proc = pid._proc
    return proc is not None and proc.status is not EXITING


def has_exited(pid: Pid) -> bool:
    """True once the process has finished exiting: its links and monitors have fired.

    A killed task process is no longer alive (``is_alive`` is False) but may still be
    unwinding (trio cancels it at its next checkpoint, and its ``finally`` blocks run);
    this tells the two apart, e.g. to know whether a DOWN is still to come.
    """
    return pid._proc is None


# ---------------------------------------------------------------------------------------------
# Links and monitors


def link(pid: Pid) -> None:
    """Link the caller and ``pid`` (idempotent; linking to oneself does nothing).

    Linking to a process that does not exist raises :class:`NoProcError`, unless the caller
    traps exits: then it receives ``Exit(pid, "noproc")`` instead (OTP's rule).
    """
    me = _me("link()")
    target = pid._proc
    if target is None or target.status is EXITING:
        if me.trap_exit:
            deliver(me, Exit(pid, NOPROC))
            return
        raise NoProcError(pid)
    if target is not me:
        add_link(me, target)


def unlink(pid: Pid) -> None:
    """Remove the link between the caller and ``pid``, if any.

    An ``Exit`` from ``pid`` may already be in the caller's mailbox (if it traps exits).
    """
    me = _me("unlink()")
    target = pid._proc
    if target is not None:
        remove_link(me, target)


def monitor(target: Pid | str) -> Ref:
    """Monitor a process (by pid or by registered name); returns the monitor's ref.

    Each call makes an independent monitor. When the target exits the caller receives
    ``Down(ref, target, reason)``; if it is already gone, at once, with reason ``"noproc"``.
    A process that is still exiting (a killed task process unwinding) is not gone yet: its
    ``Down`` comes when it has finished, with its real reason.
    A name is resolved once, now; the ``Down`` then carries the name.
    """
    me = _me("monitor()")
    ref = Ref()
    if type(target) is Pid:
        proc = target._proc
        name = None
    elif isinstance(target, str):
        proc = get_node().names.get(target)
        name = target
    else:
        raise TypeError(f"monitor() needs a Pid or a registered name, not {target!r}")
    if proc is None or proc.status is DEAD:
        deliver(me, Down(ref, target, NOPROC))
    else:
        add_monitor(me, proc, ref, name)
    return ref


def demonitor(ref: Ref, *, flush: bool = False) -> bool:
    """Remove a monitor. Returns True if it was active (no ``Down`` was or will be delivered).

    After it returns no ``Down`` for ``ref`` will be added; one may already be queued, and
    ``flush=True`` removes it too (OTP's ``demonitor(Ref, [flush, info])``).
    """
    me = _me("demonitor()")
    target = me.monitoring.pop(ref, None) if me.monitoring else None
    if target is not None and target.monitors is not None:
        target.monitors.pop(ref, None)
    if flush:
        _flush_down(me, ref)
    return target is not None


def _flush_down(proc: Process, ref: Ref) -> None:
    # A reactive process's messages wait on the node's run queue; a task process has its own.
    if proc.task is None:
        queue = proc.node.runq
        for index in range(0, len(queue), 2):
            message = queue[index + 1]
            if queue[index] is proc and type(message) is Down and message.ref is ref:
                del queue[index + 1]
                del queue[index]
                proc.pending -= 1
                return
    elif proc.mailbox:
        for index, message in enumerate(proc.mailbox):
            if type(message) is Down and message.ref is ref:
                del proc.mailbox[index]
                return


def trap_exit(flag: bool) -> bool:
    """Set whether the caller traps exits; returns the previous setting."""
    me = _me("trap_exit()")
    previous = me.trap_exit
    me.trap_exit = bool(flag)
    return previous


# ---------------------------------------------------------------------------------------------
# Registered names


def register(name: str, pid: Pid) -> None:
    """Register ``pid`` under ``name`` until it exits or is unregistered.

    Raises :class:`AlreadyRegisteredError` if the name is taken, :class:`NoProcError` if the
    process is not alive, ``ValueError`` if it already has a name.
    """
    proc = pid._proc
    if proc is None:
        raise NoProcError(pid)
    get_node().register(name, proc)


def unregister(name: str) -> None:
    """Release ``name``; raises :class:`NameNotRegisteredError` if nobody holds it."""
    proc = get_node().names.pop(name, None)
    if proc is None:
        raise NameNotRegisteredError(name)
    proc.name = None


def whereis(name: str) -> Pid | None:
    """The pid registered as ``name``, or None."""
    proc = get_node().names.get(name)
    return proc.pid if proc is not None else None


def registered() -> list[str]:
    """Every registered name on this node."""
    return list(get_node().names)


def resolve(dest: Pid | str) -> Process | None:
    """The live process a pid or name refers to, or None."""
    if type(dest) is Pid:
        proc = dest._proc
    elif isinstance(dest, str):
        proc = get_node().names.get(dest)
    else:
        raise TypeError(f"expected a Pid or a registered name, not {dest!r}")
    if proc is None or proc.status is EXITING or proc.status is DEAD:
        return None
    return proc


# ---------------------------------------------------------------------------------------------
# Timers


def send_after(delay: float, dest: Pid | str, message: Any) -> Ref:
    """Send ``message`` to ``dest`` after ``delay`` seconds; returns a ref for cancel_timer.

    All timers of a node share one heap and one task. A name is resolved when the timer
    fires (nothing is sent if it is not registered then); a dead pid drops the message.
    """
    return get_node().add_timer(delay, dest, message).ref


def cancel_timer(ref: Ref) -> float | None:
    """Cancel a timer; returns the seconds it had left, or None if it fired or was cancelled."""
    return get_node().cancel_timer(ref)


def read_timer(ref: Ref) -> float | None:
    """Seconds left on a timer, or None if it fired or was cancelled."""
    return get_node().read_timer(ref)


def processes() -> list[Pid]:
    """The pids of every live process on this node, oldest first."""
    return [proc.pid for proc in get_node().procs.values()]
