"""Virtual connections: the real socket, channel and pubsub path, without a socket.

A :class:`VirtualConnection` is a connection process like the WebSocket transport's, with
the same :class:`~._session.Session` (Phoenix's socket rules, channel processes, the
fastlane), but its frames arrive as :class:`ClientFrame` messages and what it writes goes to a
transport object of the caller's: a :class:`FrameCounter` that only counts (the scale runs:
millions of subscribers without millions of sockets) or a :class:`FrameRecorder` that keeps
every frame (tests of channels, as Phoenix.ChannelTest does without a socket).

It is a *reactive* process (no trio task: a few hundred bytes), so it serves reactive
channels only; a join of a channel with async callbacks is answered with an error reply.
It traps exits and ends as the WebSocket transport does: ``("shutdown", "closed")`` once
closed (by ``ClientClose``, the socket-id disconnect, a protocol error), or with its
supervisor's reason when stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

import trouper
from trouper.supervision import ChildSpec

from . import protocol
from ._frames import frame_payload
from ._session import CLOSED, Session

if TYPE_CHECKING:
    from ._endpoint import Endpoint

log = structlog.get_logger("trouper.channels")

TASK_CHANNEL = "task channels need a socket connection"
"""The error reason a virtual connection answers a join of an async (task) channel with."""


class ClientFrame:
    """A frame from the virtual client: ``send(connection, ClientFrame(text_or_bytes))``."""

    __slots__ = ("data",)

    def __init__(self, data: str | bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"ClientFrame({self.data!r})"


class ClientClose:
    """The virtual client goes away: the connection ends (``("shutdown", "closed")``)."""

    __slots__ = ()


class FrameCounter:
    """A virtual transport that counts what the server writes and keeps nothing."""

    __slots__ = ("bytes", "close_code", "frames")

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.close_code: int | None = None

    def write(self, data: bytes) -> None:
        self.frames += 1
        self.bytes += len(data)

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code


class FrameRecorder:
    """A virtual transport that keeps every WebSocket frame the server writes, in order.

    ``messages()`` decodes them with the connection's serializer (V2 JSON by default).
    """

    __slots__ = ("close_code", "close_reason", "frames", "serializer")

    def __init__(self, vsn: str | None = "2.0.0") -> None:
        self.frames: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.serializer = protocol.serializer_for_vsn(vsn, role=protocol.CLIENT)

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason

    def messages(self) -> list[protocol.Message]:
        """Every frame so far, decoded (replies as messages with event ``phx_reply``)."""
        return [self.serializer.decode(frame_payload(frame)) for frame in self.frames]


class VirtualConnection(trouper.Actor):
    """A connection process without a socket (see the module docstring)."""

    __slots__ = ("session",)

    def init(
        self,
        endpoint: Endpoint,
        transport: Any,
        params: Mapping[str, str] | None = None,
        vsn: str | None = "2.0.0",
    ) -> Any:
        trouper.trap_exit(True)
        serializer = protocol.serializer_for_vsn(vsn, max_frame_size=endpoint.max_frame_size)
        handler = endpoint.socket()
        assigns = handler.connect(dict(params or {}), {"peer": None, "headers": {}})
        if assigns is None:
            return trouper.Stop(("shutdown", "refused"))
        self.session = Session(endpoint, handler, assigns, serializer, transport)
        return None

    def handle(self, message: Any) -> Any:
        session = self.session
        kind = type(message)
        if kind is ClientFrame:
            join = session.receive_frame(message.data)
            if join is not None:
                log.warning("task_channel_on_virtual_connection", topic=join.topic)
                session.conn.join_error(join.topic, {"reason": TASK_CHANNEL})
                session.flush()
        elif kind is ClientClose:
            session.closing = "client closed"
        else:
            session.handle_message(message)
        if session.closing is not None:
            return trouper.Stop(CLOSED if session.stop_reason is None else session.stop_reason)
        return None


def virtual_connection_spec(
    endpoint: Endpoint,
    transport: Any,
    params: Mapping[str, str] | None = None,
    vsn: str | None = "2.0.0",
) -> ChildSpec:
    """A child spec for a virtual connection (temporary: a closed connection is not restarted).

    Start it under the endpoint's connections supervisor (``"<endpoint name>.connections"``)
    with ``start_child``, as the listener starts socket connections.
    """
    return ChildSpec(
        "connection",
        VirtualConnection,
        (endpoint, transport, params, vsn),
        restart="temporary",
        shutdown=1.0,
    )
