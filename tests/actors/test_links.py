"""Links: otp-semantics.md A2 (bidirectional, idempotent, atomic spawn_link, noproc, unlink)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import trouper
from trouper import Down, Exit, Pid, ProcessExit

# A bound on waits for something that should come at once: virtual seconds with
# autojump_clock, so it costs nothing, and a runtime bug fails the test instead of hanging it.
WAIT = 60


class Idle(trouper.Actor):
    """A reactive process that ignores every message."""


class LinkTo(trouper.Actor):
    """A reactive process that links itself to ``pid`` in ``init`` (which runs inside spawn)."""

    def init(self, pid: Pid) -> None:
        trouper.link(pid)

    def handle(self, message: Any) -> None:
        if message == "crash":
            raise RuntimeError("last link crashed")


class CrashInInit(trouper.Actor):
    def init(self) -> None:
        raise ValueError("init failed")


async def wait_forever() -> None:
    await trouper.receive(lambda m: False)


async def exit_on_go(reason: Any) -> None:
    await trouper.receive(lambda m: m == "go")
    raise ProcessExit(reason)


async def crash_at_once() -> None:
    raise ValueError("crashed at once")


def down_of(ref: trouper.Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


def exit_from(pid: Pid) -> Any:
    return lambda m: isinstance(m, Exit) and m.pid is pid


async def dead_pid() -> Pid:
    """The pid of a process that has finished."""
    pid, ref = trouper.spawn_monitor(Idle)
    trouper.exit(pid, "kill")
    await trouper.receive(down_of(ref), timeout=WAIT)
    return pid


async def test_link_shows_on_both_sides() -> None:
    async with trouper.open_node():
        me = trouper.self()
        peer = trouper.spawn(wait_forever)

        trouper.link(peer)

        assert trouper.process_info(me).links == (peer,)
        assert trouper.process_info(peer).links == (me,)


async def test_link_made_by_one_side_carries_that_sides_death_to_the_other(
    autojump_clock: Any,
) -> None:
    async def link_then_exit(pid: Pid) -> None:
        trouper.link(pid)
        raise ProcessExit("boom")

    async with trouper.open_node():
        trouper.trap_exit(True)
        # The child creates the link; the root, which never called link, is notified.
        child = trouper.spawn(link_then_exit, trouper.self())

        assert await trouper.receive(Exit, timeout=WAIT) == Exit(child, "boom")


async def test_link_made_by_one_side_carries_the_other_sides_death_to_it(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        child = trouper.spawn(exit_on_go, "boom")
        trouper.link(child)

        trouper.send(child, "go")

        assert await trouper.receive(Exit, timeout=WAIT) == Exit(child, "boom")


async def test_linking_twice_makes_one_link(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        child, ref = trouper.spawn_monitor(exit_on_go, "boom")

        trouper.link(child)
        trouper.link(child)
        trouper.send(child, "go")

        assert await trouper.receive(exit_from(child), timeout=WAIT) == Exit(child, "boom")
        await trouper.receive(
            down_of(ref), timeout=WAIT
        )  # every signal of the child has arrived by now
        assert await trouper.receive(exit_from(child), timeout=0, after=None) is None


async def test_one_unlink_removes_a_link_made_twice(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        child, ref = trouper.spawn_monitor(exit_on_go, "boom")
        trouper.link(child)
        trouper.link(child)

        trouper.unlink(child)
        trouper.send(child, "go")

        await trouper.receive(down_of(ref), timeout=WAIT)
        assert await trouper.receive(exit_from(child), timeout=0, after=None) is None
        assert trouper.process_info(trouper.self()).links == ()


async def test_linking_to_self_does_nothing() -> None:
    async with trouper.open_node():
        me = trouper.self()

        trouper.link(me)

        assert trouper.process_info(me).links == ()


async def test_either_side_can_unlink(autojump_clock: Any) -> None:
    async def unlink_on_go(pid: Pid) -> None:
        await trouper.receive(lambda m: m == "go")
        trouper.unlink(pid)
        raise ProcessExit("boom")

    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        child, ref = trouper.spawn_monitor(unlink_on_go, me)
        trouper.link(child)  # the root links; the child removes the link

        trouper.send(child, "go")

        assert (await trouper.receive(down_of(ref), timeout=WAIT)).reason == "boom"
        assert await trouper.receive(exit_from(child), timeout=0, after=None) is None
        assert trouper.process_info(me).links == ()


async def test_spawn_link_of_a_child_that_crashes_at_once_kills_the_non_trapping_parent(
    autojump_clock: Any,
) -> None:
    async def parent() -> None:
        trouper.spawn_link(crash_at_once)
        await wait_forever()

    async with trouper.open_node():
        _, ref = trouper.spawn_monitor(parent)

        reason = (await trouper.receive(down_of(ref), timeout=WAIT)).reason

        assert isinstance(reason, ValueError)
        assert str(reason) == "crashed at once"


async def test_spawn_link_of_a_child_that_crashes_at_once_notifies_the_trapping_parent(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)

        child = trouper.spawn_link(crash_at_once)

        message = await trouper.receive(Exit, timeout=WAIT)
        assert message.pid is child
        assert isinstance(message.reason, ValueError)


async def test_spawn_link_of_a_reactive_child_whose_init_crashes_kills_the_parent(
    autojump_clock: Any,
) -> None:
    # A reactive child's init runs inside spawn_link: the link must already be in place.
    async def parent() -> None:
        trouper.spawn_link(CrashInInit)
        await wait_forever()

    async with trouper.open_node():
        _, ref = trouper.spawn_monitor(parent)

        reason = (await trouper.receive(down_of(ref), timeout=WAIT)).reason

        assert isinstance(reason, ValueError)
        assert str(reason) == "init failed"


async def test_spawn_link_of_a_reactive_child_whose_init_crashes_notifies_trapping_parent(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)

        child = trouper.spawn_link(CrashInInit)

        message = await trouper.receive(Exit, timeout=WAIT)
        assert message.pid is child
        assert isinstance(message.reason, ValueError)


async def test_link_to_a_dead_pid_raises_noproc_when_not_trapping(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = await dead_pid()

        with pytest.raises(trouper.NoProcError):
            trouper.link(pid)

        assert trouper.process_info(trouper.self()).links == ()


async def test_link_to_a_dead_pid_gives_exit_noproc_when_trapping(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        pid = await dead_pid()

        trouper.link(pid)

        assert await trouper.receive(timeout=0, after=None) == Exit(pid, "noproc")


async def test_exit_already_queued_stays_after_unlink_and_can_be_flushed(
    autojump_clock: Any,
) -> None:
    # OTP's supervisor pattern: unlink, then flush one EXIT with `after 0`.
    async with trouper.open_node():
        trouper.trap_exit(True)
        child, ref = trouper.spawn_monitor(exit_on_go, "boom")
        trouper.link(child)
        trouper.send(child, "go")
        await trouper.receive(down_of(ref), timeout=WAIT)

        trouper.unlink(child)

        flushed = await trouper.receive(exit_from(child), timeout=0, after=None)
        assert flushed == Exit(child, "boom")
        assert await trouper.receive(exit_from(child), timeout=0, after=None) is None


async def test_unlink_from_a_dead_pid_is_harmless(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = await dead_pid()

        trouper.unlink(pid)

        assert trouper.process_info(trouper.self()).links == ()


async def test_a_link_chain_of_10000_processes_dies_entirely_when_the_last_crashes(
    autojump_clock: Any,
) -> None:
    # Exit signals must propagate iteratively: a recursive implementation overflows the stack
    # (RecursionError) long before 10,000 links.
    async with trouper.open_node():
        first = trouper.spawn(Idle)
        chain = [first]
        for _ in range(9_999):
            chain.append(trouper.spawn(LinkTo, chain[-1]))
        refs = {trouper.monitor(pid): pid for pid in chain}

        trouper.send(chain[-1], "crash")

        reasons = []
        for _ in chain:
            down = await trouper.receive(Down, timeout=WAIT)
            assert refs.pop(down.ref) is down.pid
            reasons.append(down.reason)
        assert refs == {}
        assert isinstance(reasons[0], RuntimeError)
        assert all(reason is reasons[0] for reason in reasons)
        assert not any(trouper.is_alive(pid) for pid in chain)
        assert trouper.processes() == [trouper.self()]


class LinkAgent(trouper.Actor):
    """Reactive: links or unlinks itself on request, then reports "done"."""

    def init(self, report_to: Pid) -> None:
        self.report_to = report_to

    def handle(self, message: Any) -> None:
        op, pid = message
        if op == "link":
            trouper.link(pid)
        else:
            trouper.unlink(pid)
        trouper.send(self.report_to, "done")


link_ops = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["link", "unlink"]), st.integers(0, 5)),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(agents=st.integers(2, 6), ops=link_ops, victim=st.integers(0, 5))
def test_links_behave_as_one_undirected_edge_per_pair(
    agents: int, ops: list[tuple[int, str, int]], victim: int
) -> None:
    # Any sequence of link/unlink calls, made by either side, repeated or to oneself, leaves at
    # most one link per pair, seen from both sides; and a crash then takes down exactly the
    # processes linked to it, directly or through others.
    ops = [(a % agents, op, b % agents) for a, op, b in ops]
    victim %= agents
    edges: set[frozenset[int]] = set()
    for a, op, b in ops:
        if a != b:
            (edges.add if op == "link" else edges.discard)(frozenset((a, b)))
    doomed, frontier = {victim}, [victim]
    while frontier:
        node = frontier.pop()
        for edge in edges:
            if node in edge:
                (other,) = edge - {node}
                if other not in doomed:
                    doomed.add(other)
                    frontier.append(other)

    async def main() -> tuple[dict[int, set[int]], set[int]]:
        pids = [trouper.spawn(LinkAgent, trouper.self()) for _ in range(agents)]
        index = {pid: n for n, pid in enumerate(pids)}
        for a, op, b in ops:
            trouper.send(pids[a], (op, pids[b]))
        for _ in ops:
            assert await trouper.receive(timeout=WAIT) == "done"
        links = {
            n: {index[peer] for peer in trouper.process_info(pid).links}
            for n, pid in enumerate(pids)
        }
        refs = [trouper.monitor(pid) for pid in pids]
        trouper.exit(pids[victim], "boom")
        # Every agent is reactive, so the chain reaction is over before exit() returns.
        dead = {n for n, pid in enumerate(pids) if not trouper.is_alive(pid)}
        for n in dead:
            down = await trouper.receive(lambda m, ref=refs[n]: m.ref is ref, timeout=0)
            assert down.reason == "boom"
        assert await trouper.receive(timeout=0, after=None) is None
        return links, dead

    links, dead = trouper.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert links == {
        n: {m for edge in edges if n in edge for m in edge - {n}} for n in range(agents)
    }
    assert dead == doomed


async def test_links_survive_growing_to_three_and_shrinking_back() -> None:
    # One link is stored bare, two as a pair, three or more as a set: each step keeps the
    # signals and the link list right.
    async with trouper.open_node():
        root = trouper.self()

        async def idle() -> None:
            await trouper.receive()

        async def hub_body() -> None:
            trouper.trap_exit(True)
            while True:
                match await trouper.receive():
                    case ("link", pid):
                        trouper.link(pid)
                    case ("unlink", pid):
                        trouper.unlink(pid)
                    case message:
                        trouper.send(root, message)
                trouper.send(root, "done")

        def links_of(pid: Pid) -> set[Pid]:
            info = trouper.process_info(pid)
            assert info is not None
            return set(info.links)

        async def tell(hub: Pid, message: Any) -> None:
            trouper.send(hub, message)
            assert await trouper.receive(lambda m: m == "done") == "done"

        peers = [trouper.spawn(idle) for _ in range(4)]
        hub = trouper.spawn(hub_body)
        for count, peer in enumerate(peers[:3], start=1):
            await tell(hub, ("link", peer))
            assert links_of(hub) == set(peers[:count])
            assert links_of(peer) == {hub}
        await tell(hub, ("link", peers[0]))  # again: still one link
        assert links_of(hub) == set(peers[:3])
        await tell(hub, ("unlink", peers[1]))
        assert links_of(hub) == {peers[0], peers[2]} and links_of(peers[1]) == set()
        trouper.exit(peers[0], "boom")
        exit_signal = await trouper.receive(Exit)
        assert (exit_signal.pid, exit_signal.reason) == (peers[0], "boom")
        assert links_of(hub) == {peers[2]}
        await tell(hub, ("link", peers[3]))
        await tell(hub, ("unlink", peers[2]))
        assert links_of(hub) == {peers[3]}
        trouper.exit(hub, "kill")
        await trio.testing.wait_all_tasks_blocked()
        assert not trouper.is_alive(peers[3])  # not trapping: the hub's death took it along
        assert trouper.is_alive(peers[1]) and trouper.is_alive(peers[2])
