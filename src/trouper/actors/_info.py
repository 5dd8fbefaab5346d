"""Introspection: what a process and the node look like right now, as plain frozen data."""

from __future__ import annotations

import operator
from typing import Any

import attrs

from ._process import DEAD, WAITING, Process, _NamedWatch, linked
from ._runtime import get_node
from ._types import Pid, Ref

RUNNABLE = "runnable"  # reported for an idle reactive process with messages queued


@attrs.frozen
class ProcessInfo:
    """A snapshot of one process (Erlang's ``process_info/1``)."""

    pid: Pid
    status: str  # waiting | runnable | running | exiting
    mode: str  # reactive | task
    behaviour: str | None  # the behaviour class's qualified name, or None for a plain function
    name: str | None
    mailbox_len: int
    messages_handled: int
    links: tuple[Pid, ...]
    monitors: tuple[Ref, ...]  # monitors this process holds on others
    monitored_by: tuple[Pid, ...]
    trap_exit: bool
    parent: Pid | None  # the spawner (a server started unlinked is its own parent, as in OTP)


@attrs.frozen
class NodeStatistics:
    """Counts for the whole node (``trouper.statistics()``)."""

    processes: int
    reactive: int
    task: int
    runnable: int  # messages queued for reactive processes
    registered_names: int
    timers: int


_number = operator.attrgetter("_n")  # Pid.number, without the property call


def process_info(pid: Pid) -> ProcessInfo | None:
    """A snapshot of ``pid``'s process, or None if it is not alive."""
    proc = pid._proc
    if proc is None or proc.status is DEAD:
        return None
    return _snapshot(proc)


def _snapshot(proc: Process) -> ProcessInfo:
    behaviour: Any = proc.behaviour
    watchers = []
    for watcher in (proc.monitors or {}).values():
        if type(watcher) is Process:
            watchers.append(watcher.pid)
        elif isinstance(watcher, _NamedWatch):
            watchers.append(watcher.watcher.pid)
    return ProcessInfo(
        pid=proc.pid,
        status=RUNNABLE if proc.status == WAITING and proc.pending else proc.status,
        mode="reactive" if proc.task is None else "task",
        behaviour=type(behaviour).__qualname__ if behaviour is not None else None,
        name=proc.name,
        mailbox_len=proc.pending if proc.task is None else len(proc.mailbox or ()),
        messages_handled=proc.handled,
        # By number with a C-level key: Pid.__lt__ per comparison made a supervisor of
        # 100,000 children cost 0.1 s here (the observer page reads it every second).
        links=tuple(sorted((peer.pid for peer in linked(proc)), key=_number)),
        monitors=tuple(proc.monitoring or ()),
        monitored_by=tuple(watchers),
        trap_exit=proc.trap_exit,
        parent=proc.parent,
    )


def statistics() -> NodeStatistics:
    """Counts of the running node's processes, run queue, names and timers."""
    node = get_node()
    total = len(node.procs)
    return NodeStatistics(
        processes=total,
        reactive=total - node.task_count,
        task=node.task_count,
        runnable=len(node.runq) // 2,
        registered_names=len(node.names),
        timers=node.timer_count,
    )
