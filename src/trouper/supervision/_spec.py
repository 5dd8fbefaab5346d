"""Child specifications: frozen, validated data that says how to start and stop a child.

A spec is checked when it is built, so a bad one is a clear error before anything starts.
``start`` is the factory:

* an :class:`~trouper.Actor` / :class:`~trouper.GenServer` subclass: started with its
  ``start_link(*args)`` (``init`` runs before the next child starts);
* any callable (sync or async): ``start(*args)`` must start a process linked to the caller
  and return its pid, or None to say "ignore" (OTP's ``ignore``). An ``async def`` process
  body is started with ``start=trouper.spawn_link, args=(body, ...)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable
from typing import Any, Literal

import attrs

import trouper

Restart = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]
Shutdown = float | Literal["brutal_kill", "infinity"]

DEFAULT_WORKER_SHUTDOWN = 5.0  # OTP: 5000 ms for workers, infinity for supervisors


class ChildSpecError(ValueError):
    """A child spec is invalid; the message names the field and the child."""


@attrs.frozen
class Backoff:
    """Exponential restart delay for one child: ``initial * factor**(n-1)``, capped at ``max``.

    ``n`` counts consecutive restarts; it starts again from 1 once the child has stayed up
    for ``reset_after`` seconds. OTP has no backoff; it is off unless a spec asks for it.
    Each delayed restart still counts toward the supervisor's restart intensity when it
    happens.
    """

    initial: float = 0.1
    factor: float = 2.0
    max: float = 30.0
    reset_after: float = 60.0

    def __attrs_post_init__(self) -> None:
        for name in ("initial", "max", "reset_after"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or math.isnan(value):
                raise ChildSpecError(f"backoff {name} must be a number >= 0, not {value!r}")
        if not isinstance(self.factor, int | float) or self.factor < 1:
            raise ChildSpecError(f"backoff factor must be a number >= 1, not {self.factor!r}")

    def delay(self, streak: int) -> float:
        """The delay before the ``streak``-th consecutive restart (streak >= 1)."""
        return float(min(self.max, self.initial * self.factor ** max(0, streak - 1)))


def _check_start(spec_id: object, start: object) -> None:
    if isinstance(start, type):
        if not issubclass(start, trouper.Actor):
            raise ChildSpecError(
                f"child {spec_id!r}: start class {start.__qualname__} is not an Actor/GenServer"
            )
    elif not callable(start):
        raise ChildSpecError(f"child {spec_id!r}: start must be callable, not {start!r}")


def _validate(spec: ChildSpec) -> None:
    try:
        hash(spec.id)
    except TypeError:
        raise ChildSpecError(f"child id must be hashable, not {spec.id!r}") from None
    _check_start(spec.id, spec.start)
    if not isinstance(spec.args, tuple):
        raise ChildSpecError(f"child {spec.id!r}: args must be a tuple, not {spec.args!r}")
    if spec.restart not in ("permanent", "transient", "temporary"):
        raise ChildSpecError(
            f"child {spec.id!r}: restart must be permanent, transient or temporary, "
            f"not {spec.restart!r}"
        )
    if spec.type not in ("worker", "supervisor"):
        raise ChildSpecError(f"child {spec.id!r}: type must be worker or supervisor")
    shutdown = spec.shutdown
    if shutdown not in ("brutal_kill", "infinity") and (
        not isinstance(shutdown, int | float)
        or isinstance(shutdown, bool)
        or shutdown < 0
        or math.isnan(shutdown)
    ):
        raise ChildSpecError(
            f"child {spec.id!r}: shutdown must be brutal_kill, infinity or seconds >= 0, "
            f"not {shutdown!r}"
        )
    if not isinstance(spec.significant, bool):
        raise ChildSpecError(f"child {spec.id!r}: significant must be a bool")
    if spec.significant and spec.restart == "permanent":
        raise ChildSpecError(
            f"child {spec.id!r}: only transient or temporary children can be significant"
        )
    if spec.backoff is not None and not isinstance(spec.backoff, Backoff):
        raise ChildSpecError(f"child {spec.id!r}: backoff must be a Backoff or None")


def _default_shutdown(spec: ChildSpec) -> Shutdown:
    return "infinity" if spec.type == "supervisor" else DEFAULT_WORKER_SHUTDOWN


@attrs.frozen
class ChildSpec:
    """How a supervisor starts, restarts and stops one child (OTP's child spec map).

    Attributes:
        id: unique among the supervisor's children.
        start: the factory (see the module docstring); ``args`` are passed to it.
        restart: ``permanent`` (always restarted), ``transient`` (restarted only after an
            abnormal exit) or ``temporary`` (never restarted; dropped when it ends).
        shutdown: ``"brutal_kill"``, seconds to wait after ``shutdown`` before killing, or
            ``"infinity"``. Defaults to 5 s for workers and infinity for supervisors.
        type: ``worker`` or ``supervisor``.
        significant: its exit can shut the supervisor down (see ``auto_shutdown``).
        backoff: optional restart delay (trouper's addition; OTP restarts at once).
    """

    id: Hashable
    start: Callable[..., Any]
    args: tuple[Any, ...] = ()
    restart: Restart = "permanent"
    shutdown: Shutdown = None  # type: ignore[assignment]  # filled in by type
    type: ChildType = "worker"
    significant: bool = False
    backoff: Backoff | None = None

    def __attrs_post_init__(self) -> None:
        if self.shutdown is None:
            object.__setattr__(self, "shutdown", _default_shutdown(self))
        _validate(self)

    @property
    def is_supervisor(self) -> bool:
        return self.type == "supervisor"


def child_spec(start: Callable[..., Any], *args: Any, **fields: Any) -> ChildSpec:
    """Build a spec the short way: ``child_spec(MyServer, arg, id="a", restart="transient")``.

    The id defaults to the factory's qualified name; a class may define a ``child_spec``
    classmethod of its own, as Elixir modules do.
    """
    fields.setdefault("id", getattr(start, "__qualname__", repr(start)))
    return ChildSpec(start=start, args=args, **fields)


async def start_child_process(spec: ChildSpec, extra: tuple[Any, ...] = ()) -> trouper.Pid | None:
    """Start the process a spec describes, linked to the caller; None means ``ignore``.

    Raises :class:`trouper.InitError` (or whatever the factory raises) if it fails.
    """
    start = spec.start
    args = (*extra, *spec.args)
    if isinstance(start, type) and issubclass(start, trouper.Actor):
        if not start._trouper_task_mode:
            # A reactive init runs inline: no waiting, so no ack event to build and wait on.
            return start.start_link_nowait(*args)
        pid: trouper.Pid | None = await start.start_link(*args)
        return pid
    result = start(*args)
    if inspect.isawaitable(result):
        result = await result
    if result is None or isinstance(result, trouper.Pid):
        return result
    raise TypeError(f"child {spec.id!r}: start returned {result!r}, expected a Pid or None")
