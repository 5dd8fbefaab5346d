"""The process record and the rules that move messages and exit signals between processes.

How this works
--------------
A process is a :class:`Process` record reached through its :class:`~._types.Pid`. There are
two execution modes with one semantics:

* **reactive** (``proc.task is None``): no trio task and no mailbox object of its own. A
  message to it is appended, process then message, to the node's run queue (one FIFO for
  the whole node, so per-receiver order holds); the node's scheduler pops pairs and
  calls ``behaviour.handle(message)`` (a plain ``def``). ``pending`` counts its queued
  messages. An idle reactive process is just this record, its pid and its behaviour object:
  no allocation per message (a per-process deque costs ~0.9 us to create).
* **task** (``proc.task`` is a :class:`TaskPart`): an ``async`` body running in its own trio
  task in the node's nursery. A message wakes the task if it is parked in ``receive``.

Delivery is synchronous: ``deliver`` appends to the receiver's mailbox at once, so the order of
messages and exit signals from one sender to one receiver is the order they were sent.

Exits: ``begin_exit`` decides that a process dies. A reactive process that is not on the
stack is queued for finalization at once; one that is running (its callback is executing)
is marked ``EXITING`` and finalized when the callback returns; a task process has its cancel
scope cancelled and is finalized when its task actually ends (trio cancels at the next
checkpoint). ``finalize`` releases the name and registry entries first, then sends exit
signals over links and DOWN messages to monitors (OTP's order, so a watcher can re-register
the name at once). Signals that kill further processes are queued on the node and drained
in a loop, never by recursion, so long link chains cannot overflow the stack.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import trio

from ._types import KILL, KILLED, NORMAL, Down, Exit, Pid, ProcessExit, Ref

if TYPE_CHECKING:
    from ._node import Node

# Status values (compared by identity on hot paths; always assigned from these constants).
WAITING: Final = "waiting"  # reactive: not on the stack; task: parked in receive
RUNNING: Final = "running"  # reactive callback on the stack, or task running
EXITING: Final = "exiting"  # doomed: finalized when its callback or task ends
DEAD: Final = "dead"


class ExitHook:
    """Something told synchronously when a process exits, before links and monitors fire.

    Registries and pending calls use it; it lives in the process's monitor table keyed by
    itself (or by a ref).
    """

    __slots__ = ()

    def process_exited(self, pid: Pid, reason: Any) -> None:
        raise NotImplementedError


class TaskPart:
    """What only a task process has: its cancel scope and, while parked, its trio task."""

    __slots__ = ("scope", "trio_task", "waiter", "wake_scope")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.waiter: trio.lowlevel.Task | None = None
        self.trio_task: trio.lowlevel.Task | None = None
        # Set inside `wake_on_message()`: cancelled by the next message (wait for I/O or mail).
        self.wake_scope: trio.CancelScope | None = None


class Process:
    """One process: mailbox, links, monitors, flags. Kept small: millions live at once."""

    __slots__ = (
        "behaviour",
        "exit_reason",
        "handled",
        "hook",
        "links",
        "mailbox",
        "monitoring",
        "monitors",
        "name",
        "node",
        "parent",
        "pending",
        "pid",
        "status",
        "task",
        "trap_exit",
    )

    def __init__(self, node: Node, n: int, behaviour: Any, task: TaskPart | None) -> None:
        self.pid = Pid(n, self)
        self.node = node
        self.behaviour = behaviour
        # Task processes only: created on first message. Reactive ones queue on the node.
        self.mailbox: deque[Any] | None = None
        self.status: str = WAITING
        # None, the one linked Process, a pair of them, or a set of three or more: most
        # processes have one or two links (a supervisor; a connection's channel), and an
        # empty set alone costs 216 bytes.
        self.links: Process | tuple[Process, Process] | set[Process] | None = None
        # ref -> watching Process, or an ExitHook; created on first use.
        self.monitors: dict[Any, Any] | None = None
        # The first exit hook (see add_exit_hook): most hooked processes have one, and a
        # monitors dict just for it would cost ~220 bytes (a pubsub subscriber, a registrant).
        self.hook: ExitHook | None = None
        # ref -> monitored Process (so a dying watcher removes its monitors from the targets).
        self.monitoring: dict[Ref, Process] | None = None
        self.trap_exit = False
        self.name: str | None = None
        self.handled = 0
        self.pending = 0  # reactive: messages on the node's run queue for this process
        self.task = task
        self.exit_reason: Any = None
        self.parent: Pid | None = None

    def __repr__(self) -> str:
        return f"<Process {self.pid!r} {self.status}>"


# The reactive process whose callback is executing (set by the scheduler and by inline init).
# Task processes are found through the context variable instead: several tasks interleave.
_running: Process | None = None
current_task_process: contextvars.ContextVar[Process | None] = contextvars.ContextVar(
    "trouper_process", default=None
)


def current() -> Process | None:
    """The calling process, reactive or task, or None outside any process."""
    proc = _running
    if proc is not None:
        return proc
    return current_task_owner()


def current_task_owner() -> Process | None:
    """The task process whose own trio task is running this code, if any.

    trio copies context variables into child tasks, so a plain trio task started from inside
    a process would otherwise pass for that process (and could steal its messages).
    """
    proc = current_task_process.get()
    if proc is None or proc.task is None or proc.task.trio_task is not trio.lowlevel.current_task():
        return None
    return proc


def set_running(proc: Process | None) -> Process | None:
    """Make ``proc`` the running reactive process; return the previous one."""
    global _running
    prev = _running
    _running = proc
    return prev


# ---------------------------------------------------------------------------------------------
# Messages


def deliver(proc: Process, msg: Any) -> None:
    """Queue ``msg`` for ``proc`` and make sure it will be handled. Never blocks."""
    status = proc.status
    if status is DEAD or status is EXITING:
        return
    task = proc.task
    if task is None:
        proc.pending += 1
        node = proc.node
        runq = node.runq
        runq.append(proc)  # two appends, not a pair: a tuple per message would be
        runq.append(msg)  # GC-tracked, and millions queued at once trigger full collections
        if node.scheduler_parked is not None:
            node.wake_scheduler()
        return
    mailbox = proc.mailbox
    if mailbox is None:
        mailbox = proc.mailbox = deque()
    mailbox.append(msg)
    waiter = task.waiter
    if waiter is not None:
        task.waiter = None
        trio.lowlevel.reschedule(waiter)
    elif task.wake_scope is not None:
        task.wake_scope.cancel()
        task.wake_scope = None


def deliver_each(pids: Iterable[Pid], msg: Any, skip: Pid | None = None) -> None:
    """``deliver`` of one message to every pid but ``skip``, the reactive branch inlined.

    The fan-out loop of pubsub's default dispatcher: at a million subscribers a Python call
    per message is ~40% of the broadcast (1M sends: 0.41 s through send, 0.23 s inlined).
    Dead pids are skipped, as a send to them is dropped.
    """
    for pid in pids:
        proc = pid._proc
        if proc is None or pid is skip:
            continue
        if proc.task is None and proc.status is not EXITING:
            proc.pending += 1
            node = proc.node
            runq = node.runq
            runq.append(proc)  # process then message, never a pair: see deliver()
            runq.append(msg)
            if node.scheduler_parked is not None:
                node.wake_scheduler()
        else:
            deliver(proc, msg)


# ---------------------------------------------------------------------------------------------
# Exit signals


def signal_exit(target: Process, sender: Pid, reason: Any, *, linked: bool) -> None:
    """Deliver an exit signal to ``target`` following OTP's table (otp-semantics.md A1)."""
    status = target.status
    if status is DEAD or status is EXITING:
        return
    is_str = type(reason) is str
    if is_str and reason == KILL and not linked:
        begin_exit(target, KILLED)  # untrappable; the victim's own reason is `killed`
    elif target.trap_exit:
        deliver(target, Exit(sender, reason))
    elif is_str and reason == NORMAL:
        if not linked and sender is target.pid:
            begin_exit(target, NORMAL)  # exit(self(), normal) kills: documented irregularity
    else:
        begin_exit(target, reason)


def begin_exit(proc: Process, reason: Any) -> None:
    """Decide that ``proc`` dies with ``reason``; finalize now or as soon as it is off the stack."""
    status = proc.status
    if status is DEAD or status is EXITING:
        return
    proc.status = EXITING
    proc.exit_reason = reason
    task = proc.task
    if task is not None:
        task.scope.cancel()  # the task finalizes itself when it ends
    elif status is not RUNNING:
        proc.node.schedule_finalize(proc)
    # A running reactive process is finalized by whoever is running its callback.


def request_stop(proc: Process, reason: Any) -> None:
    """A process ends itself cleanly (callbacks already ran); finalized when its handler returns."""
    if proc.status is DEAD or proc.status is EXITING:
        return
    proc.status = EXITING
    proc.exit_reason = reason


def raise_if_exiting(proc: Process | None) -> None:
    """Unwind the calling process if a signal it just caused has killed it."""
    if proc is not None and proc.status is EXITING:
        raise ProcessExit(proc.exit_reason)


def finalize(proc: Process, reason: Any) -> None:
    """Release everything ``proc`` holds and notify its links and monitors.

    Called only from the node's finalization loop, so signals that kill further processes
    are queued rather than handled recursively.
    """
    node = proc.node
    proc.status = DEAD
    proc.exit_reason = reason
    pid = proc.pid
    pid._proc = None
    del node.procs[pid._n]
    if proc.task is not None:
        node.task_count -= 1
    if proc.name is not None:
        node.names.pop(proc.name, None)
        proc.name = None
    monitors = proc.monitors
    # Directly visible resources first (registries, subscriptions, pending calls), then
    # signals.
    hook = proc.hook
    if hook is not None:
        proc.hook = None
        hook.process_exited(pid, reason)
    if monitors:
        for watcher in list(monitors.values()):
            if type(watcher) is not Process and not isinstance(watcher, _NamedWatch):
                watcher.process_exited(pid, reason)
    links = proc.links
    if links is not None:
        for peer in linked(proc):
            _drop_link(peer, proc)
            signal_exit(peer, pid, reason, linked=True)
    if monitors:
        for ref, watcher in monitors.items():
            if type(watcher) is Process:
                if watcher.monitoring is not None:
                    watcher.monitoring.pop(ref, None)
                deliver(watcher, Down(ref, pid, reason))
            elif isinstance(watcher, _NamedWatch):
                owner = watcher.watcher
                if owner.monitoring is not None:
                    owner.monitoring.pop(ref, None)
                deliver(owner, Down(ref, watcher.name, reason))
    monitoring = proc.monitoring
    if monitoring:
        for ref, target in monitoring.items():
            if target.monitors is not None:
                target.monitors.pop(ref, None)
    proc.links = None
    proc.monitors = None
    proc.monitoring = None
    proc.mailbox = None
    proc.behaviour = None


class _NamedWatch:
    """A monitor set up by registered name: its DOWN names the name, as OTP's does."""

    __slots__ = ("name", "watcher")

    def __init__(self, watcher: Process, name: str) -> None:
        self.watcher = watcher
        self.name = name


def add_exit_hook(proc: Process, hook: ExitHook) -> None:
    """Call ``hook.process_exited(pid, reason)`` when ``proc`` exits (once, however often added).

    Hooks run inside finalization, before the process's links and monitors fire, so what
    they clean up (a name, a subscription, a pending call) is gone before anyone can hear
    of the death; they must not raise.
    """
    monitors = proc.monitors
    if proc.hook is hook or (monitors is not None and hook in monitors):
        return
    if proc.hook is None:
        proc.hook = hook
        return
    if monitors is None:
        monitors = proc.monitors = {}
    monitors[hook] = hook


def remove_exit_hook(proc: Process, hook: ExitHook) -> None:
    """Undo :func:`add_exit_hook` (nothing if the hook is not there)."""
    if proc.hook is hook:
        proc.hook = None
    elif proc.monitors:
        proc.monitors.pop(hook, None)


def add_monitor(watcher: Process, target: Process, ref: Ref, name: str | None = None) -> None:
    """Record that ``watcher`` monitors ``target`` under ``ref``."""
    if target.monitors is None:
        target.monitors = {}
    target.monitors[ref] = watcher if name is None else _NamedWatch(watcher, name)
    if watcher.monitoring is None:
        watcher.monitoring = {}
    watcher.monitoring[ref] = target


def linked(proc: Process) -> tuple[Process, ...] | set[Process]:
    """The processes linked to ``proc`` (a snapshot when there are several)."""
    links = proc.links
    if links is None:
        return ()
    if type(links) is Process:
        return (links,)
    if type(links) is tuple:
        return links
    assert isinstance(links, set)
    return set(links)


def _add_one_link(proc: Process, other: Process) -> None:
    links = proc.links
    if links is None:
        proc.links = other
    elif type(links) is Process:
        if links is not other:
            proc.links = (links, other)
    elif type(links) is tuple:
        if other is not links[0] and other is not links[1]:
            proc.links = {*links, other}
    else:
        assert isinstance(links, set)
        links.add(other)


def _drop_link(proc: Process, other: Process) -> None:
    links = proc.links
    if links is other:
        proc.links = None
    elif type(links) is tuple:
        if other is links[0]:
            proc.links = links[1]
        elif other is links[1]:
            proc.links = links[0]
    elif type(links) is set:
        links.discard(other)


def add_link(a: Process, b: Process) -> None:
    """Link two live processes (idempotent)."""
    _add_one_link(a, b)
    _add_one_link(b, a)


def remove_link(a: Process, b: Process) -> None:
    """Remove the link between two processes, if any."""
    _drop_link(a, b)
    _drop_link(b, a)
