"""Room history: the last N messages of each room, sent to a client in its join reply.

One store per application, owned by a GenServer (``HistoryServer``) the way an ETS table
is owned by a process: the table lives as long as its owner, a restart of the owner
starts an empty one, and any process of the node reads and appends directly, without a
message round trip. That is what a room channel needs: its callbacks are plain ``def``
(a reactive process cannot wait for a reply), and a join must answer with the history at
once. Both dimensions are bounded: ``size`` messages per room, ``max_rooms`` rooms (the room
written to least recently is dropped first), so no client can make the store grow without
limit by inventing room names.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import OrderedDict, deque
from typing import Any

import trouper
from trouper.supervision import ChildSpec

Message = dict[str, Any]


class RoomHistory:
    """topic -> the last ``size`` messages, for at most ``max_rooms`` topics."""

    def __init__(self, size: int, max_rooms: int) -> None:
        if size < 0 or max_rooms < 1:
            raise ValueError(f"size must be >= 0 and max_rooms >= 1, not {size}, {max_rooms}")
        self.size = size
        self.max_rooms = max_rooms
        self.rooms: OrderedDict[str, deque[Message]] = OrderedDict()
        self._ids = itertools.count(1)

    def recent(self, topic: str) -> list[Message]:
        return list(self.rooms.get(topic, ()))

    def record(self, topic: str, user: str, body: str) -> Message:
        message = {
            "id": next(self._ids),
            "user": user,
            "body": body,
            "at": int(time.time() * 1000),  # ms since the epoch, as JavaScript's Date wants
        }
        if self.size == 0:
            return message
        room = self.rooms.get(topic)
        if room is None:
            room = self.rooms[topic] = deque(maxlen=self.size)
            while len(self.rooms) > self.max_rooms:
                self.rooms.popitem(last=False)
        else:
            self.rooms.move_to_end(topic)
        room.append(message)
        return message


_stores: dict[str, RoomHistory] = {}


class HistoryServer(trouper.GenServer):
    """Owns one :class:`RoomHistory`, registered under the store's name."""

    def init(self, name: str, size: int, max_rooms: int) -> None:
        self.name = name
        self.store = _stores[name] = RoomHistory(size, max_rooms)

    def terminate(self, reason: Any) -> None:
        if _stores.get(self.name) is self.store:
            del _stores[self.name]


def history_spec(name: str, size: int, max_rooms: int = 1000) -> ChildSpec:
    """The store's owner as a child of the application's supervisor."""
    start = functools.partial(HistoryServer.start_link, name=name)
    return ChildSpec(name, start, (name, size, max_rooms))


def _store(name: str) -> RoomHistory:
    store = _stores.get(name)
    if store is None:
        raise LookupError(f"no history store named {name!r} is running")
    return store


def recent(name: str, topic: str) -> list[Message]:
    """The room's last messages, oldest first."""
    return _store(name).recent(topic)


def record(name: str, topic: str, user: str, body: str) -> Message:
    """Append a message to the room's history; returns it (with its id and time)."""
    return _store(name).record(topic, user, body)
