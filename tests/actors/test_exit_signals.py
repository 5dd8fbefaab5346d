"""Exit reasons and exit signals: otp-semantics.md A1, row by row.

Every row of the A1 table is checked from the receiver's side, for both execution modes
(a reactive ``Actor`` and an ``async`` task process), because the two modes die through
different code paths (finalized at once vs. cancelled at the next checkpoint).

The receiver is a *peer* process that reports to the test's root process: it forwards every
message it handles as ``(peer_pid, message)``, so the root sees exactly what the peer saw. The
root monitors the peer, so "the peer died with reason X" is the peer's ``Down`` reason, and
"the peer is still alive" means it answered a ping (the ping's answer or the peer's ``Down``,
whichever comes first, so a wrong runtime fails the test instead of hanging it).
"""

from __future__ import annotations

from typing import Any

import pytest

import trouper
from trouper import Down, Exit, Pid, ProcessExit, Ref

MODES = ["reactive", "task"]

# A bound on waits for something that should come at once: virtual seconds with
# autojump_clock (every test here takes it), so it costs nothing, and a runtime bug fails the
# test instead of hanging it.
WAIT = 60

# Reasons that are neither normal nor kill: each kills a non-trapping receiver with that very
# reason and reaches a trapping receiver as an Exit message, whether sent over a link or
# explicitly. "killed" sent explicitly is just another reason (only "kill" is special).
OTHER_REASONS = [
    pytest.param("shutdown", id="shutdown"),
    pytest.param(("shutdown", "maintenance"), id="shutdown-tuple"),
    pytest.param("boom", id="boom"),
    pytest.param("killed", id="killed"),
    pytest.param(ValueError("bad input"), id="exception"),
]


def _peer_step(report_to: Pid, message: Any) -> None:
    """What a peer does with one message: run a command, or forward it to the root.

    Everything a peer sends the root is a pair ``(peer_pid, what)``.
    """
    me = trouper.self()
    match message:
        case ("link", pid):
            trouper.link(pid)
            trouper.send(report_to, (me, "linked"))
        case ("unlink", pid):
            trouper.unlink(pid)
            trouper.send(report_to, (me, "unlinked"))
        case ("exit_self", reason):
            trouper.exit(me, reason)
            trouper.send(report_to, (me, "survived"))
        case _:
            trouper.send(report_to, (me, message))


class ReactivePeer(trouper.Actor):
    """A reactive peer (plain ``def`` callbacks)."""

    def init(self, report_to: Pid) -> None:
        self.report_to = report_to

    def handle(self, message: Any) -> None:
        _peer_step(self.report_to, message)


async def task_peer(report_to: Pid) -> None:
    """A task peer (its own trio task, blocked in ``receive`` between messages)."""
    while True:
        _peer_step(report_to, await trouper.receive())


async def exit_on_go(reason: Any) -> None:
    """Wait for "go", then end with ``reason`` (``ProcessExit`` is Erlang's ``exit/1``)."""
    await trouper.receive(lambda m: m == "go")
    raise ProcessExit(reason)


async def wait_forever() -> None:
    await trouper.receive(lambda m: False)


def spawn_peer(mode: str, *, trap_exit: bool = False) -> tuple[Pid, Ref]:
    """Start a peer reporting to the caller; returns its pid and a monitor on it."""
    target = ReactivePeer if mode == "reactive" else task_peer
    return trouper.spawn_monitor(target, trouper.self(), trap_exit=trap_exit)


def down_of(ref: Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


def from_peer(peer: Pid, ref: Ref) -> Any:
    """Match what the peer forwarded, or its Down."""
    return lambda m: (type(m) is tuple and len(m) == 2 and m[0] is peer) or down_of(ref)(m)


async def next_report(peer: Pid, ref: Ref) -> Any:
    """The next thing the peer forwarded, or its Down if it died first."""
    return await trouper.receive(from_peer(peer, ref), timeout=WAIT)


async def after_ping(peer: Pid, ref: Ref) -> Any:
    """Ping the peer and return its next report.

    That is whatever it handled before the ping (an Exit message, say), else the ping itself
    if it is alive, else its Down. Waiting this way never hangs, whatever the runtime does.
    """
    trouper.send(peer, "ping")
    return await next_report(peer, ref)


async def link_peer(peer: Pid, ref: Ref, target: Pid) -> None:
    """Have ``peer`` link itself to ``target`` and wait until it has."""
    trouper.send(peer, ("link", target))
    assert await next_report(peer, ref) == (peer, "linked")


async def end_child(child: Pid, child_ref: Ref) -> Any:
    """Tell a child running ``exit_on_go`` to exit; return its reason once it has.

    Its exit signals went out before its Down reached us, so they are already in effect.
    """
    trouper.send(child, "go")
    return (await trouper.receive(down_of(child_ref), timeout=WAIT)).reason


# ---------------------------------------------------------------------------------------------
# reason normal


@pytest.mark.parametrize("mode", MODES)
async def test_normal_exit_over_a_link_is_dropped_by_a_non_trapping_process(
    autojump_clock: Any, mode: str
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)
        child, child_ref = trouper.spawn_monitor(exit_on_go, "normal")
        await link_peer(peer, ref, child)

        assert await end_child(child, child_ref) == "normal"

        assert await after_ping(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_normal_exit_over_a_link_reaches_a_trapping_process_as_exit_message(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)
        child, child_ref = trouper.spawn_monitor(exit_on_go, "normal")
        await link_peer(peer, ref, child)

        await end_child(child, child_ref)

        assert await after_ping(peer, ref) == (peer, Exit(child, "normal"))
        assert await next_report(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_explicit_normal_exit_to_another_non_trapping_process_is_dropped(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)

        trouper.exit(peer, "normal")

        assert trouper.is_alive(peer)
        assert await after_ping(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_explicit_normal_exit_to_another_trapping_process_becomes_exit_message(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)

        trouper.exit(peer, "normal")

        assert await after_ping(peer, ref) == (peer, Exit(trouper.self(), "normal"))
        assert await next_report(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_exit_self_normal_kills_a_non_trapping_process_with_reason_normal(
    autojump_clock: Any,
    mode: str,
) -> None:
    # OTP's documented irregularity: exit(self(), normal) is not ignored like exit(P, normal).
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)

        trouper.send(peer, ("exit_self", "normal"))

        assert await after_ping(peer, ref) == Down(ref, peer, "normal")
        assert not trouper.is_alive(peer)


@pytest.mark.parametrize("mode", MODES)
async def test_exit_self_normal_gives_a_trapping_process_an_exit_message_and_it_keeps_running(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)

        trouper.send(peer, ("exit_self", "normal"))

        assert await next_report(peer, ref) == (peer, "survived")
        assert await after_ping(peer, ref) == (peer, Exit(peer, "normal"))
        assert await next_report(peer, ref) == (peer, "ping")


async def test_exit_self_normal_in_the_root_process_gives_it_an_exit_message_when_trapping(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        trouper.trap_exit(True)

        trouper.exit(me, "normal")

        assert await trouper.receive(timeout=0, after=None) == Exit(me, "normal")
        assert trouper.is_alive(me)


# ---------------------------------------------------------------------------------------------
# reason kill


@pytest.mark.parametrize("mode", MODES)
async def test_explicit_kill_kills_a_non_trapping_process_with_reason_killed(
    autojump_clock: Any, mode: str
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)

        trouper.exit(peer, "kill")

        assert await after_ping(peer, ref) == Down(ref, peer, "killed")


@pytest.mark.parametrize("mode", MODES)
async def test_explicit_kill_cannot_be_trapped(autojump_clock: Any, mode: str) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)

        trouper.exit(peer, "kill")

        # No Exit message, no ping: the peer was dead before it could forward anything.
        assert await after_ping(peer, ref) == Down(ref, peer, "killed")


@pytest.mark.parametrize("mode", MODES)
async def test_exit_self_kill_kills_even_a_trapping_process_with_reason_killed(
    autojump_clock: Any, mode: str
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)

        trouper.send(peer, ("exit_self", "kill"))

        assert await after_ping(peer, ref) == Down(ref, peer, "killed")


@pytest.mark.parametrize("mode", MODES)
async def test_kill_over_a_link_kills_a_non_trapping_process_with_reason_kill_not_killed(
    autojump_clock: Any,
    mode: str,
) -> None:
    # The child ends itself with reason "kill" (Erlang's exit(kill)); over a link that is an
    # ordinary abnormal reason: it is not converted to "killed".
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)
        child, child_ref = trouper.spawn_monitor(exit_on_go, "kill")
        await link_peer(peer, ref, child)

        assert await end_child(child, child_ref) == "kill"

        assert await after_ping(peer, ref) == Down(ref, peer, "kill")


@pytest.mark.parametrize("mode", MODES)
async def test_kill_over_a_link_can_be_trapped(autojump_clock: Any, mode: str) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)
        child, child_ref = trouper.spawn_monitor(exit_on_go, "kill")
        await link_peer(peer, ref, child)

        await end_child(child, child_ref)

        assert await after_ping(peer, ref) == (peer, Exit(child, "kill"))
        assert await next_report(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_linked_peers_of_a_killed_process_receive_killed_which_is_trappable(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)
        victim, victim_ref = trouper.spawn_monitor(wait_forever)
        await link_peer(peer, ref, victim)

        trouper.exit(victim, "kill")

        assert (await trouper.receive(down_of(victim_ref), timeout=WAIT)).reason == "killed"
        assert await after_ping(peer, ref) == (peer, Exit(victim, "killed"))
        assert await next_report(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
async def test_linked_non_trapping_peers_of_a_killed_process_die_with_reason_killed(
    autojump_clock: Any,
    mode: str,
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)
        victim, victim_ref = trouper.spawn_monitor(wait_forever)
        await link_peer(peer, ref, victim)

        trouper.exit(victim, "kill")

        assert (await trouper.receive(down_of(victim_ref), timeout=WAIT)).reason == "killed"
        assert await after_ping(peer, ref) == Down(ref, peer, "killed")


async def test_killed_propagates_down_a_link_chain_as_killed(autojump_clock: Any) -> None:
    # victim <-> a <-> b: "kill" is converted once, at the victim; everyone after gets "killed".
    async with trouper.open_node():
        a, a_ref = spawn_peer("task")
        b, b_ref = spawn_peer("reactive")
        victim, victim_ref = trouper.spawn_monitor(wait_forever)
        await link_peer(a, a_ref, victim)
        await link_peer(b, b_ref, a)

        trouper.exit(victim, "kill")

        assert (await trouper.receive(down_of(victim_ref), timeout=WAIT)).reason == "killed"
        assert await after_ping(a, a_ref) == Down(a_ref, a, "killed")
        assert await after_ping(b, b_ref) == Down(b_ref, b, "killed")


# ---------------------------------------------------------------------------------------------
# any other reason


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reason", OTHER_REASONS)
async def test_other_reason_over_a_link_kills_a_non_trapping_process_with_that_reason(
    autojump_clock: Any, mode: str, reason: Any
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)
        child, child_ref = trouper.spawn_monitor(exit_on_go, reason)
        await link_peer(peer, ref, child)

        await end_child(child, child_ref)

        down = await after_ping(peer, ref)
        assert down == Down(ref, peer, reason)
        assert down.reason is reason


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reason", OTHER_REASONS)
async def test_other_reason_over_a_link_reaches_a_trapping_process_as_exit_message(
    autojump_clock: Any, mode: str, reason: Any
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)
        child, child_ref = trouper.spawn_monitor(exit_on_go, reason)
        await link_peer(peer, ref, child)

        await end_child(child, child_ref)

        report = await after_ping(peer, ref)
        assert report == (peer, Exit(child, reason))
        assert report[1].reason is reason
        assert await next_report(peer, ref) == (peer, "ping")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reason", OTHER_REASONS)
async def test_other_reason_sent_explicitly_kills_a_non_trapping_process_with_that_reason(
    autojump_clock: Any, mode: str, reason: Any
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode)

        trouper.exit(peer, reason)

        down = await after_ping(peer, ref)
        assert down == Down(ref, peer, reason)
        assert down.reason is reason


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reason", OTHER_REASONS)
async def test_other_reason_sent_explicitly_reaches_a_trapping_process_as_exit_message(
    autojump_clock: Any, mode: str, reason: Any
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=True)

        trouper.exit(peer, reason)

        assert await after_ping(peer, ref) == (peer, Exit(trouper.self(), reason))
        assert await next_report(peer, ref) == (peer, "ping")


async def test_crash_reason_over_a_link_is_the_exception_object(autojump_clock: Any) -> None:
    async def crash_on_go(error: Exception) -> None:
        await trouper.receive(lambda m: m == "go")
        raise error

    async with trouper.open_node():
        trouper.trap_exit(True)
        error = RuntimeError("crashed")
        child = trouper.spawn_link(crash_on_go, error)

        trouper.send(child, "go")

        message = await trouper.receive(Exit, timeout=WAIT)
        assert message.pid is child
        assert message.reason is error


async def test_exit_signal_to_a_dead_pid_does_nothing(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(wait_forever)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)
        before = trouper.statistics()

        for reason in ("kill", "normal", "boom"):
            trouper.exit(pid, reason)

        assert trouper.statistics() == before
        assert trouper.is_alive(trouper.self())


# ---------------------------------------------------------------------------------------------
# unlink, and the order of resource release


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("trapping", [False, True], ids=["not-trapping", "trapping"])
async def test_unlink_before_the_peer_dies_means_no_exit_signal(
    autojump_clock: Any, mode: str, trapping: bool
) -> None:
    async with trouper.open_node():
        peer, ref = spawn_peer(mode, trap_exit=trapping)
        child, child_ref = trouper.spawn_monitor(exit_on_go, "boom")
        await link_peer(peer, ref, child)
        trouper.send(peer, ("unlink", child))
        assert await next_report(peer, ref) == (peer, "unlinked")

        assert await end_child(child, child_ref) == "boom"

        # Neither dead nor sent an Exit: the ping is the next thing it reports.
        assert await after_ping(peer, ref) == (peer, "ping")


class NameReclaimer(trouper.Actor):
    """Monitors a registered name; when its holder dies, takes the name for itself."""

    def init(self, name: str, report_to: Pid) -> None:
        self.name = name
        self.report_to = report_to
        self.ref = trouper.monitor(name)

    def handle(self, message: Any) -> None:
        if isinstance(message, Down) and message.ref is self.ref:
            holder_at_down = trouper.whereis(self.name)
            trouper.register(self.name, trouper.self())  # raises if the name is still held
            trouper.send(self.report_to, (trouper.self(), ("reclaimed", holder_at_down)))
        else:
            trouper.send(self.report_to, (trouper.self(), message))


async def reclaim_on_exit(name: str, holder: Pid, report_to: Pid) -> None:
    """Task process: traps exits, links to the name's holder, takes the name on its Exit."""
    me = trouper.self()
    trouper.trap_exit(True)
    trouper.link(holder)
    trouper.send(report_to, (me, "linked"))
    while True:
        message = await trouper.receive()
        if isinstance(message, Exit) and message.pid is holder:
            holder_at_exit = trouper.whereis(name)
            trouper.register(name, me)  # raises if the name is still held
            trouper.send(report_to, (me, ("reclaimed", holder_at_exit)))
        else:
            trouper.send(report_to, (me, message))


@pytest.mark.parametrize("holder_mode", MODES)
async def test_name_is_released_before_monitors_fire_so_the_watcher_can_reregister_it(
    autojump_clock: Any,
    holder_mode: str,
) -> None:
    async with trouper.open_node():
        holder, holder_ref = spawn_peer(holder_mode)
        trouper.register("service", holder)
        reclaimer, ref = trouper.spawn_monitor(NameReclaimer, "service", trouper.self())

        trouper.exit(holder, "kill")
        await trouper.receive(
            down_of(holder_ref), timeout=WAIT
        )  # the reclaimer's Down is queued too

        assert await after_ping(reclaimer, ref) == (reclaimer, ("reclaimed", None))
        assert trouper.whereis("service") is reclaimer


@pytest.mark.parametrize("holder_mode", MODES)
async def test_name_is_released_before_links_fire_so_a_trapping_peer_can_reregister_it(
    autojump_clock: Any,
    holder_mode: str,
) -> None:
    async with trouper.open_node():
        holder, holder_ref = spawn_peer(holder_mode)
        trouper.register("service", holder)
        reclaimer, ref = trouper.spawn_monitor(reclaim_on_exit, "service", holder, trouper.self())
        assert await next_report(reclaimer, ref) == (reclaimer, "linked")

        trouper.exit(holder, "boom")
        await trouper.receive(
            down_of(holder_ref), timeout=WAIT
        )  # the reclaimer's Exit is queued too

        assert await after_ping(reclaimer, ref) == (reclaimer, ("reclaimed", None))
        assert trouper.whereis("service") is reclaimer
