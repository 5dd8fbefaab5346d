"""What Supervisor and DynamicSupervisor share: child records, results, errors, API calls."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

import attrs

import trouper

from ._spec import ChildSpec, ChildType

RESTARTING: Literal["restarting"] = "restarting"
"""Shown by ``which_children`` in place of the pid of a child whose restart is pending."""


class SupervisorError(trouper.TrouperError):
    """A supervisor API call failed; ``reason`` is OTP's: ``"not_found"``, ``"running"``,
    ``"restarting"``, ``"already_present"``, ``("already_started", pid)``,
    ``"max_children"``, or why the child failed to start."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"supervisor call failed: {reason!r}")
        self.reason = reason


@attrs.frozen
class ChildInfo:
    """One entry of ``which_children`` (OTP's ``{Id, Child, Type, Modules}``)."""

    id: Hashable | None  # None under a DynamicSupervisor, as OTP's `undefined`
    pid: trouper.Pid | Literal["restarting"] | None
    type: ChildType
    restart: str
    restarts: int  # how many times this child has been restarted (trouper's addition)


@attrs.frozen
class ChildCounts:
    """``count_children``: specs, live children, and children by type."""

    specs: int
    active: int
    supervisors: int
    workers: int


class Child:
    """A supervisor's record of one child."""

    __slots__ = ("pid", "restarts", "spec", "started_at", "streak")

    def __init__(self, spec: ChildSpec, pid: trouper.Pid | None, now: float) -> None:
        self.spec = spec
        self.pid: trouper.Pid | Literal["restarting"] | None = pid
        self.restarts = 0
        self.streak = 0  # consecutive restarts, for backoff
        self.started_at = now

    def next_backoff(self, now: float) -> float:
        """Seconds to wait before restarting it now (0 without a backoff); counts the restart."""
        backoff = self.spec.backoff
        if backoff is None:
            return 0.0
        if now - self.started_at >= backoff.reset_after:
            self.streak = 0  # it stayed up long enough: start the delays over
        self.streak += 1
        return backoff.delay(self.streak)

    def busy_error(self) -> tuple[str, Any] | None:
        """OTP's error for restart_child/delete_child on a child that is not stopped."""
        if self.pid == RESTARTING:
            return error("restarting")
        if self.live_pid is not None:
            return error("running")
        return None

    @property
    def live_pid(self) -> trouper.Pid | None:
        pid = self.pid
        return pid if isinstance(pid, trouper.Pid) else None

    def info(self, dynamic: bool) -> ChildInfo:
        spec = self.spec
        return ChildInfo(
            id=None if dynamic else spec.id,
            pid=self.pid,
            type=spec.type,
            restart=spec.restart,
            restarts=self.restarts,
        )


class TryAgain:
    """A restart that failed (or was delayed by backoff) is retried from the mailbox."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key


def ok(value: Any = None) -> tuple[str, Any]:
    return ("ok", value)


def error(reason: Any) -> tuple[str, Any]:
    return ("error", reason)


async def request(sup: trouper.Pid | str, message: tuple[Any, ...]) -> Any:
    """Call a supervisor (timeout infinity, as OTP's API does) and unwrap its answer."""
    kind, value = await trouper.call(sup, message, timeout=None)
    if kind == "error":
        raise SupervisorError(value)
    return value


async def which_children(sup: trouper.Pid | str) -> list[ChildInfo]:
    """The children of a supervisor; a static one lists them newest first, as OTP does."""
    result: list[ChildInfo] = await request(sup, ("which_children",))
    return result


async def count_children(sup: trouper.Pid | str) -> ChildCounts:
    """How many specs, live children, supervisors and workers a supervisor has."""
    result: ChildCounts = await request(sup, ("count_children",))
    return result


async def start_child(sup: trouper.Pid | str, spec: Any) -> trouper.Pid | None:
    """Add and start a child; returns its pid (None if it answered ``ignore``).

    A Supervisor takes a :class:`ChildSpec`; a DynamicSupervisor a spec too, or extra
    arguments appended after its ``extra_arguments``. Raises :class:`SupervisorError`.
    """
    result: trouper.Pid | None = await request(sup, ("start_child", spec))
    return result


def send_start_child(sup: trouper.Pid | str, spec: Any) -> trouper.Ref:
    """:func:`start_child` without waiting: returns the request's ref at once.

    The answer arrives later as a ``trouper.Reply(ref, answer)`` message; pass it to
    :func:`start_child_result`. If the supervisor is not running or dies first,
    ``trouper.Down(ref, sup, reason)`` arrives instead (``gen_server:send_request``'s rules).
    Many requests in flight let a supervisor start children back to back, with no task
    switch per child for the caller: how a load of connections arrives from many acceptors.
    """
    return trouper.send_request(sup, ("start_child", spec))


def start_child_result(reply: trouper.Reply) -> trouper.Pid | None:
    """The pid in the answer to :func:`send_start_child`; raises :class:`SupervisorError`."""
    kind, value = reply.value
    if kind == "error":
        raise SupervisorError(value)
    result: trouper.Pid | None = value
    return result


async def terminate_child(sup: trouper.Pid | str, child: Any) -> None:
    """Stop a child (by id; by pid under a DynamicSupervisor). Idempotent for a stopped one."""
    await request(sup, ("terminate_child", child))


async def restart_child(sup: trouper.Pid | str, child_id: Hashable) -> trouper.Pid | None:
    """Start again a child whose spec is kept but which is not running."""
    result: trouper.Pid | None = await request(sup, ("restart_child", child_id))
    return result


async def delete_child(sup: trouper.Pid | str, child_id: Hashable) -> None:
    """Forget the spec of a child that is not running."""
    await request(sup, ("delete_child", child_id))


async def get_childspec(sup: trouper.Pid | str, child: Any) -> ChildSpec:
    """The full spec (with defaults) of a child, by id or pid."""
    result: ChildSpec = await request(sup, ("get_childspec", child))
    return result
