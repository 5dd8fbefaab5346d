"""The static Supervisor: otp-semantics.md A8 (supervisor) is the specification.

The children report to the test process (the node's root): ``("started", tag, pid)`` from
their ``init`` and, for the ones that trap exits, ``("terminated", tag, reason)`` from their
``terminate``. A supervisor starts and stops children one after another, so the order of
those messages in the test's mailbox is the order the supervisor acted in. The test waits on
those messages (or on a ``Down`` from a monitor) before it asks the supervisor anything, so
no test depends on how trio schedules tasks.

Anything timed (restart windows, shutdown timeouts, backoff) runs on ``autojump_clock`` and
asserts exact virtual times.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper import Down, Exit, GenServer, Pid, Stop
from trouper.supervision import (
    RESTARTING,
    Backoff,
    ChildCounts,
    ChildSpec,
    ChildSpecError,
    Supervisor,
    SupervisorError,
    count_children,
    delete_child,
    get_childspec,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

CLEAN_REASONS = ["normal", "shutdown", ("shutdown", "maintenance")]

# ---------------------------------------------------------------------------------------------
# Children


class Worker(GenServer):
    """Reactive: says ``("started", tag, pid)`` to ``test``; ``("stop", r)`` cast ends it."""

    def init(self, test: Pid, tag: Hashable) -> None:
        self.test = test
        self.tag = tag
        trouper.send(test, ("started", tag, trouper.self()))

    def handle_cast(self, request: Any) -> Any:
        match request:
            case ("stop", reason):
                return Stop(reason)
        return None


class Trapper(Worker):
    """A Worker that traps exits, so a shutdown runs its ``terminate``, which it reports."""

    def init(self, test: Pid, tag: Hashable) -> None:
        trouper.trap_exit(True)
        super().init(test, tag)

    def terminate(self, reason: Any) -> None:
        trouper.send(self.test, ("terminated", self.tag, reason))


class SlowWorker(GenServer):
    """A task process whose ``init`` yields before it reports: a start that did not wait for
    ``init`` would let the next child run first."""

    async def init(self, test: Pid, tag: Hashable) -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        trouper.send(test, ("started", tag, trouper.self()))


class SlowRegistrar(GenServer):
    """A task process that registers ``name`` at the end of an ``init`` that yields first."""

    async def init(self, test: Pid, name: str) -> None:
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        trouper.register(name, trouper.self())
        trouper.send(test, ("started", name, trouper.self()))


class Observer(GenServer):
    """Reports, from its ``init``, who holds ``name``."""

    def init(self, test: Pid, name: str) -> None:
        trouper.send(test, ("saw", trouper.whereis(name)))


class FailInit(GenServer):
    def init(self, *args: Any) -> None:
        raise ValueError("cannot start")


class Ignorer(GenServer):
    def init(self, *args: Any) -> Any:
        return trouper.IGNORE


class FlakyStart:
    """A start function: the first start works; the next ``failures`` ones raise."""

    def __init__(self, failures: float) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, test: Pid, tag: Hashable) -> Pid | None:
        self.calls += 1
        if 1 < self.calls <= 1 + self.failures:
            raise RuntimeError(f"start number {self.calls} failed")
        return await Worker.start_link(test, tag)


async def ignore_everything(test: Pid) -> None:
    """A task process (spawned trapping exits) that never stops: it reports and ignores all."""
    while True:
        message = await trouper.receive()
        trouper.send(test, ("ignored", message))


async def exit_with_on_exit(reason: Any) -> None:
    """A task process (spawned trapping exits) that answers any Exit by ending with ``reason``."""
    await trouper.receive(Exit)
    raise trouper.ProcessExit(reason)


async def stop_slowly(seconds: float) -> None:
    """A task process (spawned trapping exits) that takes ``seconds`` to stop after an Exit."""
    await trouper.receive(Exit)
    await trio.sleep(seconds)
    raise trouper.ProcessExit("shutdown")


async def report_and_crash(test: Pid) -> None:
    trouper.send(test, ("started", "crasher", trouper.self()))
    raise RuntimeError("crash storm")


spawn_link_trapping = functools.partial(trouper.spawn_link, trap_exit=True)


def worker(tag: Hashable, test: Pid, **fields: Any) -> ChildSpec:
    return ChildSpec(id=tag, start=Worker, args=(test, tag), **fields)


def trapper(tag: Hashable, test: Pid, **fields: Any) -> ChildSpec:
    return ChildSpec(id=tag, start=Trapper, args=(test, tag), **fields)


# ---------------------------------------------------------------------------------------------
# Waiting and looking


# A message that never comes fails the test after this long (virtual seconds under
# autojump_clock, where a deadlock jumps straight to it) instead of hanging the run.
WAIT = 10.0


async def wait_for(match: Any) -> Any:
    """The oldest message matching ``match``, waiting at most ``WAIT`` seconds for it."""
    return await trouper.receive(match, timeout=WAIT)


def is_(kind: str, tag: Any = None) -> Any:
    return lambda m: (
        type(m) is tuple and len(m) >= 2 and m[0] == kind and (tag is None or m[1] == tag)
    )


async def started(tag: Hashable) -> Pid:
    """Wait for ``tag``'s next ``started`` report; return its pid."""
    message = await wait_for(is_("started", tag))
    pid: Pid = message[2]
    return pid


async def started_tags(n: int) -> list[Hashable]:
    """Wait for the next ``n`` started reports, in the order they were sent."""
    return [(await wait_for(is_("started")))[1] for _ in range(n)]


def terminated_so_far() -> list[tuple[Hashable, Any]]:
    """Every ``terminated`` report already received, in order."""
    return [(m[1], m[2]) for m in trouper.receive_all_nowait(is_("terminated"))]


def down_of(ref: trouper.Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


def exit_from(pid: Pid) -> Any:
    return lambda m: isinstance(m, Exit) and m.pid is pid


async def nothing_queued(match: Any) -> bool:
    return await trouper.receive(match, timeout=0, after=None) is None


async def stop_and_wait(pid: Pid, reason: Any) -> None:
    """Make the Worker ``pid`` end itself with ``reason``; return once it is dead.

    The supervisor's Exit is delivered before the test's Down, so a supervisor call made
    after this returns is answered after the supervisor has handled the exit.
    """
    ref = trouper.monitor(pid)
    trouper.cast(pid, ("stop", reason))
    down = await wait_for(down_of(ref))
    assert down.reason == reason


async def kill_and_wait(pid: Pid, reason: Any = "boom") -> None:
    ref = trouper.monitor(pid)
    trouper.exit(pid, reason)
    await wait_for(down_of(ref))


async def pids(sup: Pid) -> dict[Hashable, Any]:
    return {info.id: info.pid for info in await which_children(sup)}


def liveness(pid: Any) -> Any:
    """The word "live" for a running child's pid; otherwise what which_children showed."""
    return "live" if isinstance(pid, Pid) and trouper.is_alive(pid) else pid


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


# ---------------------------------------------------------------------------------------------
# Start-up


async def test_children_start_in_list_order_before_start_link_returns() -> None:
    async with trouper.open_node():
        me = trouper.self()
        specs = [ChildSpec(id=tag, start=SlowWorker, args=(me, tag)) for tag in "abcd"]

        await Supervisor.start_link(specs)

        reports = trouper.receive_all_nowait(is_("started"))
        assert [m[1] for m in reports] == ["a", "b", "c", "d"]


async def test_a_childs_init_sees_the_previous_child_already_started() -> None:
    async with trouper.open_node():
        me = trouper.self()
        specs = [
            ChildSpec(id="first", start=SlowRegistrar, args=(me, "first")),
            ChildSpec(id="second", start=Observer, args=(me, "first")),
        ]

        await Supervisor.start_link(specs)

        first = await started("first")
        saw = await wait_for(is_("saw"))
        assert saw[1] is first


async def test_start_link_returns_a_live_supervisor_linked_to_the_caller() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        assert trouper.is_alive(sup)
        assert sup in trouper.process_info(trouper.self()).links


async def test_a_child_failing_to_start_fails_start_link_naming_the_child() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        specs = [worker("a", me), ChildSpec(id="bad", start=FailInit), worker("c", me)]

        with pytest.raises(trouper.InitError) as raised:
            await Supervisor.start_link(specs)

        shutdown, (label, child_id, why) = raised.value.reason
        assert (shutdown, label, child_id) == ("shutdown", "failed_to_start_child", "bad")
        assert isinstance(why, ValueError)
        assert str(why) == "cannot start"


async def test_a_child_failing_to_start_stops_the_started_ones_in_reverse_order() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        specs = [
            trapper("a", me),
            trapper("b", me),
            trapper("c", me),
            ChildSpec(id="bad", start=FailInit),
            trapper("e", me),
        ]

        with pytest.raises(trouper.InitError):
            await Supervisor.start_link(specs)

        assert terminated_so_far() == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]
        assert await started_tags(3) == ["a", "b", "c"]
        assert await nothing_queued(is_("started"))


async def test_a_child_failing_to_start_leaves_no_process_behind() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        before = trouper.processes()

        with pytest.raises(trouper.InitError):
            await Supervisor.start_link([worker("a", me), ChildSpec(id="bad", start=FailInit)])

        assert trouper.processes() == before


async def test_a_start_function_returning_no_pid_fails_start_link() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)

        with pytest.raises(trouper.InitError) as raised:
            await Supervisor.start_link([ChildSpec(id="odd", start=lambda: "not a pid")])

        _, (label, child_id, why) = raised.value.reason
        assert (label, child_id) == ("failed_to_start_child", "odd")
        assert isinstance(why, TypeError)


async def test_a_supervisor_that_failed_to_start_has_released_its_name() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()

        with pytest.raises(trouper.InitError):
            await Supervisor.start_link([ChildSpec(id="bad", start=FailInit)], name="top")

        assert trouper.whereis("top") is None
        sup = await Supervisor.start_link([worker("a", me)], name="top")
        assert trouper.whereis("top") is sup


async def test_start_link_with_a_name_already_taken_raises_already_registered() -> None:
    async with trouper.open_node():
        me = trouper.self()
        first = await Supervisor.start_link([worker("a", me)], name="top")

        with pytest.raises(trouper.AlreadyRegisteredError) as raised:
            await Supervisor.start_link([worker("b", me)], name="top")

        assert raised.value.pid is first
        assert await nothing_queued(is_("started", "b"))


async def test_a_child_whose_init_ignores_keeps_its_spec_without_a_pid() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([ChildSpec(id="ign", start=Ignorer)])

        assert await pids(sup) == {"ign": None}


async def test_a_temporary_child_whose_init_ignores_is_dropped() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([ChildSpec(id="ign", start=Ignorer, restart="temporary")])

        assert await which_children(sup) == []


# ---------------------------------------------------------------------------------------------
# Strategies


async def test_one_for_one_restarts_only_the_dead_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([trapper(tag, me) for tag in "abc"])
        await started_tags(3)
        before = await pids(sup)

        await stop_and_wait(before["b"], "boom")
        new_b = await started("b")

        after = await pids(sup)
        assert after == {"a": before["a"], "b": new_b, "c": before["c"]}
        assert new_b != before["b"]
        assert terminated_so_far() == [("b", "boom")]  # nobody else was stopped


async def test_one_for_all_restarts_every_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper(tag, me) for tag in "abc"], strategy="one_for_all"
        )
        await started_tags(3)
        before = await pids(sup)

        await stop_and_wait(before["b"], "boom")
        await started_tags(3)

        after = await pids(sup)
        assert all(after[tag] != before[tag] for tag in "abc")
        assert all(trouper.is_alive(pid) for pid in after.values())
        # The siblings it stopped do not come back as crashes to restart once more.
        assert await nothing_queued(is_("started"))


async def test_one_for_all_restarts_each_child_exactly_once_per_crash() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper(tag, me) for tag in "abc"], strategy="one_for_all", intensity=10
        )
        await started_tags(3)

        await stop_and_wait((await pids(sup))["b"], "boom")
        await started_tags(3)

        assert {info.id: info.restarts for info in await which_children(sup)} == dict.fromkeys(
            "abc", 1
        )
        assert await nothing_queued(is_("started"))


async def test_one_for_all_stops_the_others_in_reverse_start_order_then_starts_all_in_order() -> (
    None
):
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper(tag, me) for tag in "abcd"], strategy="one_for_all"
        )
        await started_tags(4)
        before = await pids(sup)

        await stop_and_wait(before["b"], "boom")

        assert await started_tags(4) == ["a", "b", "c", "d"]
        assert terminated_so_far() == [
            ("b", "boom"),
            ("d", "shutdown"),
            ("c", "shutdown"),
            ("a", "shutdown"),
        ]


async def test_rest_for_one_restarts_the_dead_child_and_the_ones_after_it() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper(tag, me) for tag in "abcd"], strategy="rest_for_one"
        )
        await started_tags(4)
        before = await pids(sup)

        await stop_and_wait(before["b"], "boom")

        assert await started_tags(3) == ["b", "c", "d"]
        after = await pids(sup)
        assert after["a"] is before["a"]
        assert all(after[tag] != before[tag] for tag in "bcd")
        assert terminated_so_far() == [("b", "boom"), ("d", "shutdown"), ("c", "shutdown")]


async def test_rest_for_one_after_the_last_child_restarts_only_that_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper(tag, me) for tag in "abc"], strategy="rest_for_one"
        )
        await started_tags(3)
        before = await pids(sup)

        await stop_and_wait(before["c"], "boom")
        new_c = await started("c")

        assert await pids(sup) == {"a": before["a"], "b": before["b"], "c": new_c}
        assert terminated_so_far() == [("c", "boom")]


async def test_one_for_all_restarts_a_child_that_was_terminated_by_hand() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [worker(tag, me) for tag in "abc"], strategy="one_for_all"
        )
        await started_tags(3)
        await terminate_child(sup, "c")
        before = await pids(sup)
        assert before["c"] is None

        await kill_and_wait(before["a"])

        assert await started_tags(3) == ["a", "b", "c"]
        assert all(isinstance(pid, Pid) for pid in (await pids(sup)).values())


async def test_one_for_all_drops_a_temporary_bystander_instead_of_restarting_it() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper("a", me), trapper("temp", me, restart="temporary"), trapper("c", me)],
            strategy="one_for_all",
        )
        await started_tags(3)
        before = await pids(sup)

        await stop_and_wait(before["a"], "boom")

        assert await started_tags(2) == ["a", "c"]
        assert set(await pids(sup)) == {"a", "c"}
        assert ("temp", "shutdown") in terminated_so_far()


# ---------------------------------------------------------------------------------------------
# Restart types


@pytest.mark.parametrize("reason", CLEAN_REASONS, ids=str)
async def test_a_transient_child_is_not_restarted_after_a_clean_exit(reason: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("t", me, restart="transient")])
        pid = await started("t")

        await stop_and_wait(pid, reason)

        assert await pids(sup) == {"t": None}
        assert await count_children(sup) == ChildCounts(specs=1, active=0, supervisors=0, workers=1)
        assert await nothing_queued(is_("started"))


@pytest.mark.parametrize("reason", ["boom", ("error", 1), "killed"], ids=str)
async def test_a_transient_child_is_restarted_after_an_abnormal_exit(reason: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("t", me, restart="transient")])
        pid = await started("t")

        await stop_and_wait(pid, reason)

        new = await started("t")
        assert await pids(sup) == {"t": new}


async def test_a_transient_child_killed_is_restarted() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("t", me, restart="transient")])
        pid = await started("t")

        await kill_and_wait(pid, "kill")

        new = await started("t")
        assert await pids(sup) == {"t": new}


@pytest.mark.parametrize("reason", ["normal", "shutdown", "boom"])
async def test_a_temporary_child_is_never_restarted_and_leaves_which_children(
    reason: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me), worker("t", me, restart="temporary")])
        await started_tags(2)
        pid = (await pids(sup))["t"]

        await stop_and_wait(pid, reason)

        assert set(await pids(sup)) == {"a"}
        assert (await count_children(sup)).specs == 1
        assert await nothing_queued(is_("started"))


@pytest.mark.parametrize("reason", ["normal", "shutdown", "boom"])
async def test_a_permanent_child_is_restarted_whatever_its_exit_reason(reason: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("p", me)])
        pid = await started("p")

        await stop_and_wait(pid, reason)

        new = await started("p")
        assert new != pid
        assert await pids(sup) == {"p": new}


async def test_restarts_are_counted_per_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me), worker("b", me)], intensity=10)
        await started_tags(2)

        for _ in range(3):
            await kill_and_wait((await pids(sup))["b"])
            await started("b")

        assert {i.id: i.restarts for i in await which_children(sup)} == {"a": 0, "b": 3}


# ---------------------------------------------------------------------------------------------
# Restart intensity


async def test_intensity_2_period_5_three_crashes_at_t0_1_2_end_the_supervisor(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)], intensity=2, period=5)
        pid = await started("w")
        t0 = trio.current_time()

        for second in (0, 1):
            await trio.sleep_until(t0 + second)
            trouper.exit(pid, "boom")
            pid = await started("w")
        await trio.sleep_until(t0 + 2)
        trouper.exit(pid, "boom")

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert trio.current_time() == t0 + 2
        assert await nothing_queued(is_("started"))


async def test_intensity_2_period_5_crashes_at_t0_3_6_9_never_end_the_supervisor(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)], intensity=2, period=5)
        pid = await started("w")
        t0 = trio.current_time()

        for second in (0, 3, 6, 9):
            await trio.sleep_until(t0 + second)
            trouper.exit(pid, "boom")
            pid = await started("w")

        assert trouper.is_alive(sup)
        assert await which_children(sup) == [
            trouper.supervision.ChildInfo(
                id="w", pid=pid, type="worker", restart="permanent", restarts=4
            )
        ]
        assert await nothing_queued(exit_from(sup))


async def test_a_crash_exactly_period_after_the_first_still_counts(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)], intensity=1, period=5)
        pid = await started("w")
        t0 = trio.current_time()

        trouper.exit(pid, "boom")
        pid = await started("w")
        await trio.sleep_until(t0 + 5)
        trouper.exit(pid, "boom")

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert trio.current_time() == t0 + 5


async def test_intensity_0_ends_the_supervisor_at_the_first_crash() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)], intensity=0)
        pid = await started("w")

        trouper.exit(pid, "boom")

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert await nothing_queued(is_("started"))


async def test_giving_up_stops_the_remaining_children_in_reverse_start_order() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([trapper(tag, me) for tag in "abcd"], intensity=0)
        await started_tags(4)
        b = (await pids(sup))["b"]

        trouper.cast(b, ("stop", "boom"))

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert terminated_so_far() == [
            ("b", "boom"),
            ("d", "shutdown"),
            ("c", "shutdown"),
            ("a", "shutdown"),
        ]


async def test_giving_up_logs_reached_max_restart_intensity() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)], intensity=0, period=7)
        pid = await started("w")

        with capture_logs() as logs:
            trouper.exit(pid, "boom")
            await wait_for(exit_from(sup))

        [report] = events(logs, "reached_max_restart_intensity")
        assert report["log_level"] == "error"
        assert report["supervisor"] == repr(sup)
        assert report["child_id"] == "w"
        assert report["reason"] == repr("shutdown")
        assert report["intensity"] == 0
        assert report["period"] == 7


# ---------------------------------------------------------------------------------------------
# Nested supervisors


async def test_a_child_supervisor_that_gives_up_exits_shutdown_and_is_restarted_by_its_parent() -> (
    None
):
    async with trouper.open_node():
        me = trouper.self()
        inner = Supervisor.child_spec("inner", [worker("w", me)], intensity=0)
        outer = await Supervisor.start_link([inner, worker("sibling", me)])
        await started_tags(2)
        inner_pid = (await pids(outer))["inner"]
        sibling = (await pids(outer))["sibling"]
        w = (await pids(inner_pid))["w"]
        ref = trouper.monitor(inner_pid)

        trouper.exit(w, "boom")

        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"
        await started("w")
        after = await pids(outer)
        assert isinstance(after["inner"], Pid)
        assert after["inner"] != inner_pid
        assert trouper.is_alive(after["inner"])
        assert after["sibling"] is sibling
        assert {i.id: i.restarts for i in await which_children(outer)}["inner"] == 1


async def test_a_transient_child_supervisor_that_gives_up_is_not_restarted() -> None:
    async with trouper.open_node():
        me = trouper.self()
        inner = Supervisor.child_spec("inner", [worker("w", me)], restart="transient", intensity=0)
        outer = await Supervisor.start_link([inner])
        w = await started("w")
        inner_pid = (await pids(outer))["inner"]
        ref = trouper.monitor(inner_pid)

        trouper.exit(w, "boom")

        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"
        assert await pids(outer) == {"inner": None}
        assert trouper.is_alive(outer)
        assert await nothing_queued(is_("started"))


async def test_a_nested_supervisor_is_stopped_with_its_children_before_its_parent_exits() -> None:
    async with trouper.open_node():
        me = trouper.self()
        inner = Supervisor.child_spec("inner", [trapper("x", me), trapper("y", me)])
        outer = await Supervisor.start_link([trapper("a", me), inner, trapper("z", me)])
        await started_tags(4)

        await trouper.stop(outer)

        assert terminated_so_far() == [
            ("z", "shutdown"),
            ("y", "shutdown"),
            ("x", "shutdown"),
            ("a", "shutdown"),
        ]


# ---------------------------------------------------------------------------------------------
# Shutdown


async def test_brutal_kill_kills_the_child_without_running_terminate() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([trapper("b", me, shutdown="brutal_kill")])
        pid = await started("b")
        ref = trouper.monitor(pid)

        await terminate_child(sup, "b")

        down = await wait_for(down_of(ref))
        assert down.reason == "killed"
        assert terminated_so_far() == []


async def test_a_child_that_traps_exits_gets_terminate_with_shutdown() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([trapper("t", me)])
        pid = await started("t")
        ref = trouper.monitor(pid)

        await terminate_child(sup, "t")

        assert terminated_so_far() == [("t", "shutdown")]
        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"


async def test_a_child_that_does_not_trap_exits_dies_with_shutdown() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me)])
        pid = await started("w")
        ref = trouper.monitor(pid)

        await terminate_child(sup, "w")

        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"


async def test_a_child_ignoring_shutdown_is_killed_after_exactly_its_shutdown_timeout(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        spec = ChildSpec(
            id="stubborn", start=spawn_link_trapping, args=(ignore_everything, me), shutdown=2.5
        )
        sup = await Supervisor.start_link([spec])
        pid = (await pids(sup))["stubborn"]
        ref = trouper.monitor(pid)
        t0 = trio.current_time()

        await terminate_child(sup, "stubborn")

        assert trio.current_time() == t0 + 2.5
        down = await wait_for(down_of(ref))
        assert down.reason == "killed"
        ignored = await wait_for(is_("ignored"))
        assert ignored[1] == Exit(sup, "shutdown")


async def test_a_child_killed_after_its_shutdown_timeout_gets_a_shutdown_error_report(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        spec = ChildSpec(
            id="stubborn", start=spawn_link_trapping, args=(ignore_everything, me), shutdown=1
        )
        sup = await Supervisor.start_link([spec])
        pid = (await pids(sup))["stubborn"]

        with capture_logs() as logs:
            await terminate_child(sup, "stubborn")

        [report] = events(logs, "shutdown_error")
        assert report["child_id"] == "stubborn"
        assert report["pid"] == repr(pid)
        assert report["reason"] == repr("killed")
        assert report["supervisor"] == repr(sup)


async def test_an_infinity_shutdown_waits_as_long_as_the_child_takes(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        spec = ChildSpec(
            id="slow", start=spawn_link_trapping, args=(stop_slowly, 100), shutdown="infinity"
        )
        sup = await Supervisor.start_link([spec])
        pid = (await pids(sup))["slow"]
        ref = trouper.monitor(pid)
        t0 = trio.current_time()

        await terminate_child(sup, "slow")

        assert trio.current_time() == t0 + 100
        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"


async def test_a_child_stopping_with_an_unexpected_reason_gets_a_shutdown_error_report() -> None:
    async with trouper.open_node():
        spec = ChildSpec(id="odd", start=spawn_link_trapping, args=(exit_with_on_exit, "oops"))
        sup = await Supervisor.start_link([spec])
        pid = (await pids(sup))["odd"]

        with capture_logs() as logs:
            await terminate_child(sup, "odd")

        [report] = events(logs, "shutdown_error")
        assert report["log_level"] == "error"
        assert report["child_id"] == "odd"
        assert report["pid"] == repr(pid)
        assert report["reason"] == repr("oops")
        assert await pids(sup) == {"odd": None}


@pytest.mark.parametrize(
    ("shutdown", "restart"),
    [(5.0, "permanent"), ("brutal_kill", "permanent"), (5.0, "transient")],
)
async def test_a_child_stopping_as_expected_gets_no_shutdown_error_report(
    shutdown: Any, restart: Any
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([trapper("t", me, shutdown=shutdown, restart=restart)])
        await started("t")

        with capture_logs() as logs:
            await terminate_child(sup, "t")

        assert events(logs, "shutdown_error") == []


async def test_a_normal_exit_on_shutdown_is_expected_from_a_transient_child() -> None:
    async with trouper.open_node():
        spec = ChildSpec(
            id="t",
            start=spawn_link_trapping,
            args=(exit_with_on_exit, "normal"),
            restart="transient",
        )
        sup = await Supervisor.start_link([spec])

        with capture_logs() as logs:
            await terminate_child(sup, "t")

        assert events(logs, "shutdown_error") == []


async def test_a_child_that_unlinked_itself_is_still_stopped() -> None:
    async def unlink_from_parent(test: Pid) -> None:
        me = trouper.self()
        trouper.unlink(trouper.process_info(me).parent)
        trouper.send(test, ("started", "loner", me))
        await trouper.receive(lambda m: False)

    async with trouper.open_node():
        spec = ChildSpec(
            id="loner", start=trouper.spawn_link, args=(unlink_from_parent, trouper.self())
        )
        sup = await Supervisor.start_link([spec])
        pid = await started("loner")
        ref = trouper.monitor(pid)

        await terminate_child(sup, "loner")

        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"
        assert await pids(sup) == {"loner": None}


async def test_a_child_crashing_while_another_is_stopped_is_restarted_afterwards(
    autojump_clock: Any,
) -> None:
    async def crash_later(pid: Pid, delay: float) -> None:
        await trio.sleep(delay)
        trouper.exit(pid, "boom")

    async with trouper.open_node():
        me = trouper.self()
        stubborn = ChildSpec(
            id="stubborn", start=spawn_link_trapping, args=(ignore_everything, me), shutdown=2
        )
        sup = await Supervisor.start_link([stubborn, worker("w", me)])
        w = await started("w")
        t0 = trio.current_time()
        trouper.spawn(crash_later, w, 1)

        await terminate_child(sup, "stubborn")
        new_w = await started("w")

        assert trio.current_time() == t0 + 2
        assert await pids(sup) == {"stubborn": None, "w": new_w}


async def test_stopping_the_supervisor_stops_its_children_in_reverse_start_order() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([trapper(tag, me) for tag in "abcd"])
        await started_tags(4)

        await trouper.stop(sup)

        assert not trouper.is_alive(sup)
        assert terminated_so_far() == [
            ("d", "shutdown"),
            ("c", "shutdown"),
            ("b", "shutdown"),
            ("a", "shutdown"),
        ]


async def test_a_supervisor_whose_parent_exits_stops_its_children_in_reverse_order() -> None:
    async def parent(test: Pid) -> None:
        sup = await Supervisor.start_link([trapper(tag, test) for tag in "abc"])
        trouper.send(test, ("sup", sup))
        await trouper.receive(lambda m: False)

    async with trouper.open_node():
        me = trouper.self()
        owner = trouper.spawn(parent, me)
        sup = (await wait_for(is_("sup")))[1]
        ref = trouper.monitor(sup)

        trouper.exit(owner, "shutdown")

        down = await wait_for(down_of(ref))
        assert down.reason == "shutdown"
        assert terminated_so_far() == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]


# ---------------------------------------------------------------------------------------------
# which_children, count_children, get_childspec


async def test_which_children_lists_the_newest_child_first() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker(tag, me) for tag in "abc"])
        await start_child(sup, worker("d", me))

        assert [info.id for info in await which_children(sup)] == ["d", "c", "b", "a"]


async def test_which_children_gives_id_pid_type_restart_and_restart_count() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("w", me, restart="transient")])
        pid = await started("w")

        [info] = await which_children(sup)

        assert (info.id, info.pid, info.type, info.restart, info.restarts) == (
            "w",
            pid,
            "worker",
            "transient",
            0,
        )


async def test_count_children_counts_specs_live_children_and_types() -> None:
    async with trouper.open_node():
        me = trouper.self()
        inner = Supervisor.child_spec("inner", [worker("x", me)])
        sup = await Supervisor.start_link([worker("a", me), worker("b", me), inner])
        await terminate_child(sup, "b")

        counts = await count_children(sup)

        assert counts == ChildCounts(specs=3, active=2, supervisors=1, workers=2)


async def test_get_childspec_by_id_returns_the_full_spec_with_defaults() -> None:
    async with trouper.open_node():
        me = trouper.self()
        spec = worker("w", me)
        sup = await Supervisor.start_link([spec])

        found = await get_childspec(sup, "w")

        assert found == spec
        assert found.shutdown == 5.0
        assert found.restart == "permanent"


async def test_get_childspec_by_pid() -> None:
    async with trouper.open_node():
        me = trouper.self()
        spec = worker("w", me)
        sup = await Supervisor.start_link([worker("other", me), spec])
        pid = (await pids(sup))["w"]

        assert await get_childspec(sup, pid) == spec


async def test_get_childspec_of_an_unknown_child_is_not_found() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("w", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await get_childspec(sup, "nope")

        assert raised.value.reason == "not_found"


async def test_a_call_to_a_dead_supervisor_fails_with_noproc() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("w", trouper.self())])
        await trouper.stop(sup)

        with pytest.raises(trouper.CallError) as raised:
            await which_children(sup)

        assert raised.value.reason == "noproc"


# ---------------------------------------------------------------------------------------------
# start_child


async def test_start_child_starts_the_child_and_returns_its_pid() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])

        pid = await start_child(sup, worker("b", me))

        assert await started("b") is pid
        assert (await pids(sup))["b"] is pid
        assert sup in trouper.process_info(pid).links


async def test_start_child_with_the_id_of_a_running_child_is_already_started() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])
        pid = await started("a")

        with pytest.raises(SupervisorError) as raised:
            await start_child(sup, worker("a", me))

        assert raised.value.reason == ("already_started", pid)
        assert await nothing_queued(is_("started"))


async def test_start_child_with_the_id_of_a_stopped_child_is_already_present() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])
        await terminate_child(sup, "a")

        with pytest.raises(SupervisorError) as raised:
            await start_child(sup, worker("a", me))

        assert raised.value.reason == "already_present"


async def test_start_child_whose_start_fails_reports_why_and_keeps_no_spec() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])

        with pytest.raises(SupervisorError) as raised:
            await start_child(sup, ChildSpec(id="bad", start=FailInit))

        assert isinstance(raised.value.reason, ValueError)
        assert set(await pids(sup)) == {"a"}
        assert trouper.is_alive(sup)


async def test_start_child_of_a_significant_child_under_auto_shutdown_never_fails() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])

        with pytest.raises(SupervisorError) as raised:
            await start_child(sup, worker("sig", me, restart="transient", significant=True))

        assert isinstance(raised.value.reason, ChildSpecError)
        assert set(await pids(sup)) == {"a"}


# ---------------------------------------------------------------------------------------------
# terminate_child, restart_child, delete_child


async def test_terminate_child_keeps_the_spec_of_a_permanent_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])
        pid = await started("a")

        await terminate_child(sup, "a")

        assert not trouper.is_alive(pid)
        assert await pids(sup) == {"a": None}
        assert await nothing_queued(is_("started"))


async def test_terminate_child_twice_is_ok() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])

        await terminate_child(sup, "a")
        await terminate_child(sup, "a")

        assert await pids(sup) == {"a": None}


async def test_terminate_child_deletes_the_spec_of_a_temporary_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me), worker("t", me, restart="temporary")])

        await terminate_child(sup, "t")

        assert set(await pids(sup)) == {"a"}


async def test_terminate_child_of_an_unknown_id_is_not_found() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await terminate_child(sup, "nope")

        assert raised.value.reason == "not_found"


async def test_terminate_child_by_pid_stops_it_and_keeps_the_spec() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me), worker("b", me)])
        b = (await pids(sup))["b"]

        await terminate_child(sup, b)

        assert not trouper.is_alive(b)
        assert (await pids(sup))["b"] is None


async def test_terminate_child_with_the_pid_of_a_live_stranger_is_not_found() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])
        stranger = trouper.spawn(ignore_everything, trouper.self())

        with pytest.raises(SupervisorError) as raised:
            await terminate_child(sup, stranger)

        assert raised.value.reason == "not_found"
        assert trouper.is_alive(stranger)


async def test_restart_child_whose_start_fails_reports_why_and_keeps_the_spec() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link(
            [ChildSpec(id="flaky", start=FlakyStart(failures=1), args=(me, "flaky"))]
        )
        await terminate_child(sup, "flaky")

        with pytest.raises(SupervisorError) as raised:
            await restart_child(sup, "flaky")

        assert isinstance(raised.value.reason, RuntimeError)
        assert await pids(sup) == {"flaky": None}
        assert isinstance(await restart_child(sup, "flaky"), Pid)


async def test_restart_child_starts_a_stopped_child_again() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])
        old = await started("a")
        await terminate_child(sup, "a")

        pid = await restart_child(sup, "a")

        assert await started("a") is pid
        assert pid is not old
        assert await pids(sup) == {"a": pid}


async def test_restart_child_of_a_running_child_is_running() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await restart_child(sup, "a")

        assert raised.value.reason == "running"


async def test_restart_child_of_an_unknown_id_is_not_found() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await restart_child(sup, "nope")

        assert raised.value.reason == "not_found"


async def test_delete_child_of_a_running_child_is_running() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await delete_child(sup, "a")

        assert raised.value.reason == "running"
        assert set(await pids(sup)) == {"a"}


async def test_delete_child_forgets_a_stopped_child() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me), worker("b", me)])
        await terminate_child(sup, "a")

        await delete_child(sup, "a")

        assert set(await pids(sup)) == {"b"}
        with pytest.raises(SupervisorError) as raised:
            await restart_child(sup, "a")
        assert raised.value.reason == "not_found"


async def test_delete_child_of_an_unknown_id_is_not_found() -> None:
    async with trouper.open_node():
        sup = await Supervisor.start_link([worker("a", trouper.self())])

        with pytest.raises(SupervisorError) as raised:
            await delete_child(sup, "nope")

        assert raised.value.reason == "not_found"


# ---------------------------------------------------------------------------------------------
# Significant children and auto_shutdown


@pytest.mark.parametrize("reason", CLEAN_REASONS, ids=str)
async def test_any_significant_a_significant_transient_child_exiting_cleanly_shuts_down(
    reason: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link(
            [trapper("other", me), worker("sig", me, restart="transient", significant=True)],
            auto_shutdown="any_significant",
        )
        sig = (await pids(sup))["sig"]

        trouper.cast(sig, ("stop", reason))

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert terminated_so_far() == [("other", "shutdown")]


async def test_any_significant_a_significant_transient_child_crashing_is_restarted() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link(
            [worker("sig", me, restart="transient", significant=True)],
            auto_shutdown="any_significant",
        )
        pid = await started("sig")

        await stop_and_wait(pid, "boom")

        new = await started("sig")
        assert await pids(sup) == {"sig": new}
        assert await nothing_queued(exit_from(sup))


@pytest.mark.parametrize("reason", ["normal", "boom"])
async def test_any_significant_a_significant_temporary_child_exiting_shuts_down(
    reason: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link(
            [worker("sig", me, restart="temporary", significant=True)],
            auto_shutdown="any_significant",
        )
        pid = await started("sig")

        trouper.cast(pid, ("stop", reason))

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"


async def test_all_significant_shuts_down_only_when_the_last_significant_child_exits() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link(
            [
                worker("s1", me, restart="transient", significant=True),
                worker("plain", me),
                worker("s2", me, restart="transient", significant=True),
            ],
            auto_shutdown="all_significant",
        )
        children = await pids(sup)

        await stop_and_wait(children["s1"], "normal")

        assert trouper.is_alive(sup)
        assert (await pids(sup))["s1"] is None

        trouper.cast(children["s2"], ("stop", "normal"))

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"


async def test_terminate_child_of_a_significant_child_does_not_shut_the_supervisor_down() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        sup = await Supervisor.start_link(
            [worker("sig", me, restart="transient", significant=True), worker("other", me)],
            auto_shutdown="any_significant",
        )

        await terminate_child(sup, "sig")

        assert (await pids(sup))["sig"] is None
        assert trouper.is_alive(sup)
        assert await nothing_queued(exit_from(sup))


async def test_a_significant_child_under_auto_shutdown_never_does_not_start() -> None:
    async with trouper.open_node():
        me = trouper.self()

        with pytest.raises(ChildSpecError):
            await Supervisor.start_link([worker("sig", me, restart="transient", significant=True)])


# ---------------------------------------------------------------------------------------------
# Restarts that fail


async def test_a_failed_restart_shows_restarting_and_is_retried() -> None:
    async with trouper.open_node():
        me = trouper.self()
        factory = FlakyStart(failures=2)
        sup = await Supervisor.start_link(
            [ChildSpec(id="flaky", start=factory, args=(me, "flaky"))], intensity=10
        )
        pid = await started("flaky")

        trouper.exit(pid, "boom")
        # The supervisor handles the Exit before this call; the retry it queues comes after.
        children = await which_children(sup)

        assert children[0].pid == RESTARTING
        new = await started("flaky")
        assert factory.calls == 4
        assert await pids(sup) == {"flaky": new}


async def test_a_child_that_can_never_restart_ends_the_supervisor_each_retry_counting(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        factory = FlakyStart(failures=math.inf)
        sup = await Supervisor.start_link(
            [ChildSpec(id="flaky", start=factory, args=(me, "flaky"))], intensity=3
        )
        pid = await started("flaky")
        t0 = trio.current_time()

        with capture_logs() as logs:
            trouper.exit(pid, "boom")
            died = await wait_for(exit_from(sup))

        assert died.reason == "shutdown"
        assert trio.current_time() == t0
        assert factory.calls == 1 + 3  # the first start, then three retries: the fourth exceeds
        assert len(events(logs, "start_error")) == 3
        assert len(events(logs, "reached_max_restart_intensity")) == 1


async def test_a_failed_restart_of_a_later_child_under_rest_for_one_leaves_no_child_down() -> None:
    async with trouper.open_node():
        me = trouper.self()
        factory = FlakyStart(failures=1)
        sup = await Supervisor.start_link(
            [
                worker("a", me),
                worker("b", me),
                ChildSpec(id="c", start=factory, args=(me, "c")),
            ],
            strategy="rest_for_one",
            intensity=10,
        )
        await started_tags(3)
        before = await pids(sup)

        await kill_and_wait(before["b"])
        await started("c")  # the retry, after the first restart of "c" failed

        after = await pids(sup)
        assert after["a"] is before["a"]
        assert {tag: liveness(pid) for tag, pid in after.items()} == dict.fromkeys("abc", "live")


async def test_a_failed_restart_of_a_later_child_under_one_for_all_leaves_no_child_down() -> None:
    async with trouper.open_node():
        me = trouper.self()
        factory = FlakyStart(failures=1)
        sup = await Supervisor.start_link(
            [worker("a", me), ChildSpec(id="b", start=factory, args=(me, "b")), worker("c", me)],
            strategy="one_for_all",
            intensity=10,
        )
        await started_tags(3)
        before = await pids(sup)

        await kill_and_wait(before["a"])
        await started("c")  # the retry reaches "c" only after "b" has started

        after = await pids(sup)
        assert {tag: liveness(pid) for tag, pid in after.items()} == dict.fromkeys("abc", "live")


# ---------------------------------------------------------------------------------------------
# Backoff


async def test_backoff_delays_successive_restarts_1_2_4_4(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        backoff = Backoff(initial=1, factor=2, max=4)
        await Supervisor.start_link([worker("w", me, backoff=backoff)], intensity=100)
        pid = await started("w")

        delays = []
        for _ in range(4):
            crashed_at = trio.current_time()
            trouper.exit(pid, "boom")
            pid = await started("w")
            delays.append(trio.current_time() - crashed_at)

        assert delays == [1, 2, 4, 4]


async def test_backoff_starts_again_from_initial_after_the_child_stayed_up(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        backoff = Backoff(initial=1, factor=2, max=8, reset_after=10)
        await Supervisor.start_link([worker("w", me, backoff=backoff)], intensity=100)
        pid = await started("w")
        trouper.exit(pid, "boom")
        pid = await started("w")
        trouper.exit(pid, "boom")
        pid = await started("w")

        await trio.sleep(10)
        crashed_at = trio.current_time()
        trouper.exit(pid, "boom")
        await started("w")

        assert trio.current_time() - crashed_at == 1


async def test_a_delayed_restart_counts_toward_intensity_when_it_happens(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        me = trouper.self()
        backoff = Backoff(initial=3, factor=1, max=3)
        sup = await Supervisor.start_link([worker("w", me, backoff=backoff)], intensity=1, period=5)
        pid = await started("w")
        t0 = trio.current_time()

        trouper.exit(pid, "boom")  # restarted at t0 + 3: the first restart in the window
        pid = await started("w")
        trouper.exit(pid, "boom")  # restart due at t0 + 6: the second one, over the limit

        died = await wait_for(exit_from(sup))
        assert died.reason == "shutdown"
        assert trio.current_time() == t0 + 6


async def restarting_child(me: Pid) -> tuple[Pid, ChildSpec]:
    """A supervisor whose only child "w" crashed and waits 10 s for its restart."""
    spec = worker("w", me, backoff=Backoff(initial=10))
    sup = await Supervisor.start_link([spec], intensity=100)
    await kill_and_wait(await started("w"))
    return sup, spec


async def test_a_child_waiting_out_its_backoff_shows_restarting(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup, _ = await restarting_child(trouper.self())

        assert await pids(sup) == {"w": RESTARTING}


async def test_a_restarting_child_is_not_counted_active(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup, _ = await restarting_child(trouper.self())

        assert await count_children(sup) == ChildCounts(specs=1, active=0, supervisors=0, workers=1)


async def test_restart_child_of_a_restarting_child_is_restarting(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup, _ = await restarting_child(trouper.self())

        with pytest.raises(SupervisorError) as raised:
            await restart_child(sup, "w")

        assert raised.value.reason == "restarting"


async def test_delete_child_of_a_restarting_child_is_restarting(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup, _ = await restarting_child(trouper.self())

        with pytest.raises(SupervisorError) as raised:
            await delete_child(sup, "w")

        assert raised.value.reason == "restarting"


async def test_start_child_with_the_id_of_a_restarting_child_is_already_present(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup, spec = await restarting_child(trouper.self())

        with pytest.raises(SupervisorError) as raised:
            await start_child(sup, spec)

        assert raised.value.reason == "already_present"


async def test_terminate_child_of_a_restarting_child_cancels_the_restart(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup, _ = await restarting_child(trouper.self())

        await terminate_child(sup, "w")
        await trio.sleep(20)

        assert await pids(sup) == {"w": None}
        assert await nothing_queued(is_("started"))


# ---------------------------------------------------------------------------------------------
# Reports


async def test_child_started_reports_supervisor_child_id_and_pid() -> None:
    async with trouper.open_node():
        me = trouper.self()

        with capture_logs() as logs:
            sup = await Supervisor.start_link([worker("a", me), worker("b", me)])

        children = await pids(sup)
        reports = events(logs, "child_started")
        assert [(r["supervisor"], r["child_id"], r["pid"]) for r in reports] == [
            (repr(sup), "a", repr(children["a"])),
            (repr(sup), "b", repr(children["b"])),
        ]
        assert {r["log_level"] for r in reports} == {"info"}


async def test_child_terminated_reports_supervisor_child_id_pid_and_reason() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("a", me)])
        pid = await started("a")

        with capture_logs() as logs:
            trouper.exit(pid, "boom")
            new = await started("a")

        [terminated] = events(logs, "child_terminated")
        assert terminated["log_level"] == "error"
        assert terminated["supervisor"] == repr(sup)
        assert terminated["child_id"] == "a"
        assert terminated["pid"] == repr(pid)
        assert terminated["reason"] == repr("boom")
        [restarted] = events(logs, "child_started")
        assert restarted["pid"] == repr(new)


async def test_a_transient_childs_clean_exit_is_not_reported_as_terminated() -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await Supervisor.start_link([worker("t", me, restart="transient")])
        pid = await started("t")

        with capture_logs() as logs:
            await stop_and_wait(pid, "normal")
            await which_children(sup)

        assert events(logs, "child_terminated") == []


# ---------------------------------------------------------------------------------------------
# Crash storm


async def test_a_supervisor_keeps_answering_which_children_during_a_crash_storm() -> None:
    async with trouper.open_node():
        me = trouper.self()
        spec = ChildSpec(id="crasher", start=trouper.spawn_link, args=(report_and_crash, me))

        with capture_logs():
            sup = await Supervisor.start_link([spec], intensity=1_000_000, period=5)
            seen = []
            for starts in range(1, 31):
                await started("crasher")
                [info] = await which_children(sup)
                assert info.id == "crasher"
                assert info.restarts >= starts - 1
                seen.append(info.restarts)

        assert seen == sorted(seen)
        assert trouper.is_alive(sup)
