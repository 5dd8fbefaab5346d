"""Monitors: otp-semantics.md A3 (refs, Down, noproc, monitor by name, demonitor and flush)."""

from __future__ import annotations

from typing import Any

import trouper
from trouper import Down, Pid, ProcessExit, Ref

# A bound on waits for something that should come at once: virtual seconds with
# autojump_clock, so it costs nothing, and a runtime bug fails the test instead of hanging it.
WAIT = 60


class Idle(trouper.Actor):
    """A reactive process that ignores every message."""


async def wait_forever() -> None:
    await trouper.receive(lambda m: False)


async def exit_on_go(reason: Any) -> None:
    await trouper.receive(lambda m: m == "go")
    raise ProcessExit(reason)


def down_of(ref: Ref) -> Any:
    return lambda m: isinstance(m, Down) and m.ref is ref


async def test_each_monitor_gets_a_unique_ref() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)

        refs = [trouper.monitor(pid) for _ in range(3)]

        assert len({id(ref) for ref in refs}) == 3
        assert refs[0] != refs[1] != refs[2] != refs[0]
        assert len({repr(ref) for ref in refs}) == 3


async def test_n_monitors_on_one_process_give_n_downs(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(exit_on_go, "boom")
        refs = [trouper.monitor(pid) for _ in range(3)]

        trouper.send(pid, "go")

        downs = [await trouper.receive(Down, timeout=WAIT) for _ in refs]
        assert {id(down.ref) for down in downs} == {id(ref) for ref in refs}
        assert all(down.pid is pid and down.reason == "boom" for down in downs)
        assert await trouper.receive(Down, timeout=0, after=None) is None


async def test_down_carries_the_pid_and_the_exit_reason(autojump_clock: Any) -> None:
    async def crash_on_go(error: Exception) -> None:
        await trouper.receive(lambda m: m == "go")
        raise error

    async with trouper.open_node():
        error = KeyError("missing")
        pid = trouper.spawn(crash_on_go, error)
        ref = trouper.monitor(pid)

        trouper.send(pid, "go")

        down = await trouper.receive(Down, timeout=WAIT)
        assert down.ref is ref
        assert down.pid is pid
        assert down.reason is error


async def test_monitor_is_one_way_the_target_does_not_see_the_watcher_die(
    autojump_clock: Any,
) -> None:
    async def watch_then_crash(target: Pid) -> None:
        trouper.monitor(target)
        raise ProcessExit("watcher gone")

    async with trouper.open_node():
        trouper.trap_exit(True)
        target, target_ref = trouper.spawn_monitor(wait_forever)
        _, watcher_ref = trouper.spawn_monitor(watch_then_crash, target)

        assert (await trouper.receive(down_of(watcher_ref), timeout=WAIT)).reason == "watcher gone"

        assert trouper.is_alive(target)
        assert trouper.process_info(target).monitored_by == (trouper.self(),)
        assert await trouper.receive(down_of(target_ref), timeout=0, after=None) is None


async def test_monitor_of_a_dead_pid_gives_down_noproc_at_once(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid, first = trouper.spawn_monitor(Idle)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(first), timeout=WAIT)

        ref = trouper.monitor(pid)

        assert await trouper.receive(timeout=0, after=None) == Down(ref, pid, "noproc")


async def test_monitor_fires_once_and_is_removed(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        pid = trouper.spawn(exit_on_go, "boom")
        ref = trouper.monitor(pid)
        assert trouper.process_info(me).monitors == (ref,)

        trouper.send(pid, "go")
        await trouper.receive(down_of(ref), timeout=WAIT)

        assert trouper.process_info(me).monitors == ()
        assert trouper.demonitor(ref) is False


async def test_monitor_by_name_gives_down_carrying_the_name(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(exit_on_go, "boom", name="worker")

        ref = trouper.monitor("worker")
        trouper.send(pid, "go")

        assert await trouper.receive(Down, timeout=WAIT) == Down(ref, "worker", "boom")


async def test_monitor_by_name_resolves_the_name_once_when_created(autojump_clock: Any) -> None:
    async with trouper.open_node():
        first = trouper.spawn(exit_on_go, "first", name="worker")
        ref = trouper.monitor("worker")
        trouper.unregister("worker")
        second, second_ref = trouper.spawn_monitor(exit_on_go, "second", name="worker")

        # The name's new holder dies: the monitor (on the old holder) does not fire.
        trouper.send(second, "go")
        await trouper.receive(down_of(second_ref), timeout=WAIT)
        assert await trouper.receive(down_of(ref), timeout=0, after=None) is None

        trouper.send(first, "go")
        assert await trouper.receive(down_of(ref), timeout=WAIT) == Down(ref, "worker", "first")


async def test_monitor_of_an_unknown_name_gives_down_noproc_at_once() -> None:
    async with trouper.open_node():
        ref = trouper.monitor("nobody")

        assert await trouper.receive(timeout=0, after=None) == Down(ref, "nobody", "noproc")


async def test_no_down_after_demonitor(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(exit_on_go, "boom")
        removed = trouper.monitor(pid)
        kept = trouper.monitor(pid)  # fires in the same step as `removed` would

        trouper.demonitor(removed)
        trouper.send(pid, "go")

        assert (await trouper.receive(down_of(kept), timeout=WAIT)).reason == "boom"
        assert await trouper.receive(down_of(removed), timeout=0, after=None) is None


async def test_demonitor_returns_true_when_the_monitor_was_active() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)
        ref = trouper.monitor(pid)

        assert trouper.demonitor(ref) is True
        assert trouper.process_info(pid).monitored_by == ()


async def test_demonitor_returns_false_when_the_down_was_already_delivered(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)
        ref = trouper.monitor(pid)
        trouper.exit(pid, "kill")
        await trouper.receive(down_of(ref), timeout=WAIT)

        assert trouper.demonitor(ref) is False


async def test_demonitor_without_flush_leaves_an_already_queued_down(autojump_clock: Any) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(wait_forever)
        ref = trouper.monitor(pid)
        sentinel = trouper.monitor(pid)
        trouper.exit(pid, "boom")
        await trouper.receive(down_of(sentinel), timeout=WAIT)  # both Downs are queued by now

        assert trouper.demonitor(ref) is False

        assert await trouper.receive(timeout=0, after=None) == Down(ref, pid, "boom")


async def test_demonitor_flush_removes_an_already_queued_down_from_a_task_process(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        pid = trouper.spawn(wait_forever)
        ref = trouper.monitor(pid)
        sentinel = trouper.monitor(pid)
        trouper.exit(pid, "boom")
        await trouper.receive(down_of(sentinel), timeout=WAIT)  # both Downs are queued by now
        assert trouper.process_info(trouper.self()).mailbox_len == 1

        # OTP's [flush, info]: False means a Down had to be flushed.
        assert trouper.demonitor(ref, flush=True) is False

        assert trouper.process_info(trouper.self()).mailbox_len == 0
        assert await trouper.receive(timeout=0, after=None) is None


async def test_demonitor_flush_of_an_active_monitor_returns_true() -> None:
    async with trouper.open_node():
        pid = trouper.spawn(Idle)
        ref = trouper.monitor(pid)

        assert trouper.demonitor(ref, flush=True) is True

        trouper.exit(pid, "kill")
        assert await trouper.receive(timeout=0, after=None) is None


class FlushingWatcher(trouper.Actor):
    """Reactive: monitors on request, demonitors with flush on request, reports everything."""

    def init(self, report_to: Pid) -> None:
        self.report_to = report_to
        self.ref: Ref | None = None

    def handle(self, message: Any) -> None:
        match message:
            case ("monitor", pid):
                self.ref = trouper.monitor(pid)
                trouper.send(self.report_to, "monitoring")
            case "demonitor_flush":
                assert self.ref is not None
                trouper.send(
                    self.report_to, ("demonitored", trouper.demonitor(self.ref, flush=True))
                )
            case _:
                trouper.send(self.report_to, ("handled", message))


async def test_demonitor_flush_removes_an_already_queued_down_from_a_reactive_process(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        watcher = trouper.spawn(FlushingWatcher, trouper.self())
        target = trouper.spawn(Idle)
        trouper.send(watcher, ("monitor", target))
        assert await trouper.receive(timeout=WAIT) == "monitoring"

        # Without a checkpoint in between: the request is queued for the watcher, then the
        # target dies and its Down is queued behind it. The watcher flushes that Down.
        trouper.send(watcher, "demonitor_flush")
        trouper.exit(target, "kill")
        assert trouper.process_info(watcher).mailbox_len == 2
        trouper.send(watcher, "last")

        assert await trouper.receive(timeout=WAIT) == ("demonitored", False)
        # Per-sender order: anything the watcher handled before "last" would come first.
        assert await trouper.receive(timeout=WAIT) == ("handled", "last")
        assert await trouper.receive(timeout=0, after=None) is None
