"""Helpers shared by the pubsub tests (``from pubsub_helpers import ...``).

The main one is a reactive subscriber the test can drive.

A :class:`Member` runs every callable it is sent *inside its own reactive callback* (so
``subscribe`` and ``unsubscribe`` are called from a reactive process, as a channel would),
reports ``("done", pid, result)``, and reports every other message as
``("got", pid, message)``. Because messages between two processes keep their order, a
``("done", ...)`` from a member proves every message sent to it before has been reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import trouper
from trouper import pubsub


class Member(trouper.Actor):
    """A reactive process driven by the test (see the module docstring)."""

    def init(self, owner: trouper.Pid) -> None:
        self.owner = owner

    def handle(self, message: Any) -> None:
        if callable(message):
            trouper.send(self.owner, ("done", trouper.self(), message()))
        else:
            trouper.send(self.owner, ("got", trouper.self(), message))


async def run_in(pid: trouper.Pid, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` inside ``pid``'s callback and return its result (fail after 5 s)."""
    trouper.send(pid, fn)
    reply = await trouper.receive(lambda m: m[0] == "done" and m[1] is pid, timeout=5)
    return reply[2]


async def members_subscribed(
    name: str, topic: str, count: int, value: Any = None
) -> list[trouper.Pid]:
    """Spawn ``count`` members, each subscribed to ``topic`` from its own callback."""
    me = trouper.self()
    pids = [trouper.spawn(Member, me) for _ in range(count)]
    for pid in pids:
        await run_in(pid, lambda: pubsub.subscribe(name, topic, value))
    return pids


async def received(pids: Iterable[trouper.Pid]) -> dict[trouper.Pid, list[Any]]:
    """What each member has been sent so far, collected after a round trip to each."""
    pids = list(pids)
    for pid in pids:
        await run_in(pid, lambda: None)
    got: dict[trouper.Pid, list[Any]] = {pid: [] for pid in pids}
    for message in trouper.receive_all_nowait(lambda m: m[0] == "got"):
        got[message[1]].append(message[2])
    return got


class Recorder:
    """A dispatcher that records what it is given (a copy of each mapping) and delivers nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[dict[trouper.Pid, Any], trouper.Pid | None, Any]] = []

    def dispatch(self, subscribers: Any, from_pid: trouper.Pid | None, message: Any) -> None:
        self.calls.append((dict(subscribers), from_pid, message))
