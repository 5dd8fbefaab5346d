"""DynamicSupervisor: children started on demand, all from specs given at start_child time.

As Elixir's: one_for_one only, no children at start, ``extra_arguments`` prepended to each
child's args, ``max_children`` (children waiting for a restart count), children identified
by pid (``which_children`` ids are None), and shutdown of all children concurrently
(signals first, then one wait), so a million reactive children stop in one pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import trio

import trouper

from ._common import RESTARTING, Child, ChildCounts, TryAgain, error, ok
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD, RestartWindow, validate_intensity
from ._reports import report
from ._shutdown import expected_reason, shutdown_children
from ._spec import ChildSpec, ChildSpecError, start_child_process


class DynamicSupervisorServer(trouper.GenServer):
    """The DynamicSupervisor process; start it with :meth:`DynamicSupervisor.start_link`."""

    async def init(
        self, intensity: int, period: float, max_children: float, extra: tuple[Any, ...]
    ) -> None:
        trouper.trap_exit(True)
        self.window = RestartWindow(intensity, period)
        self.max_children = max_children
        self.extra = extra
        self.children: dict[trouper.Pid, Child] = {}  # live children, in start order
        self.restarting: dict[int, Child] = {}  # children whose restart is pending
        self._keys = 0

    async def terminate(self, reason: Any) -> None:
        self.restarting.clear()
        children = list(self.children.values())
        self.children.clear()
        targets = [(c.pid, c.spec.shutdown) for c in children if isinstance(c.pid, trouper.Pid)]
        reasons = await shutdown_children(targets)
        for child in children:
            pid = child.live_pid
            if pid is None:
                continue
            spec = child.spec
            why = reasons.get(pid, trouper.NOPROC)
            if not expected_reason(spec.shutdown, spec.restart, why):
                report("shutdown_error", child_id=None, pid=pid, reason=why)

    def _count(self) -> int:
        return len(self.children) + len(self.restarting)

    async def _start(self, spec: ChildSpec) -> Any:
        try:
            pid = await start_child_process(spec, self.extra)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, trouper.InitError) else exc
            report("start_error", child_id=None, pid=None, reason=reason)
            return error(reason)
        return ok(pid)

    def _track(self, child: Child) -> None:
        pid = child.live_pid
        if pid is not None:
            self.children[pid] = child
            child.started_at = trio.current_time()

    async def handle_call(self, request: Any, from_: trouper.From) -> Any:
        match request:
            case ("start_child", spec):
                if not isinstance(spec, ChildSpec):
                    return error(ChildSpecError(f"expected a ChildSpec, not {spec!r}"))
                if spec.significant:
                    return error(ChildSpecError("DynamicSupervisor children cannot be significant"))
                if self._count() >= self.max_children:
                    return error("max_children")
                result = await self._start(spec)
                if result[0] == "ok" and result[1] is not None:
                    self._track(Child(spec, result[1], trio.current_time()))
                return result
            case ("terminate_child", pid):
                return await self._terminate_child(pid)
            case ("which_children",):
                infos = [c.info(True) for c in self.children.values()]
                return ok(infos + [c.info(True) for c in self.restarting.values()])
            case ("count_children",):
                return ok(self._counts())
            case ("restart_child" | "delete_child", _):
                return error("simple_one_for_one")
            case ("get_childspec", pid):
                child = self.children.get(pid)
                return error("not_found") if child is None else ok(child.spec)
            case ("children", limit):  # for tree(): the first `limit` (None: all), and a count
                first = itertools.islice(self.children.values(), limit)
                return ok((len(self.children), [(c.info(True), c.live_pid) for c in first]))
        return error(("unknown_call", request))

    def _counts(self) -> ChildCounts:
        everyone = [*self.children.values(), *self.restarting.values()]
        supervisors = sum(1 for c in everyone if c.spec.type == "supervisor")
        return ChildCounts(
            specs=len(everyone),
            active=len(self.children),
            supervisors=supervisors,
            workers=len(everyone) - supervisors,
        )

    async def _terminate_child(self, pid: Any) -> Any:
        if not isinstance(pid, trouper.Pid):
            return error("not_found")
        child = self.children.pop(pid, None)
        if child is None:
            return error("not_found")
        spec = child.spec
        reasons = await shutdown_children([(pid, spec.shutdown)])
        why = reasons.get(pid, trouper.NOPROC)
        if not expected_reason(spec.shutdown, spec.restart, why):
            report("shutdown_error", child_id=None, pid=pid, reason=why)
        return ok()

    async def handle_info(self, message: Any) -> Any:
        if type(message) is trouper.Exit:
            child = self.children.pop(message.pid, None)
            if child is not None:
                return await self._child_exited(child, message.pid, message.reason)
        elif type(message) is TryAgain:
            child = self.restarting.pop(message.key, None)
            if child is not None:
                return await self._restart(child)
        return None

    async def _child_exited(self, child: Child, pid: trouper.Pid, reason: Any) -> Any:
        spec = child.spec
        child.pid = None
        clean = trouper.is_clean_exit(reason)
        if spec.restart == "temporary" or (spec.restart == "transient" and clean):
            if not clean:
                report("child_terminated", child_id=None, pid=pid, reason=reason)
            return None
        report("child_terminated", child_id=None, pid=pid, reason=reason)
        delay = child.next_backoff(trio.current_time())
        if delay > 0:
            self._retry_later(child, delay)
            return None
        return await self._restart(child)

    def _retry_later(self, child: Child, delay: float) -> None:
        child.pid = RESTARTING
        self._keys += 1
        self.restarting[self._keys] = child
        if delay > 0:
            trouper.send_after(delay, trouper.self(), TryAgain(self._keys))
        else:
            trouper.send(trouper.self(), TryAgain(self._keys))

    async def _restart(self, child: Child) -> Any:
        if self.window.add(trio.current_time()):
            report(
                "reached_max_restart_intensity",
                child_id=None,
                pid=None,
                reason=trouper.SHUTDOWN,
                intensity=self.window.intensity,
                period=self.window.period,
            )
            return trouper.Stop(trouper.SHUTDOWN)
        kind, value = await self._start(child.spec)
        if kind == "error":
            self._retry_later(child, 0.0)
            return None
        if value is None:
            return None  # a restart answered ignore: the child is gone (Elixir's rule)
        child.pid = value
        child.restarts += 1
        self._track(child)
        report("child_started", child_id=None, pid=value)
        return None


class DynamicSupervisor:
    """Start dynamic supervisors: ``await DynamicSupervisor.start_link(max_children=100)``."""

    @staticmethod
    async def start_link(
        *,
        name: str | None = None,
        intensity: int = DEFAULT_INTENSITY,
        period: float = DEFAULT_PERIOD,
        max_children: float = math.inf,
        extra_arguments: Sequence[Any] = (),
    ) -> trouper.Pid:
        """Start a DynamicSupervisor linked to the caller, with no children."""
        validate_intensity(intensity, period)
        if not (max_children == math.inf or (isinstance(max_children, int) and max_children >= 0)):
            raise ValueError(f"max_children must be an int >= 0 or math.inf, not {max_children!r}")
        pid = await DynamicSupervisorServer.start_link(
            intensity, period, max_children, tuple(extra_arguments), name=name, timeout=None
        )
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(id: Any, **options: Any) -> ChildSpec:
        """A spec that runs a DynamicSupervisor as a child (type supervisor)."""
        restart = options.pop("restart", "permanent")

        async def start() -> trouper.Pid:
            return await DynamicSupervisor.start_link(**options)

        return ChildSpec(id=id, start=start, restart=restart, type="supervisor")
