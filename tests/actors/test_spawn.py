"""Spawning and the process API: otp-semantics.md A6, plus introspection and names."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper import Down, Pid, ProcessExit

# A bound on waits for something that should come at once: virtual seconds with
# autojump_clock, so it costs nothing, and a runtime bug fails the test instead of hanging it.
WAIT = 60


class Idle(trouper.Actor):
    """A reactive process that ignores every message."""


class Echo(trouper.Actor):
    """Reactive: answers ``(sender, x)`` with ``(self(), x)``; crashes on ``(sender, "crash")``."""

    def handle(self, message: Any) -> None:
        sender, payload = message
        if payload == "crash":
            raise ValueError(f"{trouper.self()!r} was told to crash")
        trouper.send(sender, (trouper.self(), payload))


class CrashInInit(trouper.Actor):
    def init(self) -> None:
        raise ValueError("init failed")


class InfoReporter(trouper.Actor):
    """Reactive: reports its own process_info from inside its callback."""

    def handle(self, message: Any) -> None:
        trouper.send(message, trouper.process_info(trouper.self()))


async def wait_forever() -> None:
    await trouper.receive(lambda m: False)


def down_of(ref: trouper.Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


# ---------------------------------------------------------------------------------------------
# spawn, spawn_link, spawn_monitor


async def test_spawn_returns_a_pid_at_once_and_the_process_runs(autojump_clock: Any) -> None:
    async def reply_to(pid: Pid) -> None:
        trouper.send(pid, ("hello from", trouper.self()))

    async with trouper.open_node():
        pid = trouper.spawn(reply_to, trouper.self())

        assert isinstance(pid, Pid)
        assert await trouper.receive(timeout=WAIT) == ("hello from", pid)


async def test_spawn_of_an_actor_runs_init_with_the_arguments(autojump_clock: Any) -> None:
    class Greeter(trouper.Actor):
        def init(self, to: Pid, greeting: str) -> None:
            trouper.send(to, (greeting, trouper.self()))

    async with trouper.open_node():
        pid = trouper.spawn(Greeter, trouper.self(), "hi")

        assert await trouper.receive(timeout=WAIT) == ("hi", pid)


async def test_spawn_monitor_returns_pid_and_ref_and_the_down_uses_that_ref(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle)
        assert isinstance(ref, trouper.Ref)

        trouper.exit(pid, "boom")

        assert await trouper.receive(timeout=WAIT) == Down(ref, pid, "boom")


@pytest.mark.parametrize("target", [CrashInInit, "task"], ids=["reactive-init", "task"])
async def test_spawn_monitor_is_atomic_a_child_that_crashes_at_once_still_gives_a_down(
    autojump_clock: Any,
    target: Any,
) -> None:
    async def crash_at_once() -> None:
        raise ValueError("init failed")

    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(crash_at_once if target == "task" else target)

        down = await trouper.receive(timeout=WAIT)
        assert down.ref is ref
        assert down.pid is pid
        assert isinstance(down.reason, ValueError)


async def test_spawn_link_links_the_child_to_the_caller() -> None:
    async with trouper.open_node():
        me = trouper.self()

        pid = trouper.spawn_link(wait_forever)

        assert trouper.process_info(me).links == (pid,)
        assert trouper.process_info(pid).links == (me,)
        assert trouper.process_info(pid).parent is me


async def test_spawn_with_trap_exit_starts_the_process_trapping() -> None:
    async with trouper.open_node():
        trapping = trouper.spawn(wait_forever, trap_exit=True)
        plain = trouper.spawn(wait_forever)

        assert trouper.process_info(trapping).trap_exit is True
        assert trouper.process_info(plain).trap_exit is False


async def test_trap_exit_returns_the_previous_setting() -> None:
    async with trouper.open_node():
        assert trouper.trap_exit(True) is False
        assert trouper.trap_exit(False) is True
        assert trouper.process_info(trouper.self()).trap_exit is False


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda: None, id="lambda"),
        pytest.param(print, id="builtin"),
        pytest.param(Idle(), id="actor-instance"),
        pytest.param(object, id="plain-class"),
    ],
)
async def test_spawning_something_that_is_not_async_or_a_behaviour_raises_type_error(
    target: Any,
) -> None:
    async with trouper.open_node():
        before = trouper.processes()

        with pytest.raises(TypeError):
            trouper.spawn(target)

        assert trouper.processes() == before


async def test_spawning_a_plain_function_raises_type_error() -> None:
    def not_async() -> None:
        raise AssertionError("must never run")

    async with trouper.open_node():
        with pytest.raises(TypeError):
            trouper.spawn(not_async)


# ---------------------------------------------------------------------------------------------
# pids, is_alive, processes, process_info, statistics


async def test_pids_are_unique_and_print_like_erlang_pids() -> None:
    async with trouper.open_node():
        pids = [trouper.self()] + [trouper.spawn(Idle) for _ in range(5)]

        assert len({pid.number for pid in pids}) == len(pids)
        for pid in pids:
            assert re.fullmatch(r"<0\.\d+\.0>", repr(pid))
            assert repr(pid) == f"<0.{pid.number}.0>"


async def test_pids_are_never_reused_after_a_process_exits(autojump_clock: Any) -> None:
    async with trouper.open_node():
        seen = set()
        for _ in range(50):
            pid, ref = trouper.spawn_monitor(Idle)
            trouper.exit(pid, "kill")
            await trouper.receive(down_of(ref), timeout=WAIT)
            seen.add(pid.number)

        assert len(seen) == 50


async def test_is_alive_is_true_while_running_and_false_after_exit(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(wait_forever)
        assert trouper.is_alive(pid)
        assert trouper.is_alive(trouper.self())

        trouper.exit(pid, "kill")
        # A task process dies at its next checkpoint, but it counts as exited at once.
        assert not trouper.is_alive(pid)
        await trouper.receive(down_of(ref), timeout=WAIT)
        assert not trouper.is_alive(pid)


async def test_processes_lists_live_processes_oldest_first(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        a = trouper.spawn(Idle)
        b, ref = trouper.spawn_monitor(wait_forever)
        c = trouper.spawn(Idle)
        assert trouper.processes() == [me, a, b, c]

        trouper.exit(b, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)

        assert trouper.processes() == [me, a, c]


async def test_process_info_of_an_idle_reactive_process() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)

        info = trouper.process_info(pid)

        assert info.pid is pid
        assert info.mode == "reactive"
        assert info.status == "waiting"
        assert info.behaviour == "Idle"
        assert info.mailbox_len == 0
        assert info.messages_handled == 0
        assert info.name is None
        assert info.links == ()
        assert info.monitors == ()
        assert info.monitored_by == ()
        assert info.trap_exit is False
        assert info.parent is trouper.self()


async def test_process_info_of_a_reactive_process_with_queued_messages_says_runnable() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)

        trouper.send(pid, 1)
        trouper.send(pid, 2)

        info = trouper.process_info(pid)
        assert info.status == "runnable"
        assert info.mailbox_len == 2


async def test_process_info_counts_handled_messages(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        pid = trouper.spawn(Echo)
        for n in range(3):
            trouper.send(pid, (me, n))

        for _ in range(3):
            await trouper.receive(timeout=WAIT)

        info = trouper.process_info(pid)
        assert info.messages_handled == 3
        assert info.mailbox_len == 0
        assert info.status == "waiting"


async def test_process_info_of_a_reactive_process_inside_its_callback_says_running(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(InfoReporter)

        trouper.send(pid, trouper.self())

        info = await trouper.receive(timeout=WAIT)
        assert info.pid is pid
        assert info.status == "running"
        assert info.messages_handled == 1


async def test_process_info_of_a_task_process_blocked_in_receive() -> None:
    async def receive_one_then_wait() -> None:
        await trouper.receive(lambda m: m == "first")
        await wait_forever()

    async with trouper.open_node():
        me = trouper.self()
        pid = trouper.spawn(receive_one_then_wait, name="blocked")
        ref = trouper.monitor(pid)
        trouper.link(pid)
        trouper.send(pid, "first")
        trouper.send(pid, "unmatched")
        await trio.testing.wait_all_tasks_blocked()

        info = trouper.process_info(pid)

        assert info.mode == "task"
        assert info.status == "waiting"
        assert info.behaviour is None
        assert info.name == "blocked"
        assert info.mailbox_len == 1
        assert info.messages_handled == 1
        assert info.links == (me,)
        assert info.monitored_by == (me,)
        assert trouper.process_info(me).monitors == (ref,)


async def test_process_info_of_the_calling_task_process_says_running() -> None:
    async with trouper.open_node():
        info = trouper.process_info(trouper.self())

        assert info.status == "running"
        assert info.mode == "task"


async def test_process_info_of_a_dead_process_is_none(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)

        assert trouper.process_info(pid) is None


async def test_statistics_counts_processes_queued_messages_names_and_timers() -> None:
    async with trouper.open_node():
        reactive = trouper.spawn(Idle, name="idle")
        trouper.spawn(wait_forever)
        trouper.send(reactive, "a")
        trouper.send(reactive, "b")
        trouper.send_after(10, reactive, "later")

        stats = trouper.statistics()

        assert stats == trouper.NodeStatistics(
            processes=3,  # the root, the reactive one, the task one
            reactive=1,
            task=2,
            runnable=2,
            registered_names=1,
            timers=1,
        )


# ---------------------------------------------------------------------------------------------
# crashes and kills


async def test_a_crashing_reactive_callback_kills_only_its_own_process(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        echoes = [trouper.spawn(Echo) for _ in range(3)]
        victim = echoes[1]
        ref = trouper.monitor(victim)

        # All queued before any runs: the others' messages wait behind the crash.
        trouper.send(victim, (me, "crash"))
        trouper.send(victim, (me, "after the crash"))  # the victim's own: dropped
        for pid in echoes:
            trouper.send(pid, (me, "ping"))
        down = await trouper.receive(down_of(ref), timeout=WAIT)

        assert isinstance(down.reason, ValueError)
        assert str(down.reason) == f"{victim!r} was told to crash"
        answers = {await trouper.receive(timeout=WAIT) for _ in range(2)}
        assert answers == {(echoes[0], "ping"), (echoes[2], "ping")}
        for pid in (echoes[0], echoes[2]):  # and they keep working afterwards
            trouper.send(pid, (me, "again"))
            assert await trouper.receive(timeout=WAIT) == (pid, "again")
        assert await trouper.receive(timeout=0, after=None) is None


async def test_a_crash_reason_is_the_exception_object_that_was_raised(autojump_clock: Any) -> None:
    error = LookupError("exactly this one")

    class Raiser(trouper.Actor):
        def handle(self, message: Any) -> None:
            raise error

    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Raiser)

        trouper.send(pid, "go")

        assert (await trouper.receive(down_of(ref), timeout=WAIT)).reason is error


@pytest.mark.parametrize("mode", ["reactive", "task"])
async def test_a_crash_logs_a_crash_report(autojump_clock: Any, mode: str) -> None:
    class Crasher(trouper.Actor):
        def handle(self, message: Any) -> None:
            raise ValueError("kaput")

    async def crasher() -> None:
        await trouper.receive()
        raise ValueError("kaput")

    async with trouper.open_node():
        with capture_logs() as logs:
            pid, ref = trouper.spawn_monitor(Crasher if mode == "reactive" else crasher)
            trouper.send(pid, "go")
            await trouper.receive(down_of(ref), timeout=WAIT)

    reports = [entry for entry in logs if entry["event"] == "crash_report"]
    assert len(reports) == 1
    assert reports[0]["log_level"] == "error"
    assert reports[0]["pid"] == repr(pid)
    assert reports[0]["reason"] == repr(ValueError("kaput"))
    assert isinstance(reports[0]["exc_info"], ValueError)


@pytest.mark.parametrize("mode", ["reactive", "task"])
@pytest.mark.parametrize(
    "reason", ["normal", "shutdown", ("shutdown", "detail")], ids=["normal", "shutdown", "tuple"]
)
async def test_expected_exit_reasons_log_no_crash_report(
    autojump_clock: Any, mode: str, reason: Any
) -> None:
    class Quitter(trouper.Actor):
        def handle(self, message: Any) -> None:
            raise ProcessExit(reason)

    async def quitter() -> None:
        await trouper.receive()
        raise ProcessExit(reason)

    async with trouper.open_node():
        with capture_logs() as logs:
            pid, ref = trouper.spawn_monitor(Quitter if mode == "reactive" else quitter)
            trouper.send(pid, "go")
            assert (await trouper.receive(down_of(ref), timeout=WAIT)).reason == reason

    assert [entry for entry in logs if entry["event"] == "crash_report"] == []


async def test_a_task_process_blocked_in_receive_is_killed_by_exit_kill(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(wait_forever, trap_exit=True)

        trouper.exit(pid, "kill")

        assert await trouper.receive(down_of(ref), timeout=WAIT) == Down(ref, pid, "killed")


class KillOnInit(trouper.Actor):
    """Kills ``victim`` from its ``init``.

    A reactive init runs inside ``spawn``, on the spawner's stack, so spawning this from the
    victim's own non-awaiting loop delivers a kill signal in the middle of that loop: the
    closest single-threaded analogue of a signal arriving while the victim computes.
    """

    def init(self, victim: Pid) -> None:
        trouper.exit(victim, "kill")


async def test_a_task_process_that_never_awaits_dies_exactly_at_its_next_checkpoint(
    autojump_clock: Any,
) -> None:
    # The documented Python difference (otp-semantics A12): trio cannot interrupt code that
    # never awaits, so the kill takes effect at the victim's next checkpoint.
    async def busy_victim(report_to: Pid) -> None:
        me = trouper.self()
        for step in range(6):
            if step == 2:
                trouper.spawn(KillOnInit, me)  # killed here...
            trouper.send(report_to, (step, trouper.is_alive(me)))  # ...but still running
        await trio.sleep(60)  # ...until this checkpoint
        trouper.send(report_to, "after the checkpoint")

    async with trouper.open_node():
        start = trio.current_time()
        pid, ref = trouper.spawn_monitor(busy_victim, trouper.self())

        messages = [await trouper.receive(timeout=WAIT) for _ in range(7)]

        assert messages == [
            (0, True),
            (1, True),
            (2, False),
            (3, False),
            (4, False),
            (5, False),
            Down(ref, pid, "killed"),
        ]
        # It died at the checkpoint itself: the 60 s sleep never ran.
        assert trio.current_time() == start
        assert await trouper.receive(timeout=0, after=None) is None


async def test_a_trapping_task_process_waiting_on_something_else_than_receive_is_killed(
    autojump_clock: Any,
) -> None:
    async def wait_on_an_event(report_to: Pid) -> None:
        trouper.send(report_to, "waiting")
        await trio.Event().wait()  # stands for I/O: any trio checkpoint, not a receive

    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(wait_on_an_event, trouper.self(), trap_exit=True)
        assert await trouper.receive(lambda m: m == "waiting", timeout=WAIT) == "waiting"

        trouper.exit(pid, "kill")

        assert await trouper.receive(down_of(ref), timeout=WAIT) == Down(ref, pid, "killed")


# ---------------------------------------------------------------------------------------------
# registered names


async def test_register_makes_a_name_resolve_to_the_pid() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)

        trouper.register("worker", pid)

        assert trouper.whereis("worker") is pid
        assert trouper.registered() == ["worker"]
        assert trouper.process_info(pid).name == "worker"


async def test_spawn_with_a_name_registers_the_process() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle, name="worker")

        assert trouper.whereis("worker") is pid


async def test_whereis_of_an_unknown_name_is_none() -> None:
    async with trouper.open_node():
        assert trouper.whereis("nobody") is None


async def test_register_a_taken_name_raises_already_registered() -> None:
    async with trouper.open_node():
        holder = trouper.spawn(Idle, name="worker")
        other = trouper.spawn(Idle)

        with pytest.raises(trouper.AlreadyRegisteredError) as info:
            trouper.register("worker", other)

        assert info.value.pid is holder
        assert trouper.whereis("worker") is holder
        assert trouper.process_info(other).name is None


async def test_spawn_with_a_taken_name_raises_and_starts_nothing() -> None:
    async with trouper.open_node():
        trouper.spawn(Idle, name="worker")
        before = trouper.processes()

        with pytest.raises(trouper.AlreadyRegisteredError):
            trouper.spawn(Idle, name="worker")

        assert trouper.processes() == before


async def test_register_a_dead_pid_raises_noproc(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)

        with pytest.raises(trouper.NoProcError):
            trouper.register("worker", pid)

        assert trouper.whereis("worker") is None


async def test_register_a_second_name_for_a_process_raises() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle, name="first")

        with pytest.raises(ValueError):
            trouper.register("second", pid)

        assert trouper.registered() == ["first"]


async def test_unregister_releases_the_name() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle, name="worker")

        trouper.unregister("worker")

        assert trouper.whereis("worker") is None
        assert trouper.registered() == []
        assert trouper.process_info(pid).name is None
        trouper.register("worker", trouper.self())  # free for anyone again
        assert trouper.whereis("worker") is trouper.self()


async def test_unregister_an_unknown_name_raises() -> None:
    async with trouper.open_node():
        with pytest.raises(trouper.NameNotRegisteredError):
            trouper.unregister("nobody")


@pytest.mark.parametrize("mode", ["reactive", "task"])
async def test_a_name_is_released_when_its_process_exits(autojump_clock: Any, mode: str) -> None:
    async with trouper.open_node():
        pid, ref = trouper.spawn_monitor(Idle if mode == "reactive" else wait_forever)
        trouper.register("worker", pid)

        trouper.exit(pid, "boom")
        await trouper.receive(down_of(ref), timeout=WAIT)

        assert trouper.whereis("worker") is None
        assert "worker" not in trouper.registered()


# ---------------------------------------------------------------------------------------------
# the node


async def test_open_node_raises_process_exit_when_the_root_is_killed_by_a_linked_crash(
    autojump_clock: Any,
) -> None:
    error = ValueError("child crashed")

    async def crash_at_once() -> None:
        raise error

    with pytest.raises(ProcessExit) as info:
        async with trouper.open_node():
            trouper.spawn_link(crash_at_once)
            await trouper.receive(timeout=WAIT)
            pytest.fail("the root process should have been killed")

    assert info.value.reason is error


async def test_open_node_raises_process_exit_when_the_root_is_sent_an_exit_signal(
    autojump_clock: Any,
) -> None:
    async def kill(pid: Pid) -> None:
        trouper.exit(pid, "kill")

    with pytest.raises(ProcessExit) as info:
        async with trouper.open_node():
            trouper.spawn(kill, trouper.self())
            await trouper.receive(timeout=WAIT)

    assert info.value.reason == "killed"


@pytest.mark.parametrize(
    "reason",
    ["boom", ("shutdown", "maintenance"), 0, None],
    ids=["boom", "shutdown-tuple", "zero", "none"],
)
async def test_open_node_raises_process_exit_whatever_the_roots_exit_reason(
    autojump_clock: Any, reason: Any
) -> None:
    # An exit reason is any value (otp-semantics A1); a falsy one must not be mistaken for
    # "the root was not killed", or the block ends early without anything being raised.
    async def kill(pid: Pid) -> None:
        trouper.exit(pid, reason)

    with pytest.raises(ProcessExit) as info:
        async with trouper.open_node():
            trouper.spawn(kill, trouper.self())
            await trouper.receive(timeout=WAIT)

    assert info.value.reason is reason


async def test_a_trapping_root_survives_a_linked_crash(autojump_clock: Any) -> None:
    async def crash_at_once() -> None:
        raise ValueError("child crashed")

    async with trouper.open_node():
        trouper.trap_exit(True)
        pid = trouper.spawn_link(crash_at_once)

        message = await trouper.receive(timeout=WAIT)

        assert message.pid is pid
        assert isinstance(message.reason, ValueError)


async def test_leaving_open_node_stops_every_process_and_a_new_node_starts_fresh() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(wait_forever)
        trouper.spawn(Idle, name="worker")

    assert not trouper.is_alive(pid)
    with pytest.raises(trouper.NoNodeError):
        trouper.spawn(Idle)

    async with trouper.open_node():
        assert trouper.processes() == [trouper.self()]
        assert trouper.registered() == []
