"""TaskSupervisor: one-off functions run supervised, their result or crash awaited.

otp-semantics.md A9 (Elixir's ``Task.Supervisor``) is the specification: tasks are temporary
children of a DynamicSupervisor, and ``run`` is ``async_nolink``: the caller is not linked
to the task, so a crash reaches it as a :class:`TaskError`, never as an exit signal. The test
task is the root process and does not trap exits: if a task's crash reached it, the node
would be torn down and the test would fail. Time is virtual and asserted exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper import Down, Pid
from trouper.supervision import (
    ChildCounts,
    Task,
    TaskError,
    TaskSupervisor,
    TaskTimeoutError,
    count_children,
)

WAIT = 30  # seconds: the bound on every wait (virtual time under autojump_clock)


@pytest.fixture(autouse=True)
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Capture crash reports instead of rendering them (tasks crash on purpose here)."""
    with capture_logs() as logs:
        yield logs


def down_of(ref: trouper.Ref) -> Callable[[Any], bool]:
    return lambda m: type(m) is Down and m.ref is ref


async def exited(ref: trouper.Ref) -> Any:
    """Wait for the Down of a monitor of our own; returns the exit reason."""
    down = await trouper.receive(down_of(ref), timeout=WAIT)
    return down.reason


def add(a: int, b: int) -> int:
    return a + b


async def add_later(a: int, b: int) -> int:
    await trio.sleep(1)
    return a + b


async def sleep_then(seconds: float, value: Any) -> Any:
    await trio.sleep(seconds)
    return value


# ---------------------------------------------------------------------------------------------
# run and result


@pytest.mark.parametrize("fn", [add, add_later], ids=["sync", "async"])
async def test_run_returns_a_task_whose_result_is_the_return_value(
    fn: Callable[..., Any], autojump_clock: Any
) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()

        task = await TaskSupervisor.run(sup, fn, 40, 2)

        assert isinstance(task, Task)
        assert isinstance(task.pid, Pid)
        assert await task.result() == 42


async def test_the_task_runs_as_a_child_of_the_supervisor_not_linked_to_the_caller(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()

        task = await TaskSupervisor.run(sup, sleep_then, 5, "done")

        info = trouper.process_info(task.pid)
        assert info is not None
        assert info.links == (sup,)
        assert (await count_children(sup)).active == 1
        assert await task.result(timeout=WAIT) == "done"


async def test_a_crashing_task_raises_task_error_with_the_exception_as_reason(
    autojump_clock: Any,
) -> None:
    error = ValueError("bad input")

    def fail() -> None:
        raise error

    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, fail)

        with pytest.raises(TaskError) as caught:
            await task.result()

        assert caught.value.reason is error
        assert not isinstance(caught.value, TaskTimeoutError)


async def test_a_crashing_task_does_not_kill_the_caller(autojump_clock: Any) -> None:
    async def fail() -> None:
        await trio.sleep(1)
        raise RuntimeError("task crashed")

    async with trouper.open_node():
        me = trouper.self()
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, fail)
        watch = trouper.monitor(task.pid)

        with pytest.raises(TaskError):
            await task.result()
        reason = await exited(watch)  # the crash has fully happened by now

        assert isinstance(reason, RuntimeError)
        assert trouper.is_alive(me)
        assert trouper.is_alive(sup)
        info = trouper.process_info(me)
        assert info is not None and not info.trap_exit
        # Still a working process: it can start and await another task.
        assert await (await TaskSupervisor.run(sup, add, 1, 2)).result() == 3


async def test_a_killed_task_raises_task_error_with_reason_killed(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, trio.sleep_forever)

        trouper.exit(task.pid, "kill")

        with pytest.raises(TaskError) as caught:
            await task.result(timeout=WAIT)
        assert caught.value.reason == "killed"
        assert not isinstance(caught.value, TaskTimeoutError)


async def test_result_times_out_at_exactly_the_timeout(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, sleep_then, 10, "late")
        start = trio.current_time()

        with pytest.raises(TaskTimeoutError):
            await task.result(timeout=3)

        assert trio.current_time() == start + 3


async def test_a_task_keeps_running_after_result_times_out(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, sleep_then, 10, "late")
        start = trio.current_time()
        with pytest.raises(TaskTimeoutError):
            await task.result(timeout=3)

        assert trouper.is_alive(task.pid)
        assert await task.result(timeout=None) == "late"
        assert trio.current_time() == start + 10


async def test_result_waits_five_seconds_by_default(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, trio.sleep_forever)
        start = trio.current_time()

        with pytest.raises(TaskTimeoutError):
            await task.result()

        assert trio.current_time() == start + 5


async def test_task_shutdown_stops_the_task(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, trio.sleep_forever)
        watch = trouper.monitor(task.pid)

        await task.shutdown(sup)

        assert not trouper.is_alive(task.pid)
        assert await exited(watch) == "shutdown"
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)
        assert await trouper.receive(timeout=0, after=None) is None  # no Down of run's monitor


async def test_task_shutdown_returns_once_the_task_has_finished_its_cleanup(
    autojump_clock: Any,
) -> None:
    cleaned: list[float] = []

    async def serve() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):  # async cleanup, well within the 5 s shutdown
                await trio.sleep(1)
            cleaned.append(trio.current_time())

    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, serve)
        start = trio.current_time()

        await task.shutdown(sup)

        assert cleaned == [start + 1]
        assert trio.current_time() == start + 1
        assert task.pid not in trouper.processes()


# ---------------------------------------------------------------------------------------------
# The caller's mailbox


async def test_result_leaves_no_down_in_the_callers_mailbox(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, sleep_then, 1, "value")
        watch = trouper.monitor(task.pid)

        assert await task.result() == "value"
        await exited(watch)  # whatever the task's exit sends has arrived by now

        assert await trouper.receive(timeout=0, after=None) is None


async def test_result_of_a_task_that_already_exited_leaves_no_down_in_the_mailbox(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, sleep_then, 1, "value")
        await exited(trouper.monitor(task.pid))  # the result and the Down are both queued now

        assert await task.result(timeout=0) == "value"

        assert await trouper.receive(timeout=0, after=None) is None


async def test_a_failed_result_leaves_no_down_in_the_callers_mailbox(autojump_clock: Any) -> None:
    async def fail() -> None:
        await trio.sleep(1)
        raise RuntimeError("task crashed")

    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        task = await TaskSupervisor.run(sup, fail)
        watch = trouper.monitor(task.pid)

        with pytest.raises(TaskError):
            await task.result()
        await exited(watch)

        assert await trouper.receive(timeout=0, after=None) is None


# ---------------------------------------------------------------------------------------------
# Fire and forget


async def test_start_child_runs_the_function_without_linking_or_monitoring_the_caller(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        me = trouper.self()
        sup = await TaskSupervisor.start_link()

        def report(to: Pid, token: str) -> None:
            trouper.send(to, ("ran", token, trouper.self()))

        pid = await TaskSupervisor.start_child(sup, report, me, "t1")

        assert isinstance(pid, Pid)
        message = await trouper.receive(timeout=WAIT)
        assert message == ("ran", "t1", pid)
        info = trouper.process_info(me)
        assert info is not None
        assert pid not in info.links
        assert info.monitors == ()


async def test_a_crashing_fire_and_forget_task_is_not_restarted(autojump_clock: Any) -> None:
    async def fail() -> None:
        await trio.sleep(1)
        raise RuntimeError("task crashed")

    async with trouper.open_node():
        sup = await TaskSupervisor.start_link()
        pid = await TaskSupervisor.start_child(sup, fail)

        reason = await exited(trouper.monitor(pid))

        assert isinstance(reason, RuntimeError)
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)
        assert trouper.is_alive(sup)
