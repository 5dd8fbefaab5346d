"""Connection: one socket's Phoenix rules (phoenix.md 2.6), without I/O or user code.

How this works: the server feeds every inbound frame to :meth:`Connection.receive`, which
decodes it, applies the socket rules and returns the events the server must act on. Frames the
rules answer by themselves (heartbeat replies, "unmatched topic" errors, leave replies) go to
an outgoing buffer; so do the frames of the commands the server calls once user code has run
(:meth:`~Connection.join_ok`, :meth:`~Connection.push`, ...). The server writes
:meth:`~Connection.take_outgoing` to the socket after each call, in order, and before any
fastlane broadcast frame it writes itself, so the client sees frames in the order of the calls.

As in Phoenix, a join is synchronous: after a :class:`JoinRequested` the server must answer
with ``join_ok`` or ``join_error`` before it feeds the next frame.

| event from ``receive``   | what the server must do                                             |
| ------------------------ | ------------------------------------------------------------------- |
| ``HeartbeatReceived``    | nothing (the ok reply is queued); any frame resets the idle timer   |
| ``JoinRequested``        | start the channel, run its join, answer ``join_ok``/``join_error``  |
| ``ChannelReplaced``      | shut the old channel down (``{shutdown, duplicate_join}``); its     |
|                          | ``phx_close`` is queued after the new join's reply; comes before    |
|                          | the ``JoinRequested`` of the new join                               |
| ``PushReceived``         | hand the event to the channel (``handle_in``); it may ``reply``     |
| ``LeaveRequested``       | stop the channel (``{shutdown, left}``; the ok reply is queued),    |
|                          | then call ``channel_closed``                                        |

The rules the connection applies alone, in the order Phoenix checks them:

1. ``heartbeat`` on topic ``phoenix``: reply ok with ``join_ref`` null.
2. ``phx_join``, topic with a channel: ``ChannelReplaced``, then as rule 3.
3. ``phx_join``: no route for the topic -> error ``"unmatched topic"`` (join_ref null); already
   ``max_channels`` channels -> error ``"too many channels joined"``; else ``JoinRequested``.
4. Topic without a channel: ``phx_leave`` -> reply ok; any other event -> error
   ``"unmatched topic"`` (join_ref null).
5. A ``join_ref`` that is neither null nor the channel's: stale, dropped silently.
6. Channel leaving (a ``phx_leave`` was accepted): dropped; its process has stopped reading.
7. ``phx_leave`` -> reply ok, mark the channel leaving, ``LeaveRequested``.
8. Anything else -> ``PushReceived``.

Channels are named by ``(topic, join_ref)``, as in Phoenix's channel server: a channel that was
replaced or closed may still push or end, and its frames must carry its own join_ref so that
phoenix.js drops them as stale rather than deliver them to the new channel.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import attrs

from ._errors import ProtocolUsageError
from ._message import (
    CHANNEL_CRASH,
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    TOO_MANY_CHANNELS,
    UNMATCHED_TOPIC,
    Message,
    Payload,
    Reply,
)
from ._serializers import SERVER, Frame, InboundFrame, Serializer

DEFAULT_MAX_CHANNELS = 100  # Phoenix 1.8's max_channels_per_transport


# --- Events -------------------------------------------------------------------------------------


@attrs.frozen
class HeartbeatReceived:
    """A client heartbeat; its ok reply is already queued."""

    ref: str | None


@attrs.frozen
class JoinRequested:
    """A ``phx_join`` that passed the routing and limit checks.

    Attributes:
        topic: the topic to join.
        payload: the join params (always a dict).
        join_ref: the channel's join_ref from now on: the message's join_ref, or its ref when
            the client sent none (V1 clients), as Phoenix's channel server does.
        ref: the join push's ref, which the reply echoes.
    """

    topic: str
    payload: dict[str, Payload]
    join_ref: str | None
    ref: str | None


@attrs.frozen
class ChannelReplaced:
    """A second ``phx_join`` on a topic that has a channel: the old one must shut down.

    Attributes:
        topic: the topic.
        join_ref: the old channel's join_ref.
        handle: what the server gave ``join_ok`` for the old channel (its process).
    """

    topic: str
    join_ref: str | None
    handle: Any = attrs.field(default=None, eq=False)


@attrs.frozen
class PushReceived:
    """A client event for a joined channel, to hand to its ``handle_in``.

    Attributes:
        topic: the channel's topic.
        event: the client's event name.
        payload: a JSON value, or bytes from a binary frame.
        join_ref: the channel's join_ref (the message's may have been null).
        ref: the push's ref, for a reply.
    """

    topic: str
    event: str
    payload: Payload
    join_ref: str | None
    ref: str | None


@attrs.frozen
class LeaveRequested:
    """A ``phx_leave`` for a joined channel; the ok reply is queued.

    Attributes:
        topic: the channel's topic.
        join_ref: the channel's join_ref.
        ref: the leave push's ref.
    """

    topic: str
    join_ref: str | None
    ref: str | None


Event: TypeAlias = (
    HeartbeatReceived | JoinRequested | ChannelReplaced | PushReceived | LeaveRequested
)


@attrs.frozen
class ChannelInfo:
    """What the connection knows about one joined channel.

    Attributes:
        join_ref: the channel's join_ref.
        status: ``"joined"``, or ``"leaving"`` once the client's ``phx_leave`` was accepted.
        handle: whatever the server passed to ``join_ok`` to find the channel by (its
            process); kept here so the server needs no table of its own. Not compared.
    """

    join_ref: str | None
    status: Literal["joined", "leaving"] = "joined"
    handle: Any = attrs.field(default=None, eq=False)


def _always(topic: str) -> bool:
    return True


# --- The connection -----------------------------------------------------------------------------


class Connection:
    """The per-connection state machine of a Phoenix socket.

    Args:
        serializer: a ``SERVER`` serializer, chosen with ``serializer_for_vsn``; every outgoing
            frame uses it.
        max_channels: how many channels (joined or leaving) the client may have at once.
        has_route: whether a ``channel "pattern"`` route exists for a topic; the default
            routes every topic.
    """

    # Slots, and no list until there is something to hold: a server keeps one Connection per
    # socket, millions in the scale runs.
    __slots__ = (
        "_after_join",
        "_channels",
        "_has_route",
        "_max_channels",
        "_outgoing",
        "_pending",
        "_pending_reply_join_ref",
        "_serializer",
    )

    def __init__(
        self,
        serializer: Serializer,
        *,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        has_route: Callable[[str], bool] = _always,
    ) -> None:
        if serializer.role is not SERVER:
            raise ProtocolUsageError("a Connection needs a SERVER serializer")
        self._serializer = serializer
        self._max_channels = max_channels
        self._has_route = has_route
        self._channels: dict[str, ChannelInfo] = {}
        self._pending: JoinRequested | None = None
        # The pending join message's own join_ref, which its reply echoes (null stays null).
        self._pending_reply_join_ref: str | None = None
        # Frames held back until the pending join is answered: the old channel's phx_close
        # after a duplicate join goes out after the new join's reply, as in Phoenix.
        self._after_join: list[Frame] | None = None
        self._outgoing: list[Frame] | None = None

    @property
    def serializer(self) -> Serializer:
        """The serializer every frame goes through."""
        return self._serializer

    @property
    def channels(self) -> Mapping[str, ChannelInfo]:
        """Topic -> channel, for every joined or leaving channel (a read-only live view)."""
        return MappingProxyType(self._channels)

    def channel(self, topic: str) -> ChannelInfo | None:
        """The joined or leaving channel on ``topic``, if any."""
        return self._channels.get(topic)

    @property
    def pending_join(self) -> JoinRequested | None:
        """The join waiting for ``join_ok``/``join_error``, if any."""
        return self._pending

    def take_outgoing(self) -> list[Frame]:
        """Return the frames to write, oldest first, and forget them."""
        frames, self._outgoing = self._outgoing, None
        return [] if frames is None else frames

    # --- Inbound --------------------------------------------------------------------------------

    def receive(self, frame: InboundFrame) -> list[Event]:
        """Decode one inbound frame, apply the socket rules, return what the server must do.

        Raises:
            ProtocolError: the frame is garbage; close the socket with the error's close_code.
                The connection's state is unchanged.
            ProtocolUsageError: a join is still pending.
        """
        if self._pending is not None:
            raise ProtocolUsageError(
                f"join of {self._pending.topic!r} is pending: call join_ok or join_error first"
            )
        return self._handle(self._serializer.decode(frame))

    def _handle(self, m: Message) -> list[Event]:
        if m.topic == PHOENIX_TOPIC and m.event == HEARTBEAT:
            self._reply(None, m.ref, m.topic, "ok", {})
            return [HeartbeatReceived(m.ref)]
        info = self._channels.get(m.topic)
        if m.event == PHX_JOIN:
            if info is None:
                return self._join(m)
            del self._channels[m.topic]
            self._after_join = [self._close_frame(m.topic, info.join_ref)]
            return [ChannelReplaced(m.topic, info.join_ref, info.handle), *self._join(m)]
        if info is None:
            if m.event == PHX_LEAVE:
                self._reply(m.join_ref, m.ref, m.topic, "ok", {})
            else:
                # The server dropped the channel and the client kept sending.
                self._reply(None, m.ref, m.topic, "error", {"reason": UNMATCHED_TOPIC})
            return []
        if (m.join_ref is not None and m.join_ref != info.join_ref) or info.status == "leaving":
            return []
        if m.event == PHX_LEAVE:
            self._channels[m.topic] = attrs.evolve(info, status="leaving")
            self._reply(info.join_ref, m.ref, m.topic, "ok", {})
            return [LeaveRequested(m.topic, info.join_ref, m.ref)]
        return [PushReceived(m.topic, m.event, m.payload, info.join_ref, m.ref)]

    def _join(self, m: Message) -> list[Event]:
        if not self._has_route(m.topic):
            self._reply(None, m.ref, m.topic, "error", {"reason": UNMATCHED_TOPIC})
        elif len(self._channels) >= self._max_channels:
            self._reply(m.join_ref, m.ref, m.topic, "error", {"reason": TOO_MANY_CHANNELS})
        else:
            join_ref = m.ref if m.join_ref is None else m.join_ref
            # Interned: every channel keeps its topic and join_ref for its whole life, and a
            # million clients joining "rooms:lobby" with join_ref "1" need one copy of each.
            topic = sys.intern(m.topic)
            if type(join_ref) is str:
                join_ref = sys.intern(join_ref)
            self._pending = JoinRequested(topic, m.payload, join_ref, m.ref)
            self._pending_reply_join_ref = m.join_ref
            return [self._pending]
        self._flush_after_join()
        return []

    # --- Commands -------------------------------------------------------------------------------

    def join_ok(self, topic: str, response: Payload = None, *, handle: Any = None) -> None:
        """The channel's join succeeded: record it and reply ok with ``response`` (or ``{}``).

        ``handle`` is the server's own reference to the channel (a process), handed back in
        :meth:`channel` and :class:`ChannelReplaced`.

        Raises:
            ProtocolUsageError: no join of ``topic`` is pending.
        """
        join = self._take_pending(topic)
        self._channels[topic] = ChannelInfo(join.join_ref, "joined", handle)
        self._answer_join(join, "ok", {} if response is None else response)

    def join_error(self, topic: str, response: Payload) -> None:
        """The join failed (refused, or crashed: ``{"reason": JOIN_CRASHED}``): reply error.

        Raises:
            ProtocolUsageError: no join of ``topic`` is pending.
        """
        self._answer_join(self._take_pending(topic), "error", response)

    def reply(
        self, topic: str, join_ref: str | None, ref: str | None, status: str, response: Payload
    ) -> None:
        """A channel answers the push ``ref`` (``{:reply, {status, response}, socket}``)."""
        self._reply(join_ref, ref, topic, status, response)

    def push(self, topic: str, join_ref: str | None, event: str, payload: Payload) -> None:
        """A channel pushes ``event`` to its client (``push/3``): a dict, or bytes (V2)."""
        self._write(Message(join_ref, None, topic, event, payload))

    def channel_closed(self, topic: str, join_ref: str | None) -> bool:
        """The channel ended gracefully: forget it and send ``phx_close``.

        Returns:
            False, sending nothing, when that channel is already gone (replaced by a new
            join or already ended): channels end asynchronously, so this is not an error.
        """
        if not self._forget(topic, join_ref):
            return False
        self._append(self._close_frame(topic, join_ref))
        return True

    def channel_crashed(self, topic: str, join_ref: str | None) -> bool:
        """The channel died abnormally: forget it and send ``phx_error``; the client rejoins.

        Returns:
            False, sending nothing, when that channel is already gone.
        """
        if not self._forget(topic, join_ref):
            return False
        self._write(Message(join_ref, join_ref, topic, PHX_ERROR, {"reason": CHANNEL_CRASH}))
        return True

    # --- Internal -------------------------------------------------------------------------------

    def _take_pending(self, topic: str) -> JoinRequested:
        join = self._pending
        if join is None or join.topic != topic:
            raise ProtocolUsageError(f"no join of {topic!r} is pending")
        self._pending = None
        return join

    def _answer_join(self, join: JoinRequested, status: str, response: Payload) -> None:
        self._reply(self._pending_reply_join_ref, join.ref, join.topic, status, response)
        self._flush_after_join()

    def _flush_after_join(self) -> None:
        held = self._after_join
        if held is not None:
            self._after_join = None
            for frame in held:
                self._append(frame)

    def _forget(self, topic: str, join_ref: str | None) -> bool:
        info = self._channels.get(topic)
        if info is None or info.join_ref != join_ref:
            return False
        del self._channels[topic]
        return True

    def _close_frame(self, topic: str, join_ref: str | None) -> Frame:
        return self._serializer.encode(Message(join_ref, join_ref, topic, PHX_CLOSE, {}))

    def _reply(
        self, join_ref: str | None, ref: str | None, topic: str, status: str, response: Payload
    ) -> None:
        self._write(Reply(join_ref, ref, topic, status, response))

    def _write(self, message: Message | Reply) -> None:
        self._append(self._serializer.encode(message))

    def _append(self, frame: Frame) -> None:
        if self._outgoing is None:
            self._outgoing = [frame]
        else:
            self._outgoing.append(frame)
