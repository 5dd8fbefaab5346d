"""Supervisor: starts children in order, restarts them by strategy, stops them in reverse.

======================================  ==================================================
API                                     what the supervisor does
======================================  ==================================================
``await Supervisor.start_link(specs)``  validates, starts each child in order (each start
                                        synchronous); a failure stops the ones started and
                                        fails the start naming the child
a child exits                           by its ``restart`` and the strategy: restart it
                                        (one_for_one), all (one_for_all) or it and the ones
                                        after it (rest_for_one); counts toward intensity
too many restarts in ``period``         reports ``reached_max_restart_intensity``, stops
                                        every child in reverse order, exits ``shutdown``
``start_child`` / ``terminate_child``   OTP's results; see ``_common`` for the calls
/ ``restart_child`` / ``delete_child``
/ ``which_children`` / ``count_children``
its parent exits, or ``stop``           stops the children in reverse start order
======================================  ==================================================

How this works: a supervisor is a task-mode GenServer that traps exits. Children are linked
to it; their deaths arrive as ``Exit`` messages and go through ``_child_exited``. A restart
that fails marks the child ``restarting`` and queues a ``TryAgain`` to itself, so the
supervisor keeps answering calls in between (OTP's ``try_again_restart``); every retry
counts toward the intensity, so a child that can never start ends the supervisor.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import attrs
import trio

import trouper

from ._common import (
    RESTARTING,
    Child,
    ChildCounts,
    ChildInfo,
    TryAgain,
    error,
    ok,
)
from ._intensity import DEFAULT_INTENSITY, DEFAULT_PERIOD, RestartWindow, validate_intensity
from ._reports import report
from ._shutdown import expected_reason, shutdown_children
from ._spec import ChildSpec, ChildSpecError, start_child_process

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]


def _check_flags(flags: SupervisorFlags) -> None:
    if flags.strategy not in ("one_for_one", "one_for_all", "rest_for_one"):
        raise ValueError(f"invalid strategy {flags.strategy!r}")
    validate_intensity(flags.intensity, flags.period)
    if flags.auto_shutdown not in ("never", "any_significant", "all_significant"):
        raise ValueError(f"invalid auto_shutdown {flags.auto_shutdown!r}")


@attrs.frozen
class SupervisorFlags:
    """How a supervisor restarts: strategy, intensity (restarts allowed per period) and
    auto_shutdown. Validated when built."""

    strategy: Strategy = "one_for_one"
    intensity: int = DEFAULT_INTENSITY
    period: float = DEFAULT_PERIOD
    auto_shutdown: AutoShutdown = "never"

    def __attrs_post_init__(self) -> None:
        _check_flags(self)


def check_children(flags: SupervisorFlags, specs: Sequence[ChildSpec]) -> None:
    """Reject duplicate ids and significant children under ``auto_shutdown="never"``."""
    seen: set[Hashable] = set()
    for spec in specs:
        if not isinstance(spec, ChildSpec):
            raise ChildSpecError(f"expected a ChildSpec, not {spec!r}")
        if spec.id in seen:
            raise ChildSpecError(f"duplicate child id {spec.id!r}")
        seen.add(spec.id)
        if spec.significant and flags.auto_shutdown == "never":
            raise ChildSpecError(
                f"child {spec.id!r} is significant but auto_shutdown is never (bad_combination)"
            )


class SupervisorServer(trouper.GenServer):
    """The supervisor process. Start it with :meth:`Supervisor.start_link`."""

    async def init(self, flags: SupervisorFlags, specs: tuple[ChildSpec, ...]) -> Any:
        trouper.trap_exit(True)
        self.flags = flags
        self.window = RestartWindow(flags.intensity, flags.period)
        self.children: list[Child] = []
        self.by_id: dict[Hashable, Child] = {}
        self.by_pid: dict[trouper.Pid, Child] = {}
        check_children(flags, specs)
        for spec in specs:
            try:
                pid = await start_child_process(spec)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, trouper.InitError) else exc
                report("start_error", child_id=spec.id, pid=None, reason=reason)
                await self._stop_children(list(reversed(self.children)))
                return trouper.Stop(("shutdown", ("failed_to_start_child", spec.id, reason)))
            if pid is None and spec.restart == "temporary":
                continue
            self._add(Child(spec, pid, trio.current_time()))
        return None

    async def terminate(self, reason: Any) -> None:
        await self._stop_children(list(reversed(self.children)))

    # -- bookkeeping ------------------------------------------------------------------------

    def _add(self, child: Child) -> None:
        self.children.append(child)
        self.by_id[child.spec.id] = child
        self._started(child)

    def _started(self, child: Child) -> None:
        pid = child.live_pid
        if pid is not None:
            self.by_pid[pid] = child
            child.started_at = trio.current_time()
            report("child_started", child_id=child.spec.id, pid=pid)

    def _remove(self, child: Child) -> None:
        self.children.remove(child)
        del self.by_id[child.spec.id]

    async def _stop_children(self, children: Sequence[Child]) -> None:
        """Stop live children one after another, in the order given."""
        for child in children:
            pid = child.live_pid
            if pid is None:
                if child.pid == RESTARTING:
                    child.pid = None
                continue
            del self.by_pid[pid]
            child.pid = None
            spec = child.spec
            reasons = await shutdown_children([(pid, spec.shutdown)])
            reason = reasons.get(pid, trouper.NOPROC)
            if not expected_reason(spec.shutdown, spec.restart, reason):
                report("shutdown_error", child_id=spec.id, pid=pid, reason=reason)

    # -- exits and restarts -----------------------------------------------------------------

    async def handle_info(self, message: Any) -> Any:
        if type(message) is trouper.Exit:
            child = self.by_pid.get(message.pid)
            if child is not None:
                return await self._child_exited(child, message.reason)
        elif type(message) is TryAgain:
            child = self.by_id.get(message.key)
            if child is not None and child.pid == RESTARTING:
                return await self._restart(child)
        return None

    async def _child_exited(self, child: Child, reason: Any) -> Any:
        pid = child.live_pid
        if pid is not None:
            del self.by_pid[pid]
        child.pid = None
        spec = child.spec
        if spec.restart == "temporary" or (
            spec.restart == "transient" and trouper.is_clean_exit(reason)
        ):
            if not trouper.is_clean_exit(reason):
                report("child_terminated", child_id=spec.id, pid=pid, reason=reason)
            if spec.restart == "temporary":
                self._remove(child)
            if spec.significant and self._auto_shutdown():
                return trouper.Stop(trouper.SHUTDOWN)
            return None
        report("child_terminated", child_id=spec.id, pid=pid, reason=reason)
        delay = child.next_backoff(trio.current_time())
        if delay > 0:
            child.pid = RESTARTING
            trouper.send_after(delay, trouper.self(), TryAgain(spec.id))
            return None
        return await self._restart(child)

    def _auto_shutdown(self) -> bool:
        mode = self.flags.auto_shutdown
        if mode == "any_significant":
            return True
        if mode == "all_significant":
            return not any(c.spec.significant and c.live_pid is not None for c in self.children)
        return False

    async def _restart(self, child: Child) -> Any:
        flags = self.flags
        if self.window.add(trio.current_time()):
            report(
                "reached_max_restart_intensity",
                child_id=child.spec.id,
                pid=None,
                reason=trouper.SHUTDOWN,
                intensity=flags.intensity,
                period=flags.period,
            )
            self._remove(child)
            return trouper.Stop(trouper.SHUTDOWN)
        group = self._group(child)
        await self._stop_children([c for c in reversed(group) if c is not child])
        for member in group:
            if member is not child and member.spec.restart == "temporary":
                self._remove(member)  # a temporary bystander is dropped, never restarted
                continue
            try:
                pid = await start_child_process(member.spec)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, trouper.InitError) else exc
                report("start_error", child_id=member.spec.id, pid=None, reason=reason)
                # The ones restarted before it keep running (as OTP's restart_multiple_children
                # does): the retry is a restart of `member`, so the strategy decides again
                # what else it takes down (everything for one_for_all; only the children
                # after it for rest_for_one).
                member.pid = RESTARTING
                trouper.send(trouper.self(), TryAgain(member.spec.id))
                return None
            member.pid = pid
            member.restarts += 1
            if pid is None and member.spec.restart == "temporary":
                self._remove(member)
            self._started(member)
        return None

    def _group(self, child: Child) -> list[Child]:
        strategy = self.flags.strategy
        if strategy == "one_for_all":
            return list(self.children)
        if strategy == "rest_for_one":
            return self.children[self.children.index(child) :]
        return [child]

    # -- the API ----------------------------------------------------------------------------

    async def handle_call(self, request: Any, from_: trouper.From) -> Any:
        match request:
            case ("which_children",):
                return ok([c.info(False) for c in reversed(self.children)])
            case ("count_children",):
                return ok(self._counts())
            case ("start_child", spec):
                return await self._start_child(spec)
            case ("terminate_child", child_id):
                return await self._terminate_child(child_id)
            case ("restart_child", child_id):
                return await self._restart_child(child_id)
            case ("delete_child", child_id):
                return self._delete_child(child_id)
            case ("get_childspec", key):
                child = self._find(key)
                return error("not_found") if child is None else ok(child.spec)
            case ("children", limit):  # for tree(): the first `limit` (None: all), and a count
                first = self.children[:limit]
                return ok((len(self.children), [(c.info(False), c.live_pid) for c in first]))
        return error(("unknown_call", request))

    def _counts(self) -> ChildCounts:
        supervisors = sum(1 for c in self.children if c.spec.type == "supervisor")
        return ChildCounts(
            specs=len(self.children),
            active=len(self.by_pid),
            supervisors=supervisors,
            workers=len(self.children) - supervisors,
        )

    def _find(self, key: Any) -> Child | None:
        if isinstance(key, trouper.Pid):
            return self.by_pid.get(key)
        return self.by_id.get(key)

    async def _start_child(self, spec: Any) -> Any:
        if not isinstance(spec, ChildSpec):
            return error(ChildSpecError(f"expected a ChildSpec, not {spec!r}"))
        existing = self.by_id.get(spec.id)
        if existing is not None:
            pid = existing.live_pid
            return error(("already_started", pid) if pid is not None else "already_present")
        if spec.significant and self.flags.auto_shutdown == "never":
            return error(ChildSpecError(f"child {spec.id!r}: significant needs auto_shutdown"))
        try:
            pid = await start_child_process(spec)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, trouper.InitError) else exc
            report("start_error", child_id=spec.id, pid=None, reason=reason)
            return error(reason)
        if pid is not None or spec.restart != "temporary":
            self._add(Child(spec, pid, trio.current_time()))
        return ok(pid)

    async def _terminate_child(self, child_id: Any) -> Any:
        if isinstance(child_id, trouper.Pid):
            child = self.by_pid.get(child_id)
            if child is None:
                return ok() if not trouper.is_alive(child_id) else error("not_found")
        else:
            child = self.by_id.get(child_id)
            if child is None:
                return error("not_found")
        await self._stop_children([child])
        if child.spec.restart == "temporary":
            self._remove(child)
        return ok()

    async def _restart_child(self, child_id: Hashable) -> Any:
        child = self.by_id.get(child_id)
        if child is None:
            return error("not_found")
        busy = child.busy_error()
        if busy is not None:
            return busy
        try:
            pid = await start_child_process(child.spec)
        except Exception as exc:
            return error(exc.reason if isinstance(exc, trouper.InitError) else exc)
        child.pid = pid
        self._started(child)
        return ok(pid)

    def _delete_child(self, child_id: Hashable) -> Any:
        child = self.by_id.get(child_id)
        if child is None:
            return error("not_found")
        busy = child.busy_error()
        if busy is not None:
            return busy
        self._remove(child)
        return ok()


class Supervisor:
    """Start supervisors: ``await Supervisor.start_link([spec, ...], strategy="one_for_all")``."""

    @staticmethod
    async def start_link(
        children: Sequence[ChildSpec],
        flags: SupervisorFlags | None = None,
        *,
        name: str | None = None,
        **flag_fields: Any,
    ) -> trouper.Pid:
        """Start a supervisor linked to the caller; returns once every child has started.

        Flags come as a :class:`SupervisorFlags` or as its fields (``strategy=``,
        ``intensity=``, ``period=``, ``auto_shutdown=``). Raises ``ValueError`` /
        :class:`ChildSpecError` for bad flags or specs before anything starts, and
        :class:`trouper.InitError` with reason ``("shutdown", ("failed_to_start_child", id,
        why))`` if a child fails to start (the children started before it are stopped).
        """
        flags = _flags(flags, flag_fields)
        check_children(flags, children)
        pid = await SupervisorServer.start_link(flags, tuple(children), name=name, timeout=None)
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(
        id: Hashable,
        children: Sequence[ChildSpec],
        flags: SupervisorFlags | None = None,
        *,
        restart: str = "permanent",
        **flag_fields: Any,
    ) -> ChildSpec:
        """A spec that runs a supervisor as a child (type supervisor, shutdown infinity)."""
        flags = _flags(flags, flag_fields)
        check_children(flags, children)
        start = functools.partial(Supervisor.start_link, tuple(children), flags)
        return ChildSpec(id=id, start=start, restart=restart, type="supervisor")  # type: ignore[arg-type]


def _flags(flags: SupervisorFlags | None, fields: dict[str, Any]) -> SupervisorFlags:
    if flags is not None and fields:
        raise TypeError("pass either flags or flag fields, not both")
    return flags if flags is not None else SupervisorFlags(**fields)


__all__ = ["ChildInfo", "Supervisor", "SupervisorFlags", "SupervisorServer"]
