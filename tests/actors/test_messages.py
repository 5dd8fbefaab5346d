"""Messages, ordering and selective receive: otp-semantics.md A5."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trouper
from trouper import Down, Exit, Pid, ProcessExit

# A bound on waits for something that should come at once: virtual seconds with
# autojump_clock, so it costs nothing, and a runtime bug fails the test instead of hanging it.
WAIT = 60


class Idle(trouper.Actor):
    """A reactive process that ignores every message."""


async def wait_forever() -> None:
    await trouper.receive(lambda m: False)


def down_of(ref: trouper.Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


async def test_send_never_blocks_even_when_nobody_receives(autojump_clock: Any) -> None:
    async with trouper.open_node():
        task_sink = trouper.spawn(wait_forever)
        reactive_sink = trouper.spawn(Idle)
        start = trio.current_time()

        for n in range(50_000):
            trouper.send(task_sink, n)
            trouper.send(reactive_sink, n)

        # All sends returned at once (no virtual time passed) and everything is queued.
        assert trio.current_time() == start
        assert trouper.process_info(task_sink).mailbox_len == 50_000
        assert trouper.process_info(reactive_sink).mailbox_len == 50_000


# ---------------------------------------------------------------------------------------------
# ordering


async def task_sender(dest: Pid, sender: int, plan: list[tuple[int, bool]]) -> None:
    """Send bursts of numbered messages, yielding to trio between bursts when the plan says so."""
    seq = 0
    for burst, pause in plan:
        for _ in range(burst):
            trouper.send(dest, (sender, seq))
            seq += 1
        if pause:
            await trio.lowlevel.checkpoint()


class ReactiveSender(trouper.Actor):
    """Sends one burst per "tick" and ticks itself again, so its bursts interleave with others'."""

    def init(self, dest: Pid, sender: int, plan: list[tuple[int, bool]]) -> None:
        self.dest = dest
        self.sender = sender
        self.bursts = [burst for burst, _ in plan]
        self.seq = 0
        trouper.send(trouper.self(), "tick")

    def handle(self, message: Any) -> None:
        for _ in range(self.bursts.pop(0)):
            trouper.send(self.dest, (self.sender, self.seq))
            self.seq += 1
        if self.bursts:
            trouper.send(trouper.self(), "tick")


class Collector(trouper.Actor):
    """A reactive receiver: records every message, reports the list once it has ``total``."""

    def init(self, total: int, report_to: Pid) -> None:
        self.total = total
        self.report_to = report_to
        self.seen: list[Any] = []

    def handle(self, message: Any) -> None:
        self.seen.append(message)
        if len(self.seen) == self.total:
            trouper.send(self.report_to, self.seen)


plans = st.lists(
    st.tuples(
        st.sampled_from(["task", "reactive"]),
        st.lists(st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    senders=plans,
    receiver=st.sampled_from(["task", "reactive", "selective"]),
    rng=st.randoms(use_true_random=False),
)
def test_messages_from_each_sender_arrive_in_the_order_sent(
    senders: list[tuple[str, list[tuple[int, bool]]]], receiver: str, rng: random.Random
) -> None:
    # Several senders (task processes that yield to trio between bursts, reactive ones that
    # interleave through the run queue) send concurrently; trio randomises their interleaving.
    # Whatever it is, each sender's messages must reach the receiver in send order.
    counts = [sum(burst for burst, _ in plan) for _, plan in senders]
    total = sum(counts)

    async def main() -> list[Any]:
        me = trouper.self()
        dest = trouper.spawn(Collector, total, me) if receiver == "reactive" else me
        for sender, (mode, plan) in enumerate(senders):
            if mode == "task":
                trouper.spawn(task_sender, dest, sender, plan)
            else:
                trouper.spawn(ReactiveSender, dest, sender, plan)
        if receiver == "reactive":
            return await trouper.receive(timeout=WAIT)
        if receiver == "task":
            return [await trouper.receive(timeout=WAIT) for _ in range(total)]
        # selective: pick a random sender each time; its oldest message must come out.
        received: list[Any] = []
        remaining = list(counts)
        while any(remaining):
            sender = rng.choice([s for s, left in enumerate(remaining) if left])
            received.append(await trouper.receive(lambda m, s=sender: m[0] == s, timeout=WAIT))
            remaining[sender] -= 1
        return received

    received = trouper.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

    assert len(received) == total
    for sender, count in enumerate(counts):
        assert [seq for s, seq in received if s == sender] == list(range(count))


@pytest.mark.parametrize("mode", ["reactive", "task"])
@pytest.mark.parametrize("watch", ["monitor", "link"])
async def test_message_sent_just_before_dying_arrives_before_the_down_or_exit(
    autojump_clock: Any, mode: str, watch: str
) -> None:
    class SayThenDie(trouper.Actor):
        def handle(self, message: Any) -> None:
            trouper.send(message, "last words")
            raise ProcessExit("boom")

    async def say_then_die(to: Pid) -> None:
        await trouper.receive(lambda m: m == "go")
        trouper.send(to, "last words")
        raise ProcessExit("boom")

    async with trouper.open_node():
        me = trouper.self()
        if watch == "link":
            trouper.trap_exit(True)
        if mode == "reactive":
            pid = trouper.spawn(SayThenDie)
            start_message: Any = me
        else:
            pid = trouper.spawn(say_then_die, me)
            start_message = "go"
        if watch == "link":
            trouper.link(pid)
            expected: Any = Exit(pid, "boom")
        else:
            expected = Down(trouper.monitor(pid), pid, "boom")

        trouper.send(pid, start_message)

        assert await trouper.receive(timeout=WAIT) == "last words"
        assert await trouper.receive(timeout=WAIT) == expected


@pytest.mark.parametrize("mode", ["reactive", "task"])
async def test_messages_and_exit_signals_from_one_sender_arrive_in_the_order_sent(
    autojump_clock: Any, mode: str
) -> None:
    class Forwarder(trouper.Actor):
        def init(self, to: Pid) -> None:
            self.to = to

        def handle(self, message: Any) -> None:
            trouper.send(self.to, message)

    async def forwarder(to: Pid) -> None:
        while True:
            trouper.send(to, await trouper.receive())

    async def sender(dest: Pid) -> None:
        trouper.send(dest, "before")
        trouper.exit(dest, "signal")
        trouper.send(dest, "after")

    async with trouper.open_node():
        receiver = trouper.spawn(
            Forwarder if mode == "reactive" else forwarder, trouper.self(), trap_exit=True
        )

        pid = trouper.spawn(sender, receiver)

        received = [await trouper.receive(timeout=WAIT) for _ in range(3)]
        assert received == ["before", Exit(pid, "signal"), "after"]


async def test_send_to_a_dead_pid_is_silently_dropped(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)
        before = trouper.statistics()

        trouper.send(pid, "hello?")

        assert trouper.statistics() == before
        assert trouper.processes() == [trouper.self()]


async def test_send_to_an_unregistered_name_raises() -> None:
    async with trouper.open_node():
        with pytest.raises(trouper.NameNotRegisteredError):
            trouper.send("nobody", "hello?")


async def test_send_to_a_name_whose_holder_has_exited_raises(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle, name="worker")
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)

        with pytest.raises(trouper.NameNotRegisteredError):
            trouper.send("worker", "hello?")


async def test_send_to_a_registered_name_delivers_to_its_holder() -> None:
    async with trouper.open_node():
        trouper.register("root", trouper.self())

        trouper.send("root", "hello")

        assert await trouper.receive(timeout=0, after=None) == "hello"


# ---------------------------------------------------------------------------------------------
# selective receive


async def test_receive_without_match_takes_the_oldest_message(autojump_clock: Any) -> None:
    async with trouper.open_node():
        for n in range(3):
            trouper.send(trouper.self(), n)

        assert [await trouper.receive(timeout=WAIT) for _ in range(3)] == [0, 1, 2]


async def test_selective_receive_by_predicate_takes_the_oldest_match_and_keeps_the_rest_in_order(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        for n in [1, 2, 3, 4, 5, 6]:
            trouper.send(me, n)

        assert await trouper.receive(lambda m: m % 2 == 0, timeout=WAIT) == 2
        assert await trouper.receive(lambda m: m > 4, timeout=WAIT) == 5

        assert [await trouper.receive(timeout=WAIT) for _ in range(4)] == [1, 3, 4, 6]


async def test_selective_receive_by_type_takes_the_oldest_instance_and_keeps_the_rest_in_order(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        for message in ["a", 1, "b", 2.5, 3]:
            trouper.send(me, message)

        assert await trouper.receive(int, timeout=WAIT) == 1
        assert await trouper.receive((float, int), timeout=WAIT) == 2.5

        assert [await trouper.receive(timeout=WAIT) for _ in range(3)] == ["a", "b", 3]


async def test_selective_receive_waits_for_a_match_that_arrives_later(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        trouper.send(me, "noise")
        trouper.send_after(3, me, "wanted")
        start = trio.current_time()

        assert await trouper.receive(lambda m: m == "wanted", timeout=WAIT) == "wanted"

        assert trio.current_time() == start + 3
        assert await trouper.receive(timeout=0) == "noise"


# ---------------------------------------------------------------------------------------------
# timeouts


async def test_receive_timeout_returns_the_after_value_at_exactly_the_timeout(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        start = trio.current_time()

        assert await trouper.receive(timeout=2.5, after="timed out") == "timed out"

        assert trio.current_time() == start + 2.5


async def test_receive_timeout_zero_takes_a_queued_match_without_waiting(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        trouper.send(me, "other")
        trouper.send(me, "wanted")
        start = trio.current_time()

        assert await trouper.receive(lambda m: m == "wanted", timeout=0, after=None) == "wanted"

        assert trio.current_time() == start


async def test_receive_timeout_zero_polls_and_does_not_wait_for_a_match(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        trouper.send(me, "other")
        trouper.send_after(1, me, "wanted")
        start = trio.current_time()

        assert await trouper.receive(lambda m: m == "wanted", timeout=0, after="none") == "none"

        assert trio.current_time() == start
        assert await trouper.receive(timeout=0) == "other"


async def test_non_matching_arrivals_do_not_extend_the_timeout(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        start = trio.current_time()
        for n in range(10):
            trouper.send_after(n + 0.5, me, ("noise", n))

        result = await trouper.receive(lambda m: m == "wanted", timeout=5, after="timed out")

        assert result == "timed out"
        assert trio.current_time() == start + 5
        # The five that arrived meanwhile are still queued, in order.
        queued = [await trouper.receive(timeout=0, after=None) for _ in range(6)]
        assert queued == [("noise", n) for n in range(5)] + [None]


async def test_receive_with_a_never_matching_pattern_and_a_timeout_sleeps(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.send(trouper.self(), "queued")
        start = trio.current_time()

        assert await trouper.receive(lambda m: False, timeout=7, after="woke") == "woke"

        assert trio.current_time() == start + 7
        assert await trouper.receive(timeout=0) == "queued"


async def test_receive_without_timeout_waits_as_long_as_needed(autojump_clock: Any) -> None:
    async with trouper.open_node():
        start = trio.current_time()
        trouper.send_after(10_000, trouper.self(), "late")

        assert await trouper.receive() == "late"

        assert trio.current_time() == start + 10_000


async def test_receive_timeout_without_after_raises_receive_timeout_error(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.send(trouper.self(), "not this one")
        start = trio.current_time()

        with pytest.raises(trouper.ReceiveTimeoutError):
            await trouper.receive(int, timeout=4)

        assert trio.current_time() == start + 4
        assert await trouper.receive(timeout=0) == "not this one"


async def test_receive_timeout_error_is_a_timeout_error(autojump_clock: Any) -> None:
    async with trouper.open_node():
        with pytest.raises(TimeoutError):
            await trouper.receive(timeout=1)


class TriesToReceive(trouper.Actor):
    """A reactive process whose callback tries to use ``receive``.

    A plain ``def`` cannot ``await``, so the refusal must come from the call itself, before
    anything is taken from a mailbox (a coroutine nobody awaits would only be a warning).
    """

    def init(self, report_to: Pid) -> None:
        self.report_to = report_to

    def handle(self, message: Any) -> None:
        try:
            coro = trouper.receive(timeout=0, after=None)
        except trouper.NotInProcessError:
            trouper.send(self.report_to, "refused")
        except BaseException as exc:  # the test reports anything else as a failure
            trouper.send(self.report_to, ("not refused", repr(exc)))
        else:
            coro.close()
            trouper.send(self.report_to, ("not refused", "returned a coroutine"))


async def test_receive_in_a_reactive_callback_raises_not_in_process_error(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        pid = trouper.spawn(TriesToReceive, me)
        trouper.send(me, "mine")  # must not be stolen by the reactive process

        trouper.send(pid, "go")

        assert await trouper.receive(lambda m: m != "mine", timeout=WAIT) == "refused"
        assert await trouper.receive(timeout=0, after=None) == "mine"
