"""Stopping children the way OTP's ``supervisor:shutdown/2`` does.

One child: monitor it (a child that unlinked itself cannot hang us), send ``shutdown``
(or ``kill`` for ``brutal_kill``), wait for the DOWN up to the spec's timeout, then ``kill``
and wait again. Afterwards unlink and take the child's ``Exit`` from the mailbox: its
reason wins over the DOWN's (the DOWN may only say ``noproc``).

Many children (DynamicSupervisor): signal them all first, then wait for all of them under
shared timers. Reactive children that do not trap exits die inside the signal call, so
only the survivors are monitored and waited for: stopping a million reactive children
costs one pass, not a million receive round trips (nor a million Exit messages: each
child is unlinked before it is signalled).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import trio

import trouper

from ._spec import Shutdown


def _timeout(shutdown: Shutdown) -> float:
    if shutdown == "infinity":
        return math.inf
    if shutdown == "brutal_kill":
        return 0.0
    return float(shutdown)


async def shutdown_children(
    targets: Sequence[tuple[trouper.Pid, Shutdown]],
) -> dict[trouper.Pid, Any]:
    """Stop every ``(pid, shutdown)`` concurrently; return each pid's exit reason.

    Every target must be linked to the caller, which must trap exits. A child is unlinked
    before it is signalled, so its death is seen once: it either dies inside the signal
    call (a reactive child that does not trap exits: its reason is the signal's) or is
    monitored and waited for. A child that had died before its turn left its ``Exit`` in
    the mailbox, whose reason is taken (OTP: the EXIT reason wins).
    """
    reasons: dict[trouper.Pid, Any] = {}
    died_before: set[trouper.Pid] = set()
    refs: dict[trouper.Ref, tuple[trouper.Pid, float]] = {}
    for pid, shutdown in targets:
        if trouper.has_exited(pid):
            died_before.add(pid)
            continue
        trouper.unlink(pid)
        brutal = shutdown == "brutal_kill"
        trouper.exit(pid, trouper.KILL if brutal else trouper.SHUTDOWN)
        if trouper.has_exited(pid):
            reasons[pid] = trouper.KILLED if brutal else trouper.SHUTDOWN
        else:
            refs[trouper.monitor(pid)] = (pid, _timeout(shutdown))
    if refs:
        await _await_downs(refs, reasons)
    if died_before:
        exits = trouper.receive_all_nowait(
            lambda m: type(m) is trouper.Exit and m.pid in died_before
        )
        for message in exits:
            reasons[message.pid] = message.reason
    return reasons


async def _await_downs(
    refs: dict[trouper.Ref, tuple[trouper.Pid, float]], reasons: dict[trouper.Pid, Any]
) -> None:
    """Wait for the DOWN of every monitored child; kill those whose timeout passes first."""
    started = trio.current_time()
    pending = dict(refs)
    while pending:
        deadline = min(started + timeout for _, timeout in pending.values())
        down = await trouper.receive(
            lambda m: type(m) is trouper.Down and m.ref in pending,
            timeout=None if deadline == math.inf else max(0.0, deadline - trio.current_time()),
            after=None,
        )
        if down is not None:
            pid, _ = pending.pop(down.ref)
            reasons[pid] = down.reason
            continue
        now = trio.current_time()
        for ref, (pid, timeout) in list(pending.items()):
            if started + timeout <= now:
                trouper.exit(pid, "kill")  # it had its chance: escalate, then wait unbounded
                pending[ref] = (pid, math.inf)


def expected_reason(shutdown: Shutdown, restart: str, reason: Any) -> bool:
    """Whether ``reason`` is what a child stopped with ``shutdown`` should die with."""
    if shutdown == "brutal_kill":
        return bool(reason == trouper.KILLED)
    if reason == trouper.SHUTDOWN:
        return True
    return restart != "permanent" and trouper.is_clean_exit(reason)
