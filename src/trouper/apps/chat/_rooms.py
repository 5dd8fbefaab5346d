"""The chat's socket and room channel: who connects, what a room does.

A browser connects to ``/socket/websocket?user=NAME`` and joins ``rooms:ROOM``. The join
reply carries the room's recent history; right after it the channel pushes
``presence_state`` and tracks the user, which tells everyone in the room (phoenix.js's
``Presence`` helper does the rest). ``new_msg`` is recorded in the history and broadcast.
``/crash`` (or the ``crash`` event) makes the channel raise on purpose: that user's channel
process dies, the client gets ``phx_error`` and phoenix.js rejoins; nobody else notices.

What Tsung sends (V1 JSON, no ``vsn``, ``{"user": id}`` in the join payload of
``rooms:lobby``, no socket params) is accepted as it is.

The room channel's callbacks are plain ``def``: a reactive process, no task while idle.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, ClassVar

import structlog

import trouper
from trouper import pubsub
from trouper.channels import Channel, JoinRefused, Reply, Socket, list_presences, track

from . import _history as history
from ._config import ROOM, ChatConfig, Session, clean_name
from ._observer import ObserverChannel

log = structlog.get_logger("trouper.apps.chat")

CRASH_COMMAND = "/crash"
_guests = itertools.count(1)


class CrashRequested(RuntimeError):
    """Raised by a room channel whose user asked it to crash (the demo of isolation)."""


class _AfterJoin:
    """Sent by a channel to itself: push the presence state once the join reply is out."""

    __slots__ = ()


AFTER_JOIN = _AfterJoin()


class RoomChannel(Channel):
    """One user in one room (``rooms:<room>``)."""

    def join(self, topic: str, payload: Any) -> Any:
        session: Session = self.socket.assigns
        self.config = session.config
        room = topic.partition(":")[2]
        if not ROOM.fullmatch(room):
            raise JoinRefused({"reason": "a room name is 1-32 letters, digits, - or _"})
        given = payload.get("user") if isinstance(payload, dict) else None
        self.user = clean_name(given) or session.user or f"guest-{next(_guests)}"
        self.node = pubsub.node_name(self.config.pubsub)
        trouper.send(trouper.self(), AFTER_JOIN)
        log.info("user_joined", room=room, user=self.user, channel=str(trouper.self()))
        return {
            "user": self.user,
            "room": room,
            "node": self.node,
            "history": history.recent(self.config.history_store, topic),
        }

    def handle_info(self, message: Any) -> Any:
        if message is AFTER_JOIN:
            topic = self.socket.topic
            self.socket.push("presence_state", list_presences(self.config.presence, topic))
            meta = {"online_at": int(time.time() * 1000), "node": self.node}
            track(self.config.presence, topic, self.user, meta)
            return None
        return super().handle_info(message)

    def handle_in(self, event: str, payload: Any) -> Any:
        body = payload.get("body") if isinstance(payload, dict) else None
        if event == "crash" or (isinstance(body, str) and body.strip() == CRASH_COMMAND):
            self._crash()
        if event != "new_msg":
            return Reply("error", {"reason": f"unknown event {event!r}"})
        if not isinstance(body, str) or not body.strip():
            return Reply("error", {"reason": "a message needs a non-empty body"})
        message = history.record(
            self.config.history_store,
            self.socket.topic,
            self.user,
            body.strip()[: self.config.max_body],
        )
        self.socket.broadcast("new_msg", message)
        return Reply("ok", {"id": message["id"]})

    def terminate(self, reason: Any) -> None:
        room = self.socket.topic.partition(":")[2]
        if trouper.is_clean_exit(reason):
            log.info("user_left", room=room, user=self.user, reason=repr(reason))
        else:  # the crash report with its traceback follows
            log.warning("channel_crashed", room=room, user=self.user, channel=str(trouper.self()))

    def _crash(self) -> None:
        self.socket.broadcast(
            "notice",
            {
                "kind": "crash",
                "user": self.user,
                "body": f"{self.user} crashed their channel process on purpose",
            },
        )
        raise CrashRequested(f"{self.user} asked their channel in {self.socket.topic} to crash")


class ChatSocket(Socket):
    """Accepts everyone; ``user`` in the socket params is the default display name."""

    config: ClassVar[ChatConfig]
    channels = (("rooms:*", RoomChannel), ("observer:tree", ObserverChannel))

    def connect(self, params: Any, connect_info: Any) -> Any:
        return Session(self.config, clean_name(params.get("user")))


def chat_socket(config: ChatConfig) -> type[ChatSocket]:
    """The socket class of one application (the endpoint builds one instance per connection)."""
    return type("ChatSocket", (ChatSocket,), {"config": config})
