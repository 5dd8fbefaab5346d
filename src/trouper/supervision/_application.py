"""Applications: a named unit that owns a top supervisor, run until SIGINT or SIGTERM.

``trouper.run(app)`` starts a node, starts the application's top supervisor and waits.
On SIGINT or SIGTERM it stops the tree in order (the supervisor stops its children in
reverse start order, each with its shutdown policy) and returns: the program exits 0. If the
top supervisor gives up (its restart intensity was exceeded), the application stops,
``application_stopped`` is logged with the reason, and :class:`ApplicationExit` (a
``SystemExit`` with status 1) is raised: the program exits 1.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

import attrs
import structlog
import trio

import trouper

from ._spec import ChildSpec
from ._supervisor import Supervisor, SupervisorFlags

log = structlog.get_logger("trouper.supervision")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ApplicationExit(SystemExit):
    """The application's top supervisor exited on its own; ``reason`` says why."""

    def __init__(self, name: str, reason: Any) -> None:
        super().__init__(1)
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f"application {self.name!r} stopped: {self.reason!r}"


@attrs.frozen(slots=True)
class _StopSignal:
    signum: int


@attrs.frozen
class Application:
    """A named application: its top supervisor's children and flags.

    Run it with ``trouper.run(app)``, or inside a node with ``await app.start()``.
    """

    name: str
    children: Sequence[ChildSpec] = ()
    flags: SupervisorFlags = attrs.field(factory=SupervisorFlags)

    async def start(self) -> trouper.Pid:
        """Start the top supervisor (registered under the application's name), linked."""
        return await Supervisor.start_link(tuple(self.children), self.flags, name=self.name)

    async def __trouper_main__(self) -> None:
        await run_application(self)


async def _forward_signals(root: trouper.Pid, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        async for signum in signals:
            trouper.send(root, _StopSignal(signum))


async def run_application(app: Application) -> None:
    """Run ``app`` in the calling (root) process until a stop signal or its supervisor's exit."""
    trouper.trap_exit(True)
    root = trouper.self()
    async with trio.open_nursery() as nursery:
        await nursery.start(_forward_signals, root)
        sup = await app.start()
        log.info("application_started", application=app.name, supervisor=repr(sup))
        message = await trouper.receive(
            lambda m: type(m) is _StopSignal or (type(m) is trouper.Exit and m.pid == sup)
        )
        if type(message) is _StopSignal:
            log.info("application_stopping", application=app.name, signal=message.signum)
            trouper.exit(sup, trouper.SHUTDOWN)
            exited = await trouper.receive(lambda m: type(m) is trouper.Exit and m.pid == sup)
            log.info("application_stopped", application=app.name, reason=repr(exited.reason))
            nursery.cancel_scope.cancel()
            return
        nursery.cancel_scope.cancel()
    log.error("application_stopped", application=app.name, reason=repr(message.reason))
    raise ApplicationExit(app.name, message.reason)
