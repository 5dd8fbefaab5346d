"""Identifiers, exit reasons, system messages and errors shared by the whole runtime.

Exit reasons are plain Python values, as in OTP they are plain terms: the atoms become the
string constants below (``"normal"``, ``"shutdown"``, ``"kill"``, ``"killed"``, ``"noproc"``),
``{shutdown, Detail}`` is the tuple ``("shutdown", detail)``, and a crash's reason is the
exception object that ended the process.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from ._process import Process

NORMAL: Final = "normal"
SHUTDOWN: Final = "shutdown"
KILL: Final = "kill"
KILLED: Final = "killed"
NOPROC: Final = "noproc"


def is_clean_exit(reason: object) -> bool:
    """True for the reasons OTP treats as expected: normal, shutdown and ("shutdown", detail).

    A transient child is not restarted for these, and no crash report is logged for them. From
    the point of view of links only ``normal`` is harmless: the others still kill linked
    processes that do not trap exits.
    """
    if type(reason) is str:
        return reason == NORMAL or reason == SHUTDOWN
    return type(reason) is tuple and len(reason) == 2 and reason[0] == SHUTDOWN


class Pid:
    """A process identifier: unique per node, printed the way Erlang prints pids.

    A pid is a handle, not the process: it stays valid (and comparable, hashable) after the
    process exits; sending to it is then silently dropped.
    """

    __slots__ = ("_n", "_proc")

    def __init__(self, n: int, proc: Process | None) -> None:
        self._n = n
        # The live process record, cleared when the process exits: sends check this one slot.
        self._proc = proc

    @property
    def number(self) -> int:
        """The process's serial number on its node (the middle part of ``<0.N.0>``)."""
        return self._n

    def __repr__(self) -> str:
        return f"<0.{self._n}.0>"

    def __lt__(self, other: Pid) -> bool:
        return self._n < other._n

    def __reduce__(self) -> Any:
        raise TypeError("pids are local to their node and cannot be pickled")


_ref_counter = itertools.count(1)


class Ref:
    """A unique reference (monitor refs, timer refs, call tags), like ``make_ref()``."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n = next(_ref_counter)

    def __repr__(self) -> str:
        return f"#Ref<0.{self._n}>"


def make_ref() -> Ref:
    """Return a new unique reference."""
    return Ref()


@attrs.frozen(slots=True)
class Exit:
    """What a process that traps exits receives for an exit signal: ``{'EXIT', From, Reason}``."""

    pid: Pid
    reason: Any


@attrs.frozen(slots=True)
class Down:
    """A monitor fired: ``{'DOWN', Ref, process, Object, Reason}``.

    ``pid`` is what was monitored: the pid, or the registered name if the monitor was set up
    by name, or ``(name, node)`` for a process on another node (``trouper.cluster.monitor``).
    """

    ref: Ref
    pid: Pid | str | tuple[str, str]
    reason: Any


class ProcessExit(Exception):
    """Raised inside a process to end it with ``reason`` (Erlang's ``exit/1``).

    Also raised out of ``open_node()`` when the root process is killed by an exit signal.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class TrouperError(Exception):
    """Base class of the runtime's errors."""


class NoProcError(TrouperError, LookupError):
    """The process does not exist (or is no longer alive)."""

    def __init__(self, target: object) -> None:
        super().__init__(f"no process: {target!r}")
        self.target = target


class NameNotRegisteredError(NoProcError):
    """A name was used to address a process but nothing is registered under it."""

    def __init__(self, name: str) -> None:
        LookupError.__init__(self, f"no process is registered as {name!r}")
        self.target = name


class AlreadyRegisteredError(TrouperError):
    """The name (or unique registry key) is taken; ``pid`` holds it."""

    def __init__(self, name: object, pid: Pid) -> None:
        super().__init__(f"{name!r} is already registered to {pid!r}")
        self.name = name
        self.pid = pid


class NotInProcessError(TrouperError, RuntimeError):
    """An operation that needs a current process was used outside one (or in the wrong mode)."""


class NoNodeError(TrouperError, RuntimeError):
    """No trouper node is running: start one with ``trouper.run`` or ``trouper.open_node``."""


class ReceiveTimeoutError(TrouperError, TimeoutError):
    """``receive`` timed out and no ``after`` value was given."""


class _Ignore:
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


IGNORE: Any = _Ignore()
"""Returned from ``init`` to give up starting without an error (OTP's ``ignore``)."""

_NO_REPLY: Any = object()


@attrs.frozen
class Stop:
    """Returned from a callback to end the process with ``reason`` after ``terminate`` runs.

    From ``handle_call``, ``reply`` (if given) is sent to the caller after ``terminate``.
    From ``init``, the start fails with ``reason``.
    """

    reason: Any = NORMAL
    reply: Any = _NO_REPLY


class InitError(TrouperError):
    """A behaviour's ``init`` failed, so did its start: ``reason`` says why (``{error, R}``)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"init failed: {reason!r}")
        self.reason = reason


class CallError(TrouperError):
    """A ``call`` got no reply. ``reason`` is OTP's: ``"noproc"``, ``"timeout"``,
    ``"calling_self"``, or the server's exit reason if it died before replying."""

    def __init__(self, reason: Any, server: object, request: object) -> None:
        super().__init__(f"call to {server!r} failed: {reason!r} (request {request!r})")
        self.reason = reason
        self.server = server
        self.request = request


class CallTimeoutError(CallError, TimeoutError):
    """No reply within the call's timeout; the server keeps running and a late reply is dropped."""

    def __init__(self, server: object, request: object, timeout: float) -> None:
        CallError.__init__(self, "timeout", server, request)
        self.timeout = timeout
