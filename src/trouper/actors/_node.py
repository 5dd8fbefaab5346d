"""The node: process table, names, the reactive scheduler, finalization and timers.

How this works
--------------
A node owns one trio nursery. Three kinds of tasks run in it: the **scheduler**, which runs
reactive processes' callbacks; the **timer loop**, which fires ``send_after`` timers from one
heap (no task per timer); and one task per **task process**.

The scheduler pops process-then-message from ``runq``, one FIFO for every reactive
process of the node (so it is fair by construction and per-receiver order holds), and calls
``behaviour.handle(message)``. Messages whose process has died since are skipped. It yields to
trio (a checkpoint) after each time slice, so task processes and I/O keep running while
millions of callbacks are pending. When the queue is empty it parks; the next ``deliver`` to
a reactive process wakes it.

Dying processes are finalized through ``schedule_finalize``: a queue drained in a loop, so a
chain reaction of exits (a link chain, a crash storm) runs iteratively.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import trio

from . import _process
from ._process import (
    DEAD,
    EXITING,
    RUNNING,
    WAITING,
    Process,
    TaskPart,
    deliver,
    finalize,
)
from ._types import (
    NORMAL,
    AlreadyRegisteredError,
    NoProcError,
    Pid,
    ProcessExit,
    Ref,
    Stop,
    is_clean_exit,
)

log = structlog.get_logger("trouper")

_SLICE = 0.005  # seconds of callbacks between checkpoints of the scheduler task


class Timer:
    """A pending ``send_after``; cancelled in place (the heap entry is skipped when popped)."""

    __slots__ = ("active", "deadline", "dest", "message", "ref")

    def __init__(self, deadline: float, dest: Pid | str, message: Any) -> None:
        self.deadline = deadline
        self.dest = dest
        self.message = message
        self.active = True
        self.ref = Ref()


class Node:
    """One trouper runtime: every process of this OS process belongs to it."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.procs: dict[int, Process] = {}
        self.names: dict[str, Process] = {}
        # Reactive messages: process, message, process, message... (see deliver).
        self.runq: deque[Any] = deque()
        self.scheduler_parked: trio.lowlevel.Task | None = None
        self.task_count = 0
        self.closed = False
        self._ids = itertools.count(1)
        self._finalizing: deque[Process] = deque()
        self._draining = False
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = itertools.count()
        self._timer_by_ref: dict[Ref, Timer] = {}
        self._timer_scope: trio.CancelScope | None = None
        self._next_yield = 0.0

    # -- processes --------------------------------------------------------------------------

    def new_process(self, behaviour: Any, *, task: bool) -> Process:
        n = next(self._ids)
        proc = Process(self, n, behaviour, TaskPart() if task else None)
        self.procs[n] = proc
        if task:
            self.task_count += 1
        return proc

    def check_name_free(self, name: str) -> None:
        """Raise unless ``name`` is a valid name that nobody holds."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a registered name must be a non-empty str, not {name!r}")
        holder = self.names.get(name)
        if holder is not None:
            raise AlreadyRegisteredError(name, holder.pid)

    def register(self, name: str, proc: Process) -> None:
        """Give ``proc`` the registered name ``name`` (see ``trouper.register``)."""
        self.check_name_free(name)
        if proc.status is DEAD or proc.status is EXITING:
            raise NoProcError(proc.pid)
        if proc.name is not None:
            raise ValueError(f"{proc.pid!r} is already registered as {proc.name!r}")
        self.names[name] = proc
        proc.name = name

    def start_task(self, proc: Process, body: Callable[[], Awaitable[Any]]) -> None:
        """Run ``body`` as the task of task process ``proc``."""
        self.nursery.start_soon(self._task_main, proc, body, name=f"trouper {proc.pid!r}")

    async def _task_main(self, proc: Process, body: Callable[[], Awaitable[Any]]) -> None:
        _process.current_task_process.set(proc)
        task = proc.task
        assert task is not None
        task.trio_task = trio.lowlevel.current_task()
        reason: Any = NORMAL
        try:
            with task.scope:
                if proc.status is not EXITING:
                    proc.status = RUNNING
                    await body()
        except ProcessExit as exc:
            reason = exc.reason
        except Exception as exc:
            reason = exc
        if self.closed or proc.status is DEAD:
            return
        if proc.status is EXITING:
            reason = proc.exit_reason
        else:
            proc.status = EXITING
            proc.exit_reason = reason
            if isinstance(reason, BaseException) or not is_clean_exit(reason):
                crash_report(proc, reason)
        self.schedule_finalize(proc)

    def schedule_finalize(self, proc: Process) -> None:
        """Finalize ``proc`` (status EXITING, reason in ``exit_reason``), and any chain reaction."""
        self._finalizing.append(proc)
        if self._draining:
            return
        self._draining = True
        try:
            queue = self._finalizing
            while queue:
                dying = queue.popleft()
                if dying.status is not DEAD:
                    finalize(dying, dying.exit_reason)
        finally:
            self._draining = False

    def callback_failed(self, proc: Process, exc: Exception) -> None:
        """A reactive callback raised: the process ends (terminate runs for crashes, not kills)."""
        if proc.status is EXITING:
            return  # killed by a signal while running; ProcessExit was only the unwinding
        reason = exc.reason if isinstance(exc, ProcessExit) else exc
        reason = run_terminate(proc, reason)
        proc.status = EXITING
        proc.exit_reason = reason
        if isinstance(reason, BaseException) or not is_clean_exit(reason):
            crash_report(proc, reason)

    async def fair_checkpoint(self) -> None:
        """A checkpoint that yields to other tasks only once per time slice.

        Work that completes without waiting (a call answered inline) would otherwise either
        never yield, starving the other tasks, or pay a full trio scheduling round (several
        microseconds) every time. Cancellation is honoured on every call.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        await self.fair_yield()

    async def fair_yield(self) -> None:
        """Yield to other tasks (not a cancellation point) if this time slice is used up.

        For work that has already taken effect (a message taken from the mailbox, a child
        started): cancelling there would lose it, and a full trio round (~7 us here) per
        message would cost more than the work itself.
        """
        now = time.perf_counter()
        if now >= self._next_yield:
            self._next_yield = now + _SLICE
            await trio.lowlevel.cancel_shielded_checkpoint()

    def callback_returned(self, proc: Process, result: Any) -> None:
        """A reactive ``handle`` returned something: ``Stop`` ends the process cleanly."""
        if isinstance(result, Stop):
            stop_self(proc, result.reason)

    # -- the scheduler ----------------------------------------------------------------------

    def wake_scheduler(self) -> None:
        task = self.scheduler_parked
        if task is not None:
            self.scheduler_parked = None
            trio.lowlevel.reschedule(task)

    async def run_scheduler(self) -> None:
        runq = self.runq
        while True:
            if not runq:
                self.scheduler_parked = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(_abort_park)
                continue
            self.run_queue(sys.maxsize)
            await trio.lowlevel.checkpoint()

    def run_queue(self, limit: int) -> None:
        """Run up to ``limit`` queued reactive callbacks, stopping early after a time slice.

        The scheduler calls it with no practical limit; ``call`` puts its message at the
        front of the queue and runs exactly one when the server is idle, so a call to a
        reactive server needs no task switch at all.
        """
        runq = self.runq
        popleft = runq.popleft
        clock = time.perf_counter
        deadline = clock() + _SLICE
        while runq and limit:
            limit -= 1
            proc = popleft()
            msg = popleft()
            if proc.status is not WAITING:
                continue  # it died after the message was queued
            proc.pending -= 1
            proc.status = RUNNING
            _process._running = proc
            try:
                proc.handled += 1
                result = proc.behaviour.handle(msg)
                if result is not None:
                    self.callback_returned(proc, result)
            except Exception as exc:
                self.callback_failed(proc, exc)
            _process._running = None
            status = proc.status
            if status is RUNNING:
                proc.status = WAITING
            elif status is EXITING:
                self.schedule_finalize(proc)
            if limit & 127 == 0 and clock() >= deadline:
                break

    # -- timers -----------------------------------------------------------------------------

    def add_timer(self, delay: float, dest: Pid | str, message: Any) -> Timer:
        timer = Timer(trio.current_time() + max(0.0, delay), dest, message)
        heapq.heappush(self._timers, (timer.deadline, next(self._timer_seq), timer))
        self._timer_by_ref[timer.ref] = timer
        scope = self._timer_scope
        if scope is not None and timer.deadline < scope.deadline:
            scope.deadline = timer.deadline
        return timer

    def cancel_timer(self, ref: Ref) -> float | None:
        timer = self._timer_by_ref.pop(ref, None)
        if timer is None or not timer.active:
            return None
        timer.active = False
        return max(0.0, timer.deadline - trio.current_time())

    def read_timer(self, ref: Ref) -> float | None:
        timer = self._timer_by_ref.get(ref)
        if timer is None or not timer.active:
            return None
        return max(0.0, timer.deadline - trio.current_time())

    @property
    def timer_count(self) -> int:
        return len(self._timer_by_ref)

    async def run_timers(self) -> None:
        heap = self._timers
        while True:
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                timer = heapq.heappop(heap)[2]
                if timer.active:
                    timer.active = False
                    del self._timer_by_ref[timer.ref]
                    dest = timer.dest
                    proc = dest._proc if isinstance(dest, Pid) else self.names.get(dest)
                    if proc is not None:
                        deliver(proc, timer.message)
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop everything at once: no signals are sent, the node is going away."""
        self.closed = True
        for proc in self.procs.values():
            proc.status = DEAD
            proc.pid._proc = None
        self.procs.clear()
        self.names.clear()
        self.runq.clear()
        self.nursery.cancel_scope.cancel()


def _abort_park(_: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.SUCCEEDED


def run_terminate(proc: Process, reason: Any) -> Any:
    """Call a reactive behaviour's ``terminate(reason)``; a crash in it becomes the reason."""
    terminate = getattr(proc.behaviour, "terminate", None)
    if terminate is None:
        return reason
    prev = _process.set_running(proc)
    try:
        terminate(reason)
    except Exception as exc:
        return exc
    finally:
        _process.set_running(prev)
    return reason


def stop_self(proc: Process, reason: Any) -> None:
    """A reactive process asked to stop: ``terminate`` runs, then it exits with ``reason``."""
    reason = run_terminate(proc, reason)
    _process.request_stop(proc, reason)
    if not is_clean_exit(reason):
        crash_report(proc, reason)


def crash_report(proc: Process, reason: Any) -> None:
    """Log OTP's crash report for a process that ended abnormally on its own."""
    if proc.node.closed:
        return  # the node is stopping everything; nothing here is a crash
    behaviour = proc.behaviour
    log.error(
        "crash_report",
        pid=repr(proc.pid),
        name=proc.name,
        behaviour=type(behaviour).__qualname__ if behaviour is not None else None,
        reason=repr(reason),
        exc_info=reason if isinstance(reason, BaseException) else None,
    )
