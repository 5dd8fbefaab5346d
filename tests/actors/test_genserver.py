"""GenServer: start, call, cast, info, stop, crashes and exits from the parent.

otp-semantics.md A6 (synchronous start) and A7 (gen_server) are the specification; A1 gives
the exit reasons. Behaviour that must not depend on the execution mode is checked on both:
the ``variant`` fixture hands each test the reactive server (plain ``def`` callbacks) and the
same server with ``async def`` callbacks (a task process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

import trouper
from trouper import NOREPLY, Down, Exit, GenServer, Stop

CALLBACKS = ("init", "handle_call", "handle_cast", "handle_info", "terminate")
CLEAN_REASONS = ["normal", "shutdown", ("shutdown", "maintenance")]
# Virtual seconds a test waits for something that should come. Every test runs on
# autojump_clock, so a missing message or a stuck stop fails the test at once instead of
# hanging it.
WAIT = 60.0


def reactive(server: type[GenServer]) -> type[GenServer]:
    """The server as written: plain ``def`` callbacks make a reactive process."""
    return server


def task_mode(server: type[GenServer]) -> type[GenServer]:
    """The same server with every callback ``async def``, so it runs as a task process.

    Each callback awaits a checkpoint before doing its work: a task callback really yields to
    other tasks, and the runtime must give the same results anyway.
    """

    def awaiting(callback: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(self: GenServer, *args: Any) -> Any:
            await trio.lowlevel.checkpoint()
            return callback(self, *args)

        return wrapper

    namespace = {name: awaiting(getattr(server, name)) for name in CALLBACKS}
    return type(f"Task{server.__name__}", (server,), namespace)


@pytest.fixture(autouse=True)
def _quiet_crash_reports() -> Any:
    """Many tests crash servers on purpose: keep their reports off the console.

    Tests that look at the logs open their own ``capture_logs()`` inside this one.
    """
    with capture_logs():
        yield


@pytest.fixture(params=[reactive, task_mode], ids=["reactive", "task"])
def variant(request: pytest.FixtureRequest) -> Callable[[type[GenServer]], type[GenServer]]:
    return request.param


# ---------------------------------------------------------------------------------------------
# Servers and processes the tests use


class Recorder(GenServer):
    """Does what each request says and appends what its callbacks saw to ``events``.

    ``outcome`` is what ``init`` gives back: None, ``IGNORE``, a ``Stop``, or an exception
    to raise.
    """

    def init(self, events: list[Any], outcome: Any = None) -> Any:
        self.events = events
        events.append(("init", trouper.self()))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        match request:
            case "ping":
                return "pong"
            case "caller":
                return ("caller", from_.pid)
            case ("echo", value):
                return value
            case "never_reply":
                return NOREPLY
            case ("stop", reason, answer):
                return Stop(reason, reply=answer)
            case ("raise", error):
                raise error
        raise AssertionError(f"unexpected call {request!r}")

    def handle_cast(self, request: Any) -> Any:
        return self._one_way("cast", request)

    def handle_info(self, message: Any) -> Any:
        return self._one_way("info", message)

    def terminate(self, reason: Any) -> None:
        self.events.append(("terminate", reason))

    def _one_way(self, kind: str, message: Any) -> Any:
        match message:
            case ("raise", error):
                raise error
            case ("stop", reason):
                return Stop(reason)
            case ("exit", reason):
                raise trouper.ProcessExit(reason)
        self.events.append((kind, message))
        return None


class TrapsExits(Recorder):
    """A Recorder that traps exits from its ``init`` on."""

    def init(self, events: list[Any], outcome: Any = None) -> Any:
        trouper.trap_exit(True)
        return super().init(events, outcome)


class SlowToTerminate(Recorder):
    """A Recorder whose ``terminate`` takes a virtual second: an early reply would overtake it."""

    async def terminate(self, reason: Any) -> None:
        await trio.sleep(1)
        super().terminate(reason)


class BrokenTerminate(Recorder):
    """A Recorder whose ``terminate`` raises."""

    def terminate(self, reason: Any) -> None:
        raise RuntimeError("cleanup failed")


class KeepsArgs(GenServer):
    """Answers every call with the arguments its ``init`` got."""

    def init(self, *args: Any) -> None:
        self.args = args

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return self.args


class Quiet(GenServer):
    """Answers calls and leaves everything else to GenServer's defaults."""

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return "pong"


class Forwarder(GenServer):
    """Tells ``report_to`` about every message ``handle_info`` gets, and about ``terminate``."""

    def init(self, report_to: trouper.Pid) -> None:
        self.report_to = report_to

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return "pong"

    def handle_info(self, message: Any) -> None:
        trouper.send(self.report_to, ("handle_info", message))

    def terminate(self, reason: Any) -> None:
        trouper.send(self.report_to, ("terminate", reason))


class TimerForwarder(Forwarder):
    """A Forwarder that sets a timer to send itself "tick" after ``delay`` seconds."""

    def init(self, report_to: trouper.Pid, delay: float) -> None:
        super().init(report_to)
        trouper.send_after(delay, trouper.self(), "tick")


class LinkedForwarder(Forwarder):
    """A Forwarder that traps exits and links to ``peer`` (which is not its parent)."""

    def init(self, report_to: trouper.Pid, peer: trouper.Pid) -> None:
        super().init(report_to)
        trouper.trap_exit(True)
        trouper.link(peer)


class MonitoringForwarder(Forwarder):
    """A Forwarder that monitors ``peer``."""

    def init(self, report_to: trouper.Pid, peer: trouper.Pid) -> None:
        super().init(report_to)
        trouper.monitor(peer)


class AnswersLate(GenServer):
    """Defers each call, answers it ``delay`` seconds later, then tells ``witness`` it did."""

    def init(self, delay: float, witness: trouper.Pid) -> None:
        self.delay = delay
        self.witness = witness

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        trouper.send_after(self.delay, trouper.self(), ("answer", from_, request))
        return NOREPLY

    def handle_info(self, message: Any) -> None:
        _, from_, request = message
        trouper.reply(from_, request)
        trouper.send(self.witness, ("answered", request))


class RepliesThroughHelper(GenServer):
    """Defers each call and has a new helper process reply to it."""

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        trouper.spawn(reply_with_own_pid, from_, request)
        return NOREPLY


class TellsOnCall(GenServer):
    """Never replies; sends its pid to ``watcher`` each time it is called."""

    def init(self, watcher: trouper.Pid) -> None:
        self.watcher = watcher

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        trouper.send(self.watcher, trouper.self())
        return NOREPLY


class CallsItself(GenServer):
    """A task-mode server that calls its own pid and answers with how that call failed."""

    async def handle_call(self, request: Any, from_: trouper.From) -> Any:
        try:
            return await trouper.call(trouper.self(), "again")
        except trouper.CallError as error:
            return error.reason


class CallsFromReactiveCallback(GenServer):
    """A reactive server that tries to run ``call`` from its callback; answers with the error."""

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        try:
            pending = trouper.call(request, "ping")  # refused at once: a def cannot await
        except trouper.NotInProcessError as error:
            return error
        pending.close()
        return None


class Asks(GenServer):
    """Sends ``request`` to ``server`` with send_request from init; reports what comes back."""

    def init(self, server: trouper.Pid | str, request: Any, report_to: trouper.Pid) -> None:
        self.report_to = report_to
        self.pending = trouper.send_request(server, request)

    def handle_info(self, message: Any) -> None:
        match message:
            case trouper.Reply(ref, value) if ref is self.pending:
                trouper.send(self.report_to, ("answer", value))
            case Down(ref, _, reason) if ref is self.pending:
                trouper.send(self.report_to, ("failed", reason))
            case _:
                trouper.send(self.report_to, ("other", message))


class NeverFinishesInit(GenServer):
    """An async init that records its pid and then waits forever."""

    async def init(self, pids: list[trouper.Pid]) -> None:
        pids.append(trouper.self())
        await trio.sleep_forever()


async def reply_with_own_pid(from_: trouper.From, value: Any) -> None:
    trouper.reply(from_, (value, trouper.self()))


async def kill_what_it_receives() -> None:
    trouper.exit(await trouper.receive(), "kill")


async def exit_with_what_it_receives() -> None:
    raise trouper.ProcessExit(await trouper.receive())


async def start_link_then_exit(
    server: type[GenServer], events: list[Any], report_to: trouper.Pid
) -> None:
    """A parent: start_links ``server``, reports its pid, then exits with the reason it is sent."""
    pid = await server.start_link(events)
    trouper.send(report_to, ("started", pid))
    raise trouper.ProcessExit(await trouper.receive())


async def next_message(match: Any = None) -> Any:
    """The next message matching ``match``; raises ReceiveTimeoutError if none comes."""
    return await trouper.receive(match, timeout=WAIT)


def crash_reports(logs: list[dict[str, Any]], pid: trouper.Pid) -> list[dict[str, Any]]:
    return [
        entry for entry in logs if entry["event"] == "crash_report" and entry["pid"] == repr(pid)
    ]


def fail_init_by_raising() -> Any:
    return ValueError("bad config")


def fail_init_by_stop() -> Any:
    return Stop("bad_config")


INIT_FAILURES = [
    pytest.param(fail_init_by_raising, id="raises"),
    pytest.param(fail_init_by_stop, id="returns-stop"),
]


def init_failure_reason(outcome: Any) -> Any:
    return outcome if isinstance(outcome, Exception) else outcome.reason


# ---------------------------------------------------------------------------------------------
# The two modes


async def test_plain_def_callbacks_run_reactive_and_async_ones_run_as_a_task(
    variant, autojump_clock
):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([])
        info = trouper.process_info(pid)
        assert info is not None
        assert info.mode == ("reactive" if variant is reactive else "task")


# ---------------------------------------------------------------------------------------------
# Starting


async def test_start_link_returns_after_init_has_run(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        await variant(Recorder).start_link(events)
        assert [kind for kind, _ in events] == ["init"]


async def test_init_receives_the_start_link_arguments(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(KeepsArgs).start_link(1, "two", [3])
        assert await trouper.call(pid, "args") == (1, "two", [3])


async def test_self_inside_init_is_the_new_server_pid(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        pid = await variant(Recorder).start_link(events)
        assert pid != trouper.self()
        assert events == [("init", pid)]


async def test_init_returning_ignore_makes_start_link_return_none_and_the_process_exit(
    variant, autojump_clock
):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([], trouper.IGNORE, name="maybe")
        assert pid is None
        assert trouper.processes() == [trouper.self()]
        assert trouper.whereis("maybe") is None


@pytest.mark.parametrize("failure", INIT_FAILURES)
async def test_init_failure_raises_init_error_with_the_reason(variant, failure, autojump_clock):
    outcome = failure()
    async with trouper.open_node():
        trouper.trap_exit(True)
        with pytest.raises(trouper.InitError) as excinfo:
            await variant(Recorder).start_link([], outcome)
        assert excinfo.value.reason is init_failure_reason(outcome)


@pytest.mark.parametrize("failure", INIT_FAILURES)
async def test_init_failure_sends_its_exit_signal_to_the_linked_caller(
    variant, failure, autojump_clock
):
    outcome = failure()
    events: list[Any] = []
    async with trouper.open_node():
        trouper.trap_exit(True)
        with pytest.raises(trouper.InitError):
            await variant(Recorder).start_link(events, outcome)
        [(_, server)] = events
        # Already queued: the failed server is gone before start_link reports it (A6).
        signal = await trouper.receive(Exit, timeout=0)
        assert signal == Exit(server, init_failure_reason(outcome))
        assert trouper.is_alive(trouper.self())


@pytest.mark.parametrize("failure", INIT_FAILURES)
async def test_terminate_is_not_called_when_init_fails(variant, failure, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        trouper.trap_exit(True)
        with pytest.raises(trouper.InitError):
            await variant(Recorder).start_link(events, failure())
        await next_message(Exit)
        await trio.testing.wait_all_tasks_blocked()  # a late terminate would have run by now
        assert [kind for kind, _ in events] == ["init"]


async def test_failed_init_releases_the_name_before_start_returns(variant, autojump_clock):
    async with trouper.open_node():
        with pytest.raises(trouper.InitError):
            await variant(Recorder).start([], ValueError("bad config"), name="db")
        assert trouper.whereis("db") is None
        assert await variant(Recorder).start([], name="db") is not None


async def test_name_registers_the_server(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([], name="recorder")
        assert trouper.whereis("recorder") == pid
        assert await trouper.call("recorder", "ping") == "pong"


async def test_start_link_with_a_taken_name_raises_already_registered(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        holder = await variant(Recorder).start_link(events, name="recorder")
        with pytest.raises(trouper.AlreadyRegisteredError) as excinfo:
            await variant(Recorder).start_link(events, name="recorder")
        assert excinfo.value.pid == holder
        assert events == [("init", holder)]
        assert trouper.processes() == [trouper.self(), holder]


async def test_start_does_not_link_the_server_to_the_caller(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start([])
        ref = trouper.monitor(pid)
        trouper.cast(pid, ("raise", ValueError("boom")))
        down = await next_message(Down)
        assert down.ref is ref
        # Linked, the crash would have killed this (non-trapping) caller.
        assert trouper.is_alive(trouper.self())


async def test_start_monitor_returns_pid_and_ref_and_down_arrives_on_exit(variant, autojump_clock):
    async with trouper.open_node():
        pid, ref = await variant(Recorder).start_monitor([])
        trouper.cast(pid, ("stop", ("shutdown", "done")))
        assert await next_message(Down) == Down(ref, pid, ("shutdown", "done"))


async def test_init_that_never_finishes_fails_with_timeout_after_exactly_the_timeout(
    autojump_clock,
):
    async with trouper.open_node():
        start = trio.current_time()
        with pytest.raises(trouper.InitError) as excinfo:
            await NeverFinishesInit.start_link([], timeout=2.5)
        assert excinfo.value.reason == "timeout"
        assert trio.current_time() - start == 2.5


async def test_start_link_waits_five_seconds_for_init_by_default(autojump_clock):
    async with trouper.open_node():
        start = trio.current_time()
        with pytest.raises(trouper.InitError):
            await NeverFinishesInit.start_link([])
        assert trio.current_time() - start == 5.0


async def test_init_timeout_kills_the_server_without_an_exit_signal_to_the_caller(
    autojump_clock,
):
    pids: list[trouper.Pid] = []
    async with trouper.open_node():
        trouper.trap_exit(True)
        with pytest.raises(trouper.InitError):
            await NeverFinishesInit.start_link(pids, timeout=1)
        [server] = pids
        assert not trouper.is_alive(server)
        assert await trouper.receive(timeout=1, after="no signal") == "no signal"
        assert server not in trouper.processes()


# ---------------------------------------------------------------------------------------------
# call


async def test_call_returns_the_reply_of_handle_call(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([])
        assert await trouper.call(pid, ("echo", {"answer": 42})) == {"answer": 42}


async def test_call_times_out_after_five_seconds_by_default(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([])
        start = trio.current_time()
        with pytest.raises(trouper.CallTimeoutError) as excinfo:
            await trouper.call(pid, "never_reply")
        assert trio.current_time() - start == 5.0
        assert excinfo.value.reason == "timeout"
        assert isinstance(excinfo.value, TimeoutError)


async def test_server_keeps_running_after_a_call_times_out(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([])
        with pytest.raises(trouper.CallTimeoutError):
            await trouper.call(pid, "never_reply", timeout=1)
        assert await trouper.call(pid, "ping") == "pong"


async def test_late_reply_after_a_timeout_never_reaches_the_caller_mailbox(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(AnswersLate).start_link(10, trouper.self())
        with pytest.raises(trouper.CallTimeoutError):
            await trouper.call(pid, "question", timeout=1)
        # The server tells us after replying, so a reply sent as a message would be queued
        # ahead of this notice.
        await next_message(lambda message: message == ("answered", "question"))
        assert trio.current_time() == 10.0
        assert await trouper.receive(timeout=0, after="empty") == "empty"


@pytest.mark.parametrize("target", ["dead pid", "unknown name"])
async def test_call_to_a_missing_server_fails_at_once_with_noproc(variant, target, autojump_clock):
    async with trouper.open_node():
        server: trouper.Pid | str = "nobody"
        if target == "dead pid":
            server = await variant(Recorder).start_link([])
            await trouper.stop(server, timeout=WAIT)
        start = trio.current_time()
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.call(server, "ping")
        assert excinfo.value.reason == "noproc"
        assert trio.current_time() == start


async def test_task_process_calling_itself_fails_with_calling_self(autojump_clock):
    async with trouper.open_node():
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.call(trouper.self(), "ping")
        assert excinfo.value.reason == "calling_self"


async def test_task_server_calling_itself_from_handle_call_fails_with_calling_self(autojump_clock):
    async with trouper.open_node():
        pid = await CallsItself.start_link()
        assert await trouper.call(pid, "go") == "calling_self"


async def test_call_fails_with_the_exception_when_the_server_crashes_handling_it(
    variant, autojump_clock
):
    error = ValueError("boom")
    async with trouper.open_node():
        pid = await variant(Recorder).start([])
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.call(pid, ("raise", error))
        assert excinfo.value.reason is error


async def test_call_fails_with_killed_when_the_server_is_killed_during_the_call(
    variant, autojump_clock
):
    async with trouper.open_node():
        killer = trouper.spawn(kill_what_it_receives)
        pid = await variant(TellsOnCall).start(killer)
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.call(pid, "anything")
        assert excinfo.value.reason == "killed"


async def test_deferred_call_is_answered_by_reply_from_another_process(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(RepliesThroughHelper).start_link()
        answer, replier = await trouper.call(pid, "question")
        assert answer == "question"
        assert replier not in (pid, trouper.self())


async def test_stop_from_handle_call_replies_with_its_reply_and_exits(variant, autojump_clock):
    async with trouper.open_node():
        pid, ref = await variant(Recorder).start_monitor([])
        assert await trouper.call(pid, ("stop", "shutdown", "bye")) == "bye"
        assert await next_message(Down) == Down(ref, pid, "shutdown")


@pytest.mark.parametrize("server", [Recorder, SlowToTerminate], ids=["reactive", "task"])
async def test_stop_from_handle_call_sends_the_reply_after_terminate(server, autojump_clock):
    # A task terminate that takes time makes the order observable: a reply sent before it
    # would wake the caller while terminate still sleeps.
    events: list[Any] = []
    async with trouper.open_node():
        pid = await server.start(events)
        assert await trouper.call(pid, ("stop", "shutdown", "bye")) == "bye"
        assert events[-1] == ("terminate", "shutdown")


async def test_handle_call_gets_the_caller_pid_in_from(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start_link([])
        assert await trouper.call(pid, "caller") == ("caller", trouper.self())


@pytest.mark.parametrize("origin", ["started before the node", "child task of a process"])
async def test_call_works_from_plain_trio_code_running_in_the_node(variant, origin, autojump_clock):
    answers: list[Any] = []
    node_ready = trio.Event()
    done = trio.Event()

    async def plain_trio_task() -> None:
        await node_ready.wait()
        with pytest.raises(trouper.NotInProcessError):
            trouper.self()  # not a process, not even the one whose task started it
        answers.append(await trouper.call("server", "caller"))
        done.set()

    async with trio.open_nursery() as outside:
        if origin == "started before the node":
            outside.start_soon(plain_trio_task)
        async with trouper.open_node():
            await variant(Recorder).start([], name="server")
            async with trio.open_nursery() as inside:
                if origin == "child task of a process":
                    inside.start_soon(plain_trio_task)  # trio copies the root's context
                node_ready.set()
                with trio.fail_after(WAIT):
                    await done.wait()
    assert answers == [("caller", None)]


async def test_call_from_a_reactive_callback_raises_not_in_process(autojump_clock):
    async with trouper.open_node():
        other = await Recorder.start_link([])
        pid = await CallsFromReactiveCallback.start_link()
        error = await trouper.call(pid, other)
        assert isinstance(error, trouper.NotInProcessError)


# ---------------------------------------------------------------------------------------------
# send_request


async def test_send_request_answer_arrives_as_a_reply_message(variant, autojump_clock):
    async with trouper.open_node():
        server = await variant(Recorder).start_link([])
        await variant(Asks).start_link(server, ("echo", 42), trouper.self())
        assert await next_message() == ("answer", 42)


async def test_send_request_to_a_missing_server_delivers_down_noproc(variant, autojump_clock):
    async with trouper.open_node():
        await variant(Asks).start_link("nobody", "ping", trouper.self())
        assert await next_message() == ("failed", "noproc")


async def test_send_request_delivers_down_when_the_server_dies_before_replying(
    variant, autojump_clock
):
    error = ValueError("boom")
    async with trouper.open_node():
        server = await variant(Recorder).start([])
        await variant(Asks).start_link(server, ("raise", error), trouper.self())
        kind, reason = await next_message()
        assert kind == "failed"
        assert reason is error


# ---------------------------------------------------------------------------------------------
# cast and handle_info


@pytest.mark.parametrize("target", ["live pid", "dead pid", "unknown name"])
async def test_cast_returns_none_whatever_the_target(variant, target, autojump_clock):
    async with trouper.open_node():
        server: trouper.Pid | str = "nobody"
        if target != "unknown name":
            server = await variant(Recorder).start_link([])
        if target == "dead pid":
            await trouper.stop(server, timeout=WAIT)
        assert trouper.cast(server, "hello") is None


async def test_handle_cast_runs_for_a_cast(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        pid = await variant(Recorder).start_link(events)
        trouper.cast(pid, "hello")
        await trouper.call(pid, "ping")  # queued after the cast
        assert events[1:] == [("cast", "hello")]


async def test_casts_from_one_sender_are_handled_in_the_order_sent(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        pid = await variant(Recorder).start_link(events)
        for number in range(50):
            trouper.cast(pid, number)
        await trouper.call(pid, "ping")
        assert events[1:] == [("cast", number) for number in range(50)]


async def test_handle_info_gets_plain_messages(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Forwarder).start_link(trouper.self())
        trouper.send(pid, "hello")
        assert await next_message() == ("handle_info", "hello")


async def test_handle_info_gets_timer_messages_when_they_fire(variant, autojump_clock):
    async with trouper.open_node():
        start = trio.current_time()
        await variant(TimerForwarder).start_link(trouper.self(), 3.0)
        assert await next_message() == ("handle_info", "tick")
        assert trio.current_time() - start == 3.0


async def test_handle_info_gets_exit_messages_when_trapping_exits(variant, autojump_clock):
    async with trouper.open_node():
        peer = trouper.spawn(exit_with_what_it_receives)
        await variant(LinkedForwarder).start_link(trouper.self(), peer)
        trouper.send(peer, "bye")
        assert await next_message() == ("handle_info", Exit(peer, "bye"))


async def test_handle_info_gets_down_messages(variant, autojump_clock):
    async with trouper.open_node():
        peer = trouper.spawn(exit_with_what_it_receives)
        await variant(MonitoringForwarder).start_link(trouper.self(), peer)
        trouper.send(peer, "bye")
        kind, down = await next_message()
        assert kind == "handle_info"
        assert isinstance(down, Down)
        assert (down.pid, down.reason) == (peer, "bye")


async def test_default_handle_info_logs_unexpected_message_and_keeps_running(
    variant, autojump_clock
):
    with capture_logs() as logs:
        async with trouper.open_node():
            pid = await variant(Quiet).start_link()
            trouper.send(pid, "stray")
            assert await trouper.call(pid, "ping") == "pong"
    unexpected = [entry for entry in logs if entry["event"] == "unexpected_message"]
    assert len(unexpected) == 1
    assert unexpected[0]["log_level"] == "warning"
    assert unexpected[0]["message"] == repr("stray")


# ---------------------------------------------------------------------------------------------
# Stopping


@pytest.mark.parametrize("deliver", ["cast", "send"], ids=["handle_cast", "handle_info"])
async def test_stop_from_a_callback_ends_the_process_with_the_reason_after_terminate(
    variant, deliver, autojump_clock
):
    events: list[Any] = []
    reason = ("shutdown", "done")
    async with trouper.open_node():
        pid, ref = await variant(Recorder).start_monitor(events)
        getattr(trouper, deliver)(pid, ("stop", reason))
        assert await next_message(Down) == Down(ref, pid, reason)
        assert events == [("init", pid), ("terminate", reason)]


async def test_stop_runs_terminate_with_the_reason(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        pid = await variant(Recorder).start(events)
        await trouper.stop(pid, "going_away", timeout=WAIT)
        assert events == [("init", pid), ("terminate", "going_away")]


async def test_stop_returns_after_the_server_is_gone(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(Recorder).start([], name="server")
        await trouper.stop("server", ("shutdown", "test"), timeout=WAIT)
        assert not trouper.is_alive(pid)
        assert pid not in trouper.processes()
        assert trouper.whereis("server") is None


async def test_stop_uses_reason_normal_by_default(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        await trouper.stop(await variant(Recorder).start_link(events), timeout=WAIT)
        assert events[-1] == ("terminate", "normal")


async def test_stop_fails_with_the_actual_reason_when_terminate_raises(variant, autojump_clock):
    async with trouper.open_node():
        pid = await variant(BrokenTerminate).start([])
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.stop(pid, timeout=WAIT)
        assert isinstance(excinfo.value.reason, RuntimeError)
        assert not trouper.is_alive(pid)


@pytest.mark.parametrize("target", ["dead pid", "unknown name"])
async def test_stop_on_a_missing_server_fails_with_noproc(variant, target, autojump_clock):
    async with trouper.open_node():
        server: trouper.Pid | str = "nobody"
        if target == "dead pid":
            server = await variant(Recorder).start_link([])
            await trouper.stop(server, timeout=WAIT)
        with pytest.raises(trouper.CallError) as excinfo:
            await trouper.stop(server, timeout=WAIT)
        assert excinfo.value.reason == "noproc"


# ---------------------------------------------------------------------------------------------
# Crashes


@pytest.mark.parametrize("deliver", ["cast", "send"], ids=["handle_cast", "handle_info"])
async def test_crash_in_a_callback_ends_the_process_with_the_exception(
    variant, deliver, autojump_clock
):
    error = ValueError("boom")
    async with trouper.open_node():
        pid, ref = await variant(Recorder).start_monitor([])
        getattr(trouper, deliver)(pid, ("raise", error))
        down = await next_message(Down)
        assert down.ref is ref
        assert down.reason is error


async def test_crash_runs_terminate_with_the_exception(variant, autojump_clock):
    error = ValueError("boom")
    events: list[Any] = []
    async with trouper.open_node():
        pid, _ = await variant(Recorder).start_monitor(events)
        trouper.cast(pid, ("raise", error))
        await next_message(Down)
        assert events == [("init", pid), ("terminate", error)]


async def test_crash_logs_one_crash_report_with_the_pid(variant, autojump_clock):
    error = ValueError("boom")
    with capture_logs() as logs:
        async with trouper.open_node():
            pid, _ = await variant(Recorder).start_monitor([])
            trouper.cast(pid, ("raise", error))
            await next_message(Down)
    [report] = crash_reports(logs, pid)
    assert report["log_level"] == "error"
    assert report["reason"] == repr(error)


async def test_init_that_raises_logs_a_crash_report(variant, autojump_clock):
    events: list[Any] = []
    error = ValueError("bad config")
    with capture_logs() as logs:
        async with trouper.open_node():
            with pytest.raises(trouper.InitError):
                await variant(Recorder).start(events, error)
    [(_, server)] = events
    [report] = crash_reports(logs, server)
    assert report["reason"] == repr(error)


@pytest.mark.parametrize("signal", ["kill", "bad_neighbour"])
async def test_server_ended_by_an_exit_signal_logs_no_crash_report(variant, signal, autojump_clock):
    with capture_logs() as logs:
        async with trouper.open_node():
            pid, _ = await variant(Recorder).start_monitor([])
            trouper.exit(pid, signal)
            await next_message(Down)
    assert crash_reports(logs, pid) == []


async def test_crash_sends_the_exit_signal_to_linked_processes(variant, autojump_clock):
    error = ValueError("boom")
    async with trouper.open_node():
        trouper.trap_exit(True)
        pid = await variant(Recorder).start_link([])
        trouper.cast(pid, ("raise", error))
        signal = await next_message(Exit)
        assert signal.pid == pid
        assert signal.reason is error


async def test_crash_leaves_other_servers_running(variant, autojump_clock):
    async with trouper.open_node():
        doomed, _ = await variant(Recorder).start_monitor([])
        bystander = await variant(Recorder).start([])
        trouper.cast(doomed, ("raise", ValueError("boom")))
        await next_message(Down)
        assert await trouper.call(bystander, "ping") == "pong"


@pytest.mark.parametrize("how", ["stop", "exit"], ids=["returns-stop", "raises-process-exit"])
@pytest.mark.parametrize("reason", CLEAN_REASONS, ids=repr)
async def test_clean_exit_reasons_log_no_crash_report(variant, how, reason, autojump_clock):
    with capture_logs() as logs:
        async with trouper.open_node():
            pid, _ = await variant(Recorder).start_monitor([])
            trouper.cast(pid, (how, reason))
            assert (await next_message(Down)).reason == reason
    assert crash_reports(logs, pid) == []


@pytest.mark.parametrize("how", ["stop", "exit"], ids=["returns-stop", "raises-process-exit"])
async def test_abnormal_exit_reason_logs_a_crash_report(variant, how, autojump_clock):
    with capture_logs() as logs:
        async with trouper.open_node():
            pid, _ = await variant(Recorder).start_monitor([])
            trouper.cast(pid, (how, "corrupt_state"))
            assert (await next_message(Down)).reason == "corrupt_state"
    [report] = crash_reports(logs, pid)
    assert report["reason"] == repr("corrupt_state")


# ---------------------------------------------------------------------------------------------
# Exits from the parent


async def test_trapping_server_terminates_when_its_parent_exits(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        parent = trouper.spawn(start_link_then_exit, variant(TrapsExits), events, trouper.self())
        _, server = await next_message()
        ref = trouper.monitor(server)
        trouper.send(parent, "shutdown")
        assert await next_message(Down) == Down(ref, server, "shutdown")
        assert events == [("init", server), ("terminate", "shutdown")]


async def test_trapping_server_terminates_on_an_exit_signal_sent_by_its_parent(
    variant, autojump_clock
):
    events: list[Any] = []
    async with trouper.open_node():
        trouper.trap_exit(True)
        server = await variant(TrapsExits).start_link(events)
        trouper.exit(server, "shutdown")
        assert await next_message(Exit) == Exit(server, "shutdown")
        assert events == [("init", server), ("terminate", "shutdown")]


async def test_exit_from_a_non_parent_goes_to_handle_info_and_the_server_keeps_running(
    variant, autojump_clock
):
    async with trouper.open_node():
        peer = trouper.spawn(exit_with_what_it_receives)
        pid = await variant(LinkedForwarder).start_link(trouper.self(), peer)
        trouper.send(peer, "shutdown")
        assert await next_message() == ("handle_info", Exit(peer, "shutdown"))
        assert await trouper.call(pid, "ping") == "pong"
        assert await trouper.receive(timeout=0, after="no terminate") == "no terminate"


async def test_exit_from_the_starter_of_an_unlinked_server_goes_to_handle_info(
    variant, autojump_clock
):
    # OTP's gen:start without a link makes the server its own parent (gen.erl do_spawn),
    # so the starter's exit signal is an ordinary message for handle_info.
    events: list[Any] = []
    async with trouper.open_node():
        server = await variant(TrapsExits).start(events)
        trouper.exit(server, "shutdown")
        assert await trouper.call(server, "ping") == "pong"
        assert events == [("init", server), ("info", Exit(trouper.self(), "shutdown"))]


async def test_server_not_trapping_exits_is_killed_by_parent_shutdown_without_terminate(
    variant, autojump_clock
):
    events: list[Any] = []
    async with trouper.open_node():
        parent = trouper.spawn(start_link_then_exit, variant(Recorder), events, trouper.self())
        _, server = await next_message()
        ref = trouper.monitor(server)
        trouper.send(parent, "shutdown")
        assert await next_message(Down) == Down(ref, server, "shutdown")
        assert events == [("init", server)]


async def test_kill_never_runs_terminate_even_when_trapping_exits(variant, autojump_clock):
    events: list[Any] = []
    async with trouper.open_node():
        server, ref = await variant(TrapsExits).start_monitor(events)
        trouper.exit(server, "kill")
        assert await next_message(Down) == Down(ref, server, "killed")
        assert events == [("init", server)]


# -- start_link_nowait: how a reactive process starts linked children --------------------------


class Child(GenServer):
    def init(self, mode: str) -> Any:
        if mode == "ignore":
            return trouper.IGNORE
        if mode == "stop":
            return Stop("no thanks")
        if mode == "crash":
            raise ValueError("bad start")
        self.mode = mode
        return None

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return self.mode


class StartsChildren(GenServer):
    """Reactive: starts a child from its callback, which cannot await."""

    def init(self) -> None:
        trouper.trap_exit(True)

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        try:
            return ("ok", Child.start_link_nowait(request))
        except trouper.InitError as exc:
            return ("error", exc.reason)


class AsyncChild(GenServer):
    async def init(self) -> None:
        return None


async def test_start_link_nowait_runs_init_inline_and_links() -> None:
    async with trouper.open_node():
        parent = await StartsChildren.start_link()
        assert parent is not None
        kind, child = await trouper.call(parent, "ready")
        assert kind == "ok" and await trouper.call(child, "mode?") == "ready"
        info = trouper.process_info(child)
        assert info is not None and info.links == (parent,) and info.parent == parent


async def test_start_link_nowait_reports_failures_as_start_link_does() -> None:
    with capture_logs():
        async with trouper.open_node():
            parent = await StartsChildren.start_link()
            assert parent is not None
            assert await trouper.call(parent, "ignore") == ("ok", None)
            assert await trouper.call(parent, "stop") == ("error", "no thanks")
            kind, reason = await trouper.call(parent, "crash")
            assert kind == "error" and isinstance(reason, ValueError)
            assert trouper.is_alive(parent)  # it traps exits: the failed child's signal is mail


async def test_start_link_nowait_refuses_task_behaviours_and_non_processes() -> None:
    async with trouper.open_node():
        with pytest.raises(TypeError, match="start_link"):
            AsyncChild.start_link_nowait()
        errors: list[Exception] = []

        async def plain_trio_task() -> None:  # not a process: nothing to link to
            try:
                Child.start_link_nowait("x")
            except trouper.NotInProcessError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(plain_trio_task)
        assert len(errors) == 1
