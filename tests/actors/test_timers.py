"""Timers: send_after, cancel_timer, read_timer (Erlang's erlang:send_after/3 family).

All timing is virtual (``autojump_clock``) and asserted exactly. Delays are integers or binary
fractions so that ``start + delay`` is exact in floating point.
"""

from __future__ import annotations

import random
from typing import Any

import trio

import trouper
from trouper import Down, Pid

# A bound on waits for something that should come at once (or at a known time): virtual
# seconds with autojump_clock, so it costs nothing, and a runtime bug fails instead of hanging.
WAIT = 60


class Idle(trouper.Actor):
    """A reactive process that ignores every message."""


class Forwarder(trouper.Actor):
    """Reactive: forwards every message to ``to``, tagged with its own pid."""

    def init(self, to: Pid) -> None:
        self.to = to

    def handle(self, message: Any) -> None:
        trouper.send(self.to, (trouper.self(), message))


def down_of(ref: trouper.Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


async def test_send_after_delivers_at_exactly_the_deadline(autojump_clock: Any) -> None:
    async with trouper.open_node():
        start = trio.current_time()

        trouper.send_after(2.5, trouper.self(), "ding")

        assert await trouper.receive(timeout=WAIT) == "ding"
        assert trio.current_time() == start + 2.5


async def test_send_after_does_not_deliver_early(autojump_clock: Any) -> None:
    async with trouper.open_node():
        start = trio.current_time()
        trouper.send_after(5, trouper.self(), "ding")

        assert await trouper.receive(timeout=4.75, after="nothing yet") == "nothing yet"
        assert await trouper.receive(timeout=WAIT) == "ding"
        assert trio.current_time() == start + 5


async def test_send_after_with_zero_delay_delivers_without_time_passing(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        start = trio.current_time()

        trouper.send_after(0, trouper.self(), "now")

        assert await trouper.receive(timeout=WAIT) == "now"
        assert trio.current_time() == start


async def test_send_after_to_a_reactive_process_delivers_at_the_deadline(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Forwarder, trouper.self())
        start = trio.current_time()

        trouper.send_after(3, pid, "ding")

        assert await trouper.receive(timeout=WAIT) == (pid, "ding")
        assert trio.current_time() == start + 3


async def test_cancel_timer_returns_the_time_left_and_prevents_delivery(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        start = trio.current_time()
        ref = trouper.send_after(10, trouper.self(), "ding")
        await trio.sleep(3)

        assert trouper.cancel_timer(ref) == 7

        assert await trouper.receive(timeout=20, after="never delivered") == "never delivered"
        assert trio.current_time() == start + 23


async def test_cancel_timer_after_it_fired_returns_none(autojump_clock: Any) -> None:
    async with trouper.open_node():
        ref = trouper.send_after(1, trouper.self(), "ding")
        assert await trouper.receive(timeout=WAIT) == "ding"

        assert trouper.cancel_timer(ref) is None


async def test_cancel_timer_twice_returns_none_the_second_time(autojump_clock: Any) -> None:
    async with trouper.open_node():
        ref = trouper.send_after(4, trouper.self(), "ding")

        assert trouper.cancel_timer(ref) == 4
        assert trouper.cancel_timer(ref) is None


async def test_read_timer_returns_the_time_left(autojump_clock: Any) -> None:
    async with trouper.open_node():
        ref = trouper.send_after(10, trouper.self(), "ding")
        assert trouper.read_timer(ref) == 10

        await trio.sleep(4)

        assert trouper.read_timer(ref) == 6


async def test_read_timer_after_it_fired_or_was_cancelled_returns_none(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        fired = trouper.send_after(1, trouper.self(), "ding")
        cancelled = trouper.send_after(5, trouper.self(), "never")
        trouper.cancel_timer(cancelled)
        await trouper.receive(timeout=WAIT)

        assert trouper.read_timer(fired) is None
        assert trouper.read_timer(cancelled) is None


async def test_a_timer_to_a_name_resolves_the_name_when_it_fires(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        first, first_ref = trouper.spawn_monitor(Forwarder, me, name="worker")
        start = trio.current_time()
        trouper.send_after(5, "worker", "ding")

        # Before it fires, the name moves to another process.
        await trio.sleep(1)
        trouper.exit(first, "kill")
        await trouper.receive(down_of(first_ref), timeout=WAIT)
        second = trouper.spawn(Forwarder, me, name="worker")

        assert await trouper.receive(timeout=WAIT) == (second, "ding")
        assert trio.current_time() == start + 5


async def test_a_timer_to_a_name_nobody_holds_when_it_fires_is_dropped(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.send_after(1, "nobody", "ding")
        ref = trouper.send_after(2, trouper.self(), "the node is fine")

        assert await trouper.receive(timeout=WAIT) == "the node is fine"
        assert trouper.read_timer(ref) is None
        assert trouper.statistics().timers == 0


async def test_a_timer_to_a_name_registered_after_it_was_set_reaches_the_new_holder(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.send_after(5, "late", "ding")
        await trio.sleep(2)

        trouper.register("late", trouper.self())

        assert await trouper.receive(timeout=WAIT) == "ding"


async def test_a_timer_to_a_dead_pid_is_dropped(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle)
        dropped = trouper.send_after(1, pid, "ding")
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)
        sentinel = trouper.send_after(2, trouper.self(), "after")

        assert await trouper.receive(timeout=WAIT) == "after"

        assert trouper.read_timer(dropped) is None
        assert trouper.read_timer(sentinel) is None
        assert trouper.statistics().timers == 0
        assert trouper.processes() == [trouper.self()]


async def test_10000_timers_fire_in_deadline_order_each_at_its_deadline(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        start = trio.current_time()
        delays = list(range(1, 10_001))
        random.Random(1234).shuffle(delays)  # set in a scrambled order
        for delay in delays:
            trouper.send_after(delay, me, delay)
        assert trouper.statistics().timers == 10_000

        arrivals = []
        for _ in delays:
            delay = await trouper.receive(timeout=WAIT)
            arrivals.append((delay, trio.current_time() - start))

        assert arrivals == [(delay, float(delay)) for delay in range(1, 10_001)]
        assert trouper.statistics().timers == 0


async def test_timers_with_the_same_deadline_all_fire_at_it(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        start = trio.current_time()
        for n in range(100):
            trouper.send_after(3, me, n)

        received = {await trouper.receive(timeout=WAIT) for _ in range(100)}

        assert received == set(range(100))
        assert trio.current_time() == start + 3


async def test_timers_need_no_trio_task_each(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        await trio.testing.wait_all_tasks_blocked()  # the node's own tasks are running
        tasks_before = trio.lowlevel.current_statistics().tasks_living

        refs = [trouper.send_after(100 + n, me, n) for n in range(10_000)]
        await trio.sleep(50)  # every timer pending, the timer machinery running

        assert trio.lowlevel.current_statistics().tasks_living == tasks_before
        assert trouper.statistics().timers == 10_000
        for ref in refs:
            trouper.cancel_timer(ref)
        assert trouper.statistics().timers == 0
