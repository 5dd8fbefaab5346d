"""One Phoenix socket session inside a connection process: frames in, channels, frames out.

How this works
--------------
A connection process (the WebSocket transport in ``_transport``, or a virtual one in
``_virtual``) owns one :class:`Session` and does the I/O; the session does the rest, the same
way for both. The transport hands it each complete frame (:meth:`Session.receive_frame`) and
each message the process receives (:meth:`Session.handle_message`). Frames go through the
sans-I/O protocol ``Connection`` (Phoenix's socket rules), whose events the session acts on:
a join starts the channel process linked to the connection, a push is cast to the channel, a
leave asks it to stop. The connection process traps exits, so a channel's end arrives as an
``Exit``: ``phx_close`` or ``phx_error`` goes to the client and everyone else carries on.

Joins are synchronous, as in Phoenix. A reactive channel (plain-def callbacks) is started
inline (``start_link_nowait``): its join is answered before ``receive_frame`` returns, so a
reactive connection process can serve it. A task channel's join may await: ``receive_frame``
returns its :class:`~.protocol.JoinRequested` and the caller must ``await join(event)``
before it feeds the next frame.

Everything written goes through the transport's ``write`` as a whole WebSocket frame; the
fastlane writes broadcast frames to the same transport from the broadcaster, without this
session or the channel process running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import structlog

import trouper
from trouper import pubsub

from . import protocol
from ._channel import ChannelSocket, ClientLeave, ClientPush
from ._fastlane import Broadcast, FastlaneEntry
from ._frames import ws_frame

if TYPE_CHECKING:
    from ._endpoint import Endpoint
    from ._socket import Socket

log = structlog.get_logger("trouper.channels")

CLOSED = ("shutdown", "closed")
"""The exit reason of a connection whose client went away (Phoenix's ``{shutdown, :closed}``).

Not ``normal``: the channels are linked to the connection and must go with it.
"""


class Transport(Protocol):
    """Where a session's frames go: the connection's socket, or a virtual stand-in."""

    def write(self, data: bytes) -> None:
        """Queue one whole WebSocket frame for the client; never blocks."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Send the WebSocket close frame (after everything written so far)."""
        ...


class Disconnect:
    """Sent to a connection (by the ``"disconnect"`` broadcast on its socket id) to close it."""

    __slots__ = ()


class Session:
    """The state of one socket session; lives in (and is only used by) its connection process."""

    __slots__ = (
        "assigns",
        "closing",
        "conn",
        "endpoint",
        "handler",
        "me",
        "parent",
        "stop_reason",
        "transport",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        handler: Any,
        assigns: Any,
        serializer: protocol.Serializer,
        transport: Transport,
    ) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self.assigns = assigns
        self.transport = transport
        self.me = trouper.self()
        self.conn = protocol.Connection(
            serializer, max_channels=endpoint.max_channels, has_route=_route_check(type(handler))
        )
        self.closing: str | None = None  # why the session is ending, once it is
        self.stop_reason: Any = None  # set when the supervisor stops this connection
        self.parent: trouper.Pid | None = None  # the connection supervisor, looked up once
        socket_id = handler.id(assigns)
        if socket_id is not None:
            pubsub.subscribe(endpoint.pubsub, f"socket_id:{socket_id}", self.me)

    # -- frames from the client -------------------------------------------------------------

    def receive_frame(self, frame: str | bytes) -> protocol.JoinRequested | None:
        """Act on one complete frame from the client.

        Returns a task channel's join, which the caller must complete with :meth:`join`
        before the next frame; None otherwise.
        """
        try:
            events = self.conn.receive(frame)
        except protocol.ProtocolError as exc:
            log.warning("bad_frame", connection=str(self.me), error=str(exc))
            self.close(exc.close_code, str(exc)[:120])
            return None
        pending = None
        for event in events:
            if type(event) is protocol.PushReceived:
                pid = self._channel(event.topic)
                if pid is not None:
                    trouper.cast(pid, ClientPush(event.event, event.payload, event.ref))
            elif type(event) is protocol.JoinRequested:
                channel_class = self.handler.route(event.topic)
                if channel_class._trouper_task_mode:
                    pending = event
                else:
                    self._start_channel(event, channel_class)
            elif type(event) is protocol.ChannelReplaced:
                if event.handle is not None:
                    trouper.unlink(event.handle)
                    trouper.exit(event.handle, ("shutdown", "duplicate_join"))
            elif type(event) is protocol.LeaveRequested:
                pid = self._channel(event.topic)
                if pid is not None:
                    trouper.cast(pid, ClientLeave())
        self.flush()
        return pending

    async def join(self, event: protocol.JoinRequested) -> None:
        """Complete a task channel's join that :meth:`receive_frame` returned."""
        channel_class = self.handler.route(event.topic)
        socket, fastlane = self._channel_socket(event, channel_class)
        try:
            pid = await channel_class.start_link(socket, event.payload)
        except trouper.InitError as exc:
            self._join_failed(event, exc.reason)
            return
        self._joined(event, pid, socket, fastlane)

    def _start_channel(self, event: protocol.JoinRequested, channel_class: Any) -> None:
        socket, fastlane = self._channel_socket(event, channel_class)
        try:
            pid = channel_class.start_link_nowait(socket, event.payload)
        except trouper.InitError as exc:
            self._join_failed(event, exc.reason)
            return
        self._joined(event, pid, socket, fastlane)

    def _channel_socket(
        self, event: protocol.JoinRequested, channel_class: Any
    ) -> tuple[ChannelSocket, FastlaneEntry]:
        fastlane = FastlaneEntry(self.transport, self.conn.serializer, channel_class.intercept)
        socket = ChannelSocket(
            event.topic, event.join_ref, self.assigns, self.me, self.endpoint.pubsub, fastlane
        )
        return socket, fastlane

    def _join_failed(self, event: protocol.JoinRequested, reason: Any) -> None:
        refusal = _refusal(reason)
        response = refusal if refusal is not None else {"reason": protocol.JOIN_CRASHED}
        self.conn.join_error(event.topic, response)
        self.flush()

    def _joined(
        self,
        event: protocol.JoinRequested,
        pid: trouper.Pid | None,
        socket: ChannelSocket,
        fastlane: FastlaneEntry,
    ) -> None:
        assert pid is not None  # channels never return IGNORE from init
        fastlane.channel = pid
        response, socket.join_response = socket.join_response, None
        self.conn.join_ok(event.topic, response, handle=pid)
        self.flush()  # the join reply goes out before anything the channel has sent
        fastlane.open()

    def _channel(self, topic: str) -> trouper.Pid | None:
        info = self.conn.channel(topic)
        return None if info is None else info.handle

    # -- messages from channels and the node ------------------------------------------------

    def handle_message(self, message: Any) -> None:
        """Act on one message the connection process received."""
        kind = type(message)
        if kind is trouper.Exit:
            self._exited(message.pid, message.reason)
        elif kind is pubsub.ShardRestarted:
            socket_id = self.handler.id(self.assigns)
            if socket_id is not None:
                pubsub.subscribe(self.endpoint.pubsub, f"socket_id:{socket_id}", self.me)
        elif kind is Disconnect or (kind is Broadcast and message.event == "disconnect"):
            self.close(1001, self.closing or "disconnect")  # "going away": phoenix.js reconnects
        self.flush()

    def _exited(self, pid: trouper.Pid, reason: Any) -> None:
        # A linear search: a connection has at most max_channels channels (100), most one,
        # and a table pid -> topic would cost every connection ~200 bytes.
        for topic, info in self.conn.channels.items():
            if info.handle == pid:
                if trouper.is_clean_exit(reason):
                    self.conn.channel_closed(topic, info.join_ref)
                else:
                    # The connection supervises its channels (it does not restart them: the
                    # client rejoins), so it reports the crash as a supervisor would.
                    log.error(
                        "child_terminated",
                        supervisor=repr(self.me),
                        child_id=("channel", topic),
                        pid=repr(pid),
                        reason=repr(reason),
                    )
                    self.conn.channel_crashed(topic, info.join_ref)
                return
        if self.parent is None:
            me = trouper.process_info(self.me)
            self.parent = me.parent if me is not None else None
        if pid == self.parent:  # our supervisor is stopping us
            self.stop_reason = reason
            self.close(1001, "server shutdown")

    # -- writing ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what the protocol has queued (replies, phx_close, phx_error), in order."""
        for frame in self.conn.take_outgoing():
            self.transport.write(ws_frame(frame))

    def close(self, code: int, reason: str) -> None:
        """Flush, then send the close frame; the transport ends the session."""
        self.flush()
        self.transport.close(code, reason)  # a second close is the transport's no-op
        self.closing = self.closing or reason


_route_checks: dict[type[Socket], Callable[[str], bool]] = {}


def _route_check(socket_class: type[Socket]) -> Callable[[str], bool]:
    # One bound method per Socket class, not one per connection (64 bytes each).
    check = _route_checks.get(socket_class)
    if check is None:
        check = _route_checks[socket_class] = socket_class.has_route
    return check


def _refusal(reason: Any) -> Any:
    """The response of a refused join (``("shutdown", ("join_refused", response))``), or None."""
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown":
        detail = reason[1]
        if isinstance(detail, tuple) and len(detail) == 2 and detail[0] == "join_refused":
            return detail[1]
    return None
