"""The fastlane: a broadcast is encoded once per serializer and written to every socket.

A channel subscribes to its topic with a :class:`FastlaneEntry` as the subscription's
value: its connection's outbound bytes, its serializer, and the events it intercepts. The
channels dispatcher (run by pubsub in the broadcaster, once per shard) builds the WebSocket
frame once per serializer and appends the same bytes to each connection; channel processes
are not woken unless they intercept the event (then ``handle_out`` gets it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

import trouper
from trouper.pubsub import register_dispatcher, register_message_type

from ._frames import ws_frame
from .protocol import ProtocolUsageError

if TYPE_CHECKING:
    from ._session import Transport
    from .protocol import Serializer


@attrs.frozen(slots=True)
class Broadcast:
    """What a channel broadcast carries through pubsub: topic, event, payload."""

    topic: str
    event: str
    payload: Any


# Broadcasts cross nodes (a cluster adapter): the payload must be JSON data or bytes.
register_message_type(Broadcast, "trouper.channels.Broadcast")


class FastlaneEntry:
    """A channel's subscription value: where broadcast frames for it go.

    Until the connection has written the join reply, frames (broadcasts, and pushes the
    channel makes from ``join`` or right after it) are held here, so the client always
    sees the join reply first, as with Phoenix.
    """

    __slots__ = ("channel", "held", "intercept", "outbound", "serializer")

    def __init__(self, outbound: Transport, serializer: Serializer, intercept: frozenset[str]):
        self.outbound = outbound
        self.serializer = serializer
        self.intercept = intercept
        self.channel: trouper.Pid | None = None  # set once the channel process exists
        self.held: list[bytes] | None = []  # None once the join reply is out

    def write(self, frame: bytes) -> None:
        held = self.held
        if held is None:
            self.outbound.write(frame)
        else:
            held.append(frame)

    def open(self) -> None:
        """The join reply has been written: release what was held, write directly from now."""
        held, self.held = self.held, None
        for frame in held or ():
            self.outbound.write(frame)


class ChannelDispatcher:
    """Delivers :class:`Broadcast` messages by fastlane (see the module docstring)."""

    name = "trouper.channels.fastlane"

    def dispatch(self, entries: Mapping[trouper.Pid, Any], from_pid: Any, message: Any) -> None:
        if type(message) is not Broadcast:
            for pid in entries:
                if pid is not from_pid:
                    trouper.send(pid, message)
            return
        event = message.event
        frames: dict[type, bytes] = {}
        for pid, entry in entries.items():
            if pid is from_pid:
                continue
            if type(entry) is not FastlaneEntry:
                trouper.send(pid, message)  # a plain subscriber of the topic
            elif event in entry.intercept:
                trouper.cast(pid, message)
            else:
                kind = type(entry.serializer)
                frame = frames.get(kind)
                if frame is None:
                    try:
                        encoded = entry.serializer.encode_broadcast(
                            message.topic, event, message.payload
                        )
                    except ProtocolUsageError:
                        # e.g. a binary payload for a V1 (JSON-only) client: that client
                        # cannot receive it; the others still do.
                        frames[kind] = b""
                        continue
                    frame = frames[kind] = ws_frame(encoded)
                if frame:
                    entry.write(frame)


dispatcher = register_dispatcher(ChannelDispatcher())
