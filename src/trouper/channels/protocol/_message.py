"""Messages: the five fields every Phoenix frame carries, and the reserved names.

A :class:`Message` is what a serializer decodes a frame into and encodes back. Its payload is
a JSON value (a ``dict`` for anything the server sends) or ``bytes`` for a binary frame's raw
payload. A reply is a message with event ``phx_reply`` and payload ``{"status", "response"}``;
:class:`Reply` builds and reads those.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

# A decoded JSON value (dict, list, str, int, float, bool or None) or the raw bytes of a binary
# frame. ``Any`` rather than a recursive alias: ``dict[str, int]`` would not be accepted where a
# ``dict[str, JSON]`` is expected (dict is invariant), which makes the alias useless to callers.
Payload: TypeAlias = Any

PHOENIX_TOPIC = "phoenix"
"""The socket-level topic; only ``heartbeat`` is sent on it."""
HEARTBEAT = "heartbeat"
PHX_JOIN = "phx_join"
PHX_LEAVE = "phx_leave"
PHX_REPLY = "phx_reply"
PHX_ERROR = "phx_error"
PHX_CLOSE = "phx_close"

# Reasons the server puts in ``{"reason": ...}`` error payloads, spelled exactly as Phoenix 1.8.
UNMATCHED_TOPIC = "unmatched topic"
TOO_MANY_CHANNELS = "too many channels joined"
JOIN_CRASHED = "join crashed"
CHANNEL_CRASH = "channel_crash"


@attrs.frozen
class Message:
    """One Phoenix message, in either direction.

    Attributes:
        join_ref: the ``ref`` of the ``phx_join`` that created the channel instance, or None
            (broadcasts, socket-level replies, V1 clients).
        ref: the client's per-push ref that a reply echoes, or None (server pushes).
        topic: e.g. ``"rooms:lobby"``; ``"phoenix"`` is reserved for heartbeats.
        event: e.g. ``"new:msg"`` or one of the reserved ``phx_*`` events.
        payload: a JSON value, or ``bytes`` for a binary frame.
    """

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Payload


@attrs.frozen
class Reply:
    """A ``phx_reply``: the answer to one client push (join, leave, heartbeat or user event).

    On the wire it is a :class:`Message` with event ``phx_reply`` and payload
    ``{"status": status, "response": response}``; ``response`` is a dict, or bytes for a
    binary reply (V2 only).

    Attributes:
        join_ref: the channel's join_ref, None for socket-level replies.
        ref: the ref of the push being answered.
        topic: the push's topic.
        status: ``"ok"``, ``"error"`` or any other status the channel chooses.
        response: the response map (``{}`` when there is nothing to say) or bytes.
    """

    join_ref: str | None
    ref: str | None
    topic: str
    status: str
    response: Payload = attrs.field(factory=dict)

    def to_message(self) -> Message:
        """The message that carries this reply."""
        payload = {"status": self.status, "response": self.response}
        return Message(self.join_ref, self.ref, self.topic, PHX_REPLY, payload)

    @classmethod
    def from_message(cls, message: Message) -> Reply:
        """Read a decoded ``phx_reply`` message (what a client does).

        Raises:
            ValueError: the message is not a reply, or its payload lacks a string status or
                a response.
        """
        payload = message.payload
        if (
            message.event != PHX_REPLY
            or not isinstance(payload, dict)
            or not isinstance(payload.get("status"), str)
            or "response" not in payload
        ):
            raise ValueError(f"not a phx_reply message: {message!r}")
        status, response = payload["status"], payload["response"]
        return cls(message.join_ref, message.ref, message.topic, status, response)
