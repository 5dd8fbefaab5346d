"""DynamicSupervisor: children started on demand, identified by pid, stopped concurrently.

otp-semantics.md A9 (Elixir's DynamicSupervisor) is the specification, with A8 for what it
shares with OTP's supervisor (restart types, intensity, the shutdown protocol). Time is
virtual (``autojump_clock``) and asserted exactly; every wait has a (virtual) bound, so a
supervisor that never answers fails the test instead of hanging it.

A supervisor handles its mailbox in order, and a dying child signals its links before its
monitors. So once the test has the ``Down`` of a child it monitors, the child's ``Exit`` is
already queued for the supervisor, ahead of any call the test makes next: the answer to
that call reflects the exit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper import Down, Exit, Pid
from trouper.supervision import (
    RESTARTING,
    Backoff,
    ChildCounts,
    ChildInfo,
    ChildSpec,
    DynamicSupervisor,
    SupervisorError,
    count_children,
    delete_child,
    restart_child,
    send_start_child,
    start_child,
    start_child_result,
    terminate_child,
    which_children,
)

WAIT = 30  # seconds: the bound on every wait (virtual time under autojump_clock)
CLEAN_REASONS = ["normal", "shutdown", ("shutdown", "done")]


@pytest.fixture(autouse=True)
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Capture supervisor reports instead of rendering them: crashes are routine here, and
    rendering a traceback costs more than the rest of a test."""
    with capture_logs() as logs:
        yield logs


# ---------------------------------------------------------------------------------------------
# Children the tests use


class Worker(trouper.GenServer):
    """A reactive child: tells its start args, stops or crashes when told to."""

    def init(self, *args: Any) -> None:
        self.args = args

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        if request == "args":
            return self.args
        raise ValueError(f"unexpected call {request!r}")

    def handle_info(self, message: Any) -> Any:
        match message:
            case ("exit", reason):
                return trouper.Stop(reason)
            case "crash":
                raise RuntimeError("asked to crash")
        return None


class IgnoresRestart(trouper.GenServer):
    """Starts once; every later start (a restart) answers ``IGNORE``."""

    def init(self, starts: list[Pid]) -> Any:
        starts.append(trouper.self())
        return trouper.IGNORE if len(starts) > 1 else None

    def handle_info(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("asked to crash")
        return None


class SlowToStop(trouper.GenServer):
    """Traps exits; its ``terminate`` takes ``seconds`` of (virtual) time, then records it."""

    async def init(self, seconds: float, stopped: list[tuple[Any, float]]) -> None:
        trouper.trap_exit(True)
        self.seconds = seconds
        self.stopped = stopped

    async def terminate(self, reason: Any) -> None:
        await trio.sleep(self.seconds)
        self.stopped.append((reason, trio.current_time()))


class Crashy(trouper.Actor):
    """A reactive child that raises on ``"crash"``."""

    def handle(self, message: Any) -> None:
        if message == "crash":
            raise RuntimeError("asked to crash")


class Tally(trouper.Actor):
    """A reactive child with no state and no init: as cheap as a process gets."""


def worker(*args: Any, **fields: Any) -> ChildSpec:
    return ChildSpec(id="worker", start=Worker, args=args, **fields)


def down_of(ref: trouper.Ref) -> Callable[[Any], bool]:
    return lambda m: type(m) is Down and m.ref is ref


def exit_from(pid: Pid) -> Callable[[Any], bool]:
    return lambda m: type(m) is Exit and m.pid == pid


async def end_child(pid: Pid, message: Any) -> Any:
    """Send ``message`` to a child and wait until it has exited; returns its exit reason."""
    ref = trouper.monitor(pid)
    trouper.send(pid, message)
    down = await trouper.receive(down_of(ref), timeout=WAIT)
    return down.reason


async def only_child(sup: Pid) -> ChildInfo:
    children = await which_children(sup)
    assert len(children) == 1, children
    return children[0]


async def start_many(sup: Pid, spec: ChildSpec, n: int, lanes: int = 4) -> list[Pid]:
    """Start ``n`` children from ``lanes`` concurrent callers (plain trio tasks in the node).

    The supervisor still starts them one at a time; concurrent callers only keep its
    mailbox from running dry between two calls.
    """
    pids: list[Pid] = []

    async def lane(count: int) -> None:
        for _ in range(count):
            pid = await start_child(sup, spec)
            assert pid is not None
            pids.append(pid)

    async with trio.open_nursery() as nursery:
        for index in range(lanes):
            nursery.start_soon(lane, n // lanes + (1 if index < n % lanes else 0))
    return pids


# ---------------------------------------------------------------------------------------------
# Starting children


async def test_dynamic_supervisor_starts_with_no_children(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()

        assert await which_children(sup) == []
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)


async def test_start_child_returns_the_pid_of_a_child_linked_to_the_supervisor(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()

        pid = await start_child(sup, worker())

        assert isinstance(pid, Pid)
        assert trouper.is_alive(pid)
        assert [child.pid for child in await which_children(sup)] == [pid]
        info = trouper.process_info(pid)
        assert info is not None
        assert sup in info.links


async def test_send_start_child_answers_later_with_a_reply(autojump_clock: Any) -> None:
    # Many requests in flight at once; each answer pairs with its request by ref.
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(max_children=3)
        refs = [send_start_child(sup, worker(n)) for n in range(4)]
        answers: dict[trouper.Ref, trouper.Reply] = {}
        with trio.fail_after(WAIT):
            while len(answers) < 4:
                reply = await trouper.receive(trouper.Reply)
                answers[reply.ref] = reply
        pids = [start_child_result(answers[ref]) for ref in refs[:3]]
        for n, pid in enumerate(pids):
            assert pid is not None and await trouper.call(pid, "args") == (n,)
        with pytest.raises(SupervisorError) as caught:
            start_child_result(answers[refs[3]])
        assert caught.value.reason == "max_children"
        assert [child.pid for child in await which_children(sup)] == pids


async def test_send_start_child_to_a_missing_supervisor_answers_down(autojump_clock: Any) -> None:
    async with trouper.open_node():
        ref = send_start_child("nobody", worker())
        down = await trouper.receive(trouper.Down)
        assert down.ref is ref and down.reason == "noproc"


async def test_extra_arguments_are_prepended_to_each_childs_args(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(extra_arguments=("extra", 1))

        first = await start_child(sup, worker("a"))
        second = await start_child(sup, worker("b", "c"))
        assert first is not None and second is not None

        assert await trouper.call(first, "args") == ("extra", 1, "a")
        assert await trouper.call(second, "args") == ("extra", 1, "b", "c")


async def test_extra_arguments_are_prepended_again_when_a_child_restarts(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(extra_arguments=("extra",))
        pid = await start_child(sup, worker("a"))
        assert pid is not None

        await end_child(pid, "crash")

        restarted = (await only_child(sup)).pid
        assert isinstance(restarted, Pid) and restarted != pid
        assert await trouper.call(restarted, "args") == ("extra", "a")


async def test_start_child_beyond_max_children_fails_with_max_children(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(max_children=2)
        await start_child(sup, worker())
        await start_child(sup, worker())
        before = trouper.statistics().processes

        with pytest.raises(SupervisorError) as caught:
            await start_child(sup, worker())

        assert caught.value.reason == "max_children"
        assert trouper.statistics().processes == before  # nothing was started
        assert (await count_children(sup)).active == 2


async def test_a_child_waiting_to_be_restarted_counts_toward_max_children(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(max_children=1)
        # The backoff keeps the crashed child in "restarting" for one second.
        pid = await start_child(sup, worker(backoff=Backoff(initial=1.0)))
        assert pid is not None
        await end_child(pid, "crash")
        assert [child.pid for child in await which_children(sup)] == [RESTARTING]

        with pytest.raises(SupervisorError) as caught:
            await start_child(sup, worker())

        assert caught.value.reason == "max_children"


# ---------------------------------------------------------------------------------------------
# The API by pid


async def test_terminate_child_by_pid_stops_the_child_for_good(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker(restart="permanent"))
        assert pid is not None
        ref = trouper.monitor(pid)

        await terminate_child(sup, pid)  # returns nothing: ok

        down = await trouper.receive(down_of(ref), timeout=WAIT)
        assert down.reason == "shutdown"
        assert await which_children(sup) == []  # permanent, yet not restarted


async def test_terminate_child_with_a_pid_that_is_not_a_child_fails_with_not_found(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        child = await start_child(sup, worker())
        stranger = trouper.spawn(Tally)

        with pytest.raises(SupervisorError) as caught:
            await terminate_child(sup, stranger)

        assert caught.value.reason == "not_found"
        assert trouper.is_alive(stranger)
        assert [c.pid for c in await which_children(sup)] == [child]


async def test_which_children_ids_are_none(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        first = await start_child(sup, worker(restart="transient"))
        second = await start_child(sup, ChildSpec(id="named", start=Worker, restart="temporary"))

        children = await which_children(sup)

        assert {child.pid for child in children} == {first, second}
        assert [child.id for child in children] == [None, None]
        assert {(child.type, child.restart) for child in children} == {
            ("worker", "transient"),
            ("worker", "temporary"),
        }


async def test_count_children_counts_workers_supervisors_and_live_ones(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        await start_child(sup, worker())
        await start_child(sup, worker())
        await start_child(sup, DynamicSupervisor.child_spec("inner"))
        restarting = await start_child(sup, worker(backoff=Backoff(initial=1.0)))
        assert restarting is not None
        await end_child(restarting, "crash")

        counts = await count_children(sup)

        assert counts == ChildCounts(specs=4, active=3, supervisors=1, workers=3)


@pytest.mark.parametrize("call", [restart_child, delete_child], ids=["restart", "delete"])
async def test_restart_and_delete_child_fail_with_simple_one_for_one(
    call: Any, autojump_clock: Any
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker())

        with pytest.raises(SupervisorError) as caught:
            await call(sup, pid)

        assert caught.value.reason == "simple_one_for_one"
        assert [c.pid for c in await which_children(sup)] == [pid]


# ---------------------------------------------------------------------------------------------
# Restarts


@pytest.mark.parametrize(
    "message",
    [("exit", "normal"), ("exit", "shutdown"), "crash"],
    ids=["normal", "shutdown", "crash"],
)
async def test_a_permanent_child_is_restarted_whatever_its_exit_reason(
    message: Any, autojump_clock: Any
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker(restart="permanent"))
        assert pid is not None

        await end_child(pid, message)

        child = await only_child(sup)
        assert isinstance(child.pid, Pid) and child.pid != pid
        assert trouper.is_alive(child.pid)
        assert child.restarts == 1


async def test_a_transient_child_is_restarted_after_an_abnormal_exit(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker(restart="transient"))
        assert pid is not None

        await end_child(pid, "crash")

        child = await only_child(sup)
        assert isinstance(child.pid, Pid) and child.pid != pid
        assert trouper.is_alive(child.pid)


@pytest.mark.parametrize("reason", CLEAN_REASONS, ids=repr)
async def test_a_transient_child_is_not_restarted_after_a_clean_exit(
    reason: Any, autojump_clock: Any
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker(restart="transient"))
        assert pid is not None

        assert await end_child(pid, ("exit", reason)) == reason

        assert await which_children(sup) == []
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)


@pytest.mark.parametrize("message", [("exit", "normal"), "crash"], ids=["normal", "crash"])
async def test_a_temporary_child_is_never_restarted(message: Any, autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(sup, worker(restart="temporary"))
        assert pid is not None

        await end_child(pid, message)

        assert await which_children(sup) == []
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)


async def test_a_restart_that_answers_ignore_removes_the_child(autojump_clock: Any) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        starts: list[Pid] = []
        pid = await start_child(sup, ChildSpec(id="i", start=IgnoresRestart, args=(starts,)))
        assert pid is not None

        await end_child(pid, "crash")

        assert await which_children(sup) == []
        assert len(starts) == 2  # the restart was tried, and answered ignore
        assert await count_children(sup) == ChildCounts(specs=0, active=0, supervisors=0, workers=0)
        assert trouper.is_alive(sup)


async def test_exceeding_the_restart_intensity_makes_the_supervisor_exit_shutdown(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await DynamicSupervisor.start_link(intensity=2, period=5)
        pid = await start_child(sup, worker())
        assert pid is not None

        for _ in range(2):  # intensity 2: two restarts within the period are allowed
            await end_child(pid, "crash")
            current = (await only_child(sup)).pid
            assert isinstance(current, Pid) and current != pid
            pid = current
        await end_child(pid, "crash")  # the third one is not

        exited = await trouper.receive(exit_from(sup), timeout=WAIT)
        assert exited.reason == "shutdown"
        assert not trouper.is_alive(sup)


async def test_a_supervisor_giving_up_stops_its_other_children(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await DynamicSupervisor.start_link(intensity=0)
        bystander = await start_child(sup, worker())
        doomed = await start_child(sup, worker())
        assert bystander is not None and doomed is not None
        ref = trouper.monitor(bystander)

        await end_child(doomed, "crash")

        down = await trouper.receive(down_of(ref), timeout=WAIT)
        assert down.reason == "shutdown"
        assert (await trouper.receive(exit_from(sup), timeout=WAIT)).reason == "shutdown"


# ---------------------------------------------------------------------------------------------
# Shutdown


async def test_stopping_the_supervisor_shuts_its_children_down_concurrently(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        stopped: list[tuple[Any, float]] = []
        for index in range(3):
            spec = ChildSpec(id=index, start=SlowToStop, args=(2, stopped))
            await start_child(sup, spec)
        start = trio.current_time()

        await trouper.stop(sup, timeout=WAIT)

        # One after another would end at start + 6.
        assert trio.current_time() == start + 2
        assert stopped == [("shutdown", start + 2)] * 3


async def test_a_child_that_ignores_shutdown_is_killed_after_its_shutdown_timeout(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await DynamicSupervisor.start_link()
        never: list[tuple[Any, float]] = []
        refs = {}
        for shutdown in (1, 3):
            spec = ChildSpec(
                id=shutdown, start=SlowToStop, args=(float("inf"), never), shutdown=shutdown
            )
            pid = await start_child(sup, spec)
            assert pid is not None
            refs[trouper.monitor(pid)] = shutdown
        start = trio.current_time()

        trouper.exit(sup, "shutdown")

        killed_at = {}
        for _ in refs:
            down = await trouper.receive(lambda m: type(m) is Down and m.ref in refs, timeout=WAIT)
            assert down.reason == "killed"
            killed_at[refs[down.ref]] = trio.current_time()
        exited = await trouper.receive(exit_from(sup), timeout=WAIT)
        # Each child gets its own shutdown timeout, counted from the same moment.
        assert killed_at == {1: start + 1, 3: start + 3}
        assert exited.reason == "shutdown"
        assert trio.current_time() == start + 3
        assert never == []


async def test_terminate_child_kills_a_child_that_ignores_shutdown_after_its_timeout(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        never: list[tuple[Any, float]] = []
        spec = ChildSpec(id="stuck", start=SlowToStop, args=(float("inf"), never), shutdown=4)
        pid = await start_child(sup, spec)
        assert pid is not None
        ref = trouper.monitor(pid)
        start = trio.current_time()

        await terminate_child(sup, pid)

        assert trio.current_time() == start + 4
        down = await trouper.receive(down_of(ref), timeout=0)
        assert down.reason == "killed"


def unwinding(seconds: float, cleaned: list[float]) -> Callable[[], Any]:
    """A task-mode child body that does not trap exits: a shutdown cancels it, and its
    ``finally`` then needs ``seconds`` of async cleanup (shielded, as trio code does it)."""

    async def body() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(seconds)
            cleaned.append(trio.current_time())

    return body


async def test_terminate_child_returns_once_a_task_child_has_finished_exiting(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        cleaned: list[float] = []
        spec = ChildSpec(id="t", start=trouper.spawn_link, args=(unwinding(1, cleaned),))
        pid = await start_child(sup, spec)
        assert pid is not None
        start = trio.current_time()

        await terminate_child(sup, pid)

        assert cleaned == [start + 1]
        assert trio.current_time() == start + 1
        assert pid not in trouper.processes()


async def test_stopping_the_supervisor_waits_for_task_children_to_finish_exiting(
    autojump_clock: Any,
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        cleaned: list[float] = []
        for index in range(3):
            spec = ChildSpec(id=index, start=trouper.spawn_link, args=(unwinding(2, cleaned),))
            await start_child(sup, spec)
        start = trio.current_time()

        await trouper.stop(sup, timeout=WAIT)

        assert cleaned == [start + 2] * 3
        assert trio.current_time() == start + 2
        assert trouper.statistics().processes == 1  # only the root


async def test_a_task_child_that_stops_as_asked_produces_no_shutdown_error(
    autojump_clock: Any, captured_logs: list[MutableMapping[str, Any]]
) -> None:
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pid = await start_child(
            sup, ChildSpec(id="t", start=trouper.spawn_link, args=(trio.sleep_forever,))
        )
        assert pid is not None
        ref = trouper.monitor(pid)

        await terminate_child(sup, pid)

        assert (await trouper.receive(down_of(ref), timeout=WAIT)).reason == "shutdown"
        assert [log for log in captured_logs if log["event"] == "shutdown_error"] == []


# ---------------------------------------------------------------------------------------------
# Scale


async def test_a_crash_storm_replaces_exactly_the_crashed_children(autojump_clock: Any) -> None:
    n, crashes = 10_000, 1_000
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link(intensity=n)
        original = await start_many(sup, ChildSpec(id="crashy", start=Crashy), n)
        victims = random.Random(20240611).sample(original, crashes)
        refs = {trouper.monitor(pid) for pid in victims}

        for pid in victims:
            trouper.send(pid, "crash")
        for _ in range(crashes):
            await trouper.receive(lambda m: type(m) is Down and m.ref in refs, timeout=WAIT)
        children = await which_children(sup)
        counts = await count_children(sup)

        current = {child.pid for child in children}
        survivors = set(original) - set(victims)
        replacements = current - set(original)
        assert len(children) == n
        assert not any(trouper.is_alive(pid) for pid in victims)
        assert current.isdisjoint(victims)
        assert survivors <= current
        assert len(replacements) == crashes
        assert all(isinstance(pid, Pid) and trouper.is_alive(pid) for pid in replacements)
        restarts = {child.pid: child.restarts for child in children}
        assert {restarts[pid] for pid in survivors} == {0}
        assert {restarts[pid] for pid in replacements} == {1}
        assert counts == ChildCounts(specs=n, active=n, supervisors=0, workers=n)


async def test_stopping_a_supervisor_of_100_000_children_leaves_no_process_behind(
    autojump_clock: Any,
) -> None:
    n = 100_000
    async with trouper.open_node():
        sup = await DynamicSupervisor.start_link()
        pids = await start_many(
            sup, ChildSpec(id="tally", start=trouper.spawn_link, args=(Tally,)), n
        )
        assert trouper.statistics().processes == n + 2  # the children, the supervisor, the root

        await trouper.stop(sup, timeout=WAIT)

        stats = trouper.statistics()
        assert (stats.processes, stats.reactive, stats.task) == (1, 0, 1)  # only the root
        assert not trouper.is_alive(sup)
        assert not any(trouper.is_alive(pid) for pid in pids)
