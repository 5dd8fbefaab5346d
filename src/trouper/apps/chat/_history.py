"""Room history: the last N messages of each room, sent to a client in its join reply.

One store per application and node, owned by a GenServer (``HistoryServer``) the way an
ETS table is owned by a process: the table lives as long as its owner, a restart of the
owner starts an empty one, and any process of the node reads and appends directly, without
a message round trip. That is what a room channel needs: its callbacks are plain ``def``
(a reactive process cannot wait for a reply), and a join must answer with the history at
once. Both dimensions are bounded: ``size`` messages per room, ``max_rooms`` rooms (the room
written to least recently is dropped first), so no client can make the store grow without
limit by inventing room names.

Across nodes: every owner subscribes to one pubsub topic (the store's name). ``record``
appends on this node, then broadcasts the message on that topic to the other nodes' owners
(``broadcast_from`` skips this node's own), which append it to theirs. So a user sees the
same room history whichever node serves them. A room's broadcast cannot carry it: a node
where nobody is in the room has no subscriber of the room's topic, and a broadcast reaches
only subscribers. On a single node the topic has no other subscriber and the broadcast
delivers nothing.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import OrderedDict, deque
from typing import Any

import attrs
import structlog

import trouper
from trouper import pubsub
from trouper.supervision import ChildSpec

log = structlog.get_logger("trouper.apps.chat")

Message = dict[str, Any]

# Per node (OS process), not per store: a restarted owner goes on numbering, so a page that
# still shows message 7 does not take a new message 7 for one it has.
_ids = itertools.count(1)
FIELDS = {"id": int, "user": str, "body": str, "at": int, "node": str}


class RoomHistory:
    """topic -> the last ``size`` messages, for at most ``max_rooms`` topics."""

    def __init__(self, size: int, max_rooms: int, node: str = "nonode@nohost") -> None:
        if size < 0 or max_rooms < 1:
            raise ValueError(f"size must be >= 0 and max_rooms >= 1, not {size}, {max_rooms}")
        self.size = size
        self.max_rooms = max_rooms
        self.node = node
        self.rooms: OrderedDict[str, deque[Message]] = OrderedDict()

    def recent(self, topic: str) -> list[Message]:
        return list(self.rooms.get(topic, ()))

    def record(self, topic: str, user: str, body: str) -> Message:
        """A new message said on this node: numbered, timed, appended; returns it."""
        message = {
            "id": next(_ids),  # unique per node; (node, id) is unique in the cluster
            "user": user,
            "body": body,
            "at": int(time.time() * 1000),  # ms since the epoch, as JavaScript's Date wants
            "node": self.node,
        }
        self.append(topic, message)
        return message

    def append(self, topic: str, message: Message) -> None:
        """Add a message as it is (one said on another node)."""
        if self.size == 0:
            return
        room = self.rooms.get(topic)
        if room is None:
            room = self.rooms[topic] = deque(maxlen=self.size)
            while len(self.rooms) > self.max_rooms:
                self.rooms.popitem(last=False)
        else:
            self.rooms.move_to_end(topic)
        room.append(message)


@attrs.frozen(slots=True)
class Recorded:
    """One node's owner -> the others': a message said in ``topic``."""

    topic: str
    message: Message


pubsub.register_message_type(Recorded, "trouper.apps.chat.Recorded")


def well_formed(recorded: Recorded) -> bool:
    """What another node sent is a message as ``record`` makes them (Redis is trusted as a
    bus, but a bad message must not take the store down)."""
    message = recorded.message
    return (
        isinstance(recorded.topic, str)
        and isinstance(message, dict)
        and message.keys() == FIELDS.keys()
        and all(type(message[key]) is kind for key, kind in FIELDS.items())
    )


class HistoryServer(trouper.GenServer):
    """Owns one :class:`RoomHistory`, registered under the store's name; appends what the
    owners on other nodes record."""

    def init(self, name: str, size: int, max_rooms: int, pubsub_name: str) -> None:
        self.name = name
        self.pubsub = pubsub_name
        self.me = trouper.self()
        self.store = RoomHistory(size, max_rooms, pubsub.node_name(pubsub_name))
        pubsub.subscribe(pubsub_name, name)
        _servers[name] = self

    def handle_info(self, message: Any) -> None:
        match message:
            case Recorded() if well_formed(message):
                self.store.append(message.topic, message.message)
            case Recorded():
                log.warning("history_bad_message", store=self.name, message=repr(message)[:200])
            case pubsub.ShardRestarted(topics=topics) if self.name in topics:
                pubsub.subscribe(self.pubsub, self.name)

    def terminate(self, reason: Any) -> None:
        if _servers.get(self.name) is self:
            del _servers[self.name]


_servers: dict[str, HistoryServer] = {}


def history_spec(name: str, size: int, max_rooms: int, pubsub_name: str) -> ChildSpec:
    """The store's owner as a child of the application's supervisor (after the pubsub)."""
    start = functools.partial(HistoryServer.start_link, name=name)
    return ChildSpec(name, start, (name, size, max_rooms, pubsub_name))


def _server(name: str) -> HistoryServer:
    server = _servers.get(name)
    if server is None:
        raise LookupError(f"no history store named {name!r} is running")
    return server


def recent(name: str, topic: str) -> list[Message]:
    """The room's last messages, oldest first."""
    return _server(name).store.recent(topic)


def record(name: str, topic: str, user: str, body: str) -> Message:
    """Append a message to the room's history on every node; returns it (with its id, time
    and node)."""
    server = _server(name)
    message = server.store.record(topic, user, body)
    pubsub.broadcast_from(server.pubsub, server.me, name, Recorded(topic, message))
    return message
