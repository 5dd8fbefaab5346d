"""One WebSocket connection: a supervised task process that owns its socket and channels.

How this works
--------------
The process reads its socket and its mailbox in one trio task: it waits for the socket to
be readable inside ``wake_on_message()``, so a message (a channel's reply, a channel's
exit) wakes it as well. Bytes go through wsproto (frames) and the sans-I/O protocol
``Connection`` (Phoenix's socket rules), which turns them into events: joins start a
channel process linked to this one; pushes are cast to the channel; leaves stop it. The
connection traps exits, so a channel's crash arrives as an ``Exit``: the client gets
``phx_error`` and everyone else carries on. Writes go through ``Outbound`` (non-blocking;
a slow client is disconnected, never waited for). Broadcasts bypass this process entirely:
the fastlane writes their frames to ``Outbound`` from the broadcaster.
"""

from __future__ import annotations

import contextlib
import inspect
import socket as stdlib_socket
from typing import TYPE_CHECKING, Any

import structlog
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

import trouper

from . import protocol
from ._channel import ChannelSocket, ClientLeave, ClientPush
from ._fastlane import Broadcast, FastlaneEntry
from ._frames import ws_frame
from ._http import HttpRequest, HttpResponse, encode_response, read_request, send_all
from ._outbound import Outbound

if TYPE_CHECKING:
    from ._endpoint import Endpoint

log = structlog.get_logger("trouper.channels")

HANDSHAKE_TIMEOUT = 10.0
CLOSED = ("shutdown", "closed")


class Disconnect:
    """Sent to a connection (by the ``"disconnect"`` broadcast on its socket id) to close it."""

    __slots__ = ()


async def serve_connection(
    sock: stdlib_socket.socket, peer: tuple[str, int] | None, endpoint: Endpoint
) -> None:
    """The body of a connection process: one HTTP request, or a WebSocket session."""
    sock.setblocking(False)
    trouper.trap_exit(True)
    try:
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            head = await read_request(sock, peer)
        if head is None:
            return
        request, trailing = head
        if request.path == endpoint.path and request.is_websocket_upgrade:
            await _websocket(sock, request, trailing, endpoint)
            # Not "normal": the channels are linked to this process and must go with it, as
            # Phoenix's transport exits {shutdown, :closed}.
            raise trouper.ProcessExit(CLOSED)
        else:
            await send_all(sock, encode_response(await endpoint.handle_http(request)))
    finally:
        sock.close()


def _refuse(status: int, why: str) -> bytes:
    return encode_response(HttpResponse(status, why.encode()))


async def _websocket(
    sock: stdlib_socket.socket, request: HttpRequest, trailing: bytes, endpoint: Endpoint
) -> None:
    params = dict(request.query)
    vsn = params.pop("vsn", None)
    try:
        serializer = protocol.serializer_for_vsn(vsn, max_frame_size=endpoint.max_frame_size)
    except protocol.UnsupportedVersionError as exc:
        await send_all(sock, _refuse(403, str(exc)))
        return
    if not endpoint.origin_allowed(request.headers.get("origin")):
        await send_all(sock, _refuse(403, "origin not allowed"))
        return
    handler = endpoint.socket()
    connect_info = {"peer": request.peer, "headers": request.headers}
    assigns = handler.connect(params, connect_info)
    if inspect.isawaitable(assigns):
        assigns = await assigns
    ws = WSConnection(ConnectionType.SERVER)
    ws.initiate_upgrade_connection(list(request.raw_headers), request.target)
    if not any(isinstance(event, Request) for event in ws.events()):
        await send_all(sock, _refuse(400, "bad websocket upgrade"))
        return
    if assigns is None:
        await send_all(sock, ws.send(RejectConnection(status_code=403)))
        return
    await send_all(sock, ws.send(AcceptConnection()))
    async with trio.open_nursery() as nursery:
        session = _Session(sock, ws, serializer, handler, assigns, endpoint, nursery)
        if trailing:
            ws.receive_data(trailing)
        await session.run()
        nursery.cancel_scope.cancel()
    if session.stop_reason is not None:
        raise trouper.ProcessExit(session.stop_reason)


class _Session:
    """The state of one WebSocket session (lives inside the connection process)."""

    def __init__(
        self,
        sock: stdlib_socket.socket,
        ws: WSConnection,
        serializer: protocol.Serializer,
        handler: Any,
        assigns: Any,
        endpoint: Endpoint,
        nursery: trio.Nursery,
    ) -> None:
        self.sock = sock
        self.ws = ws
        self.handler = handler
        self.assigns = assigns
        self.endpoint = endpoint
        self.me = trouper.self()
        self.conn = protocol.Connection(
            serializer,
            max_channels=endpoint.max_channels,
            has_route=lambda topic: handler.route(topic) is not None,
        )
        self.outbound = Outbound(sock, nursery, self._slow_consumer, endpoint.max_outbound)
        self.channels: dict[trouper.Pid, tuple[str, str | None]] = {}  # pid -> topic, join_ref
        self.by_topic: dict[str, trouper.Pid] = {}
        self.text: list[str] = []
        self.binary: list[bytes] = []
        self.partial = 0  # length of the message being received so far
        self.stop_reason: Any = None  # set when the supervisor stops this connection
        info = trouper.process_info(self.me)
        self.parent = info.parent if info is not None else None  # the connection supervisor
        self.closing: str | None = None
        socket_id = handler.id(assigns)
        if socket_id is not None:
            trouper.pubsub.subscribe(endpoint.pubsub, f"socket_id:{socket_id}", self.me)

    def _slow_consumer(self) -> None:
        self.closing = "slow consumer"
        trouper.send(self.me, Disconnect())

    async def run(self) -> None:
        idle = self.endpoint.idle_timeout
        deadline = trio.current_time() + idle
        while self.closing is None:
            with trio.move_on_at(deadline), trouper.wake_on_message():
                await trio.lowlevel.wait_readable(self.sock)
            for message in trouper.receive_all_nowait():
                await self._handle_message(message)
            if self.closing is not None:
                break
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                if trio.current_time() >= deadline:
                    self.closing = "idle timeout"
                    self._close(1000, "idle timeout")
                continue
            except OSError:
                return
            if not data:
                return
            deadline = trio.current_time() + idle
            self.ws.receive_data(data)
            await self._handle_ws_events()
            self._flush()

    # -- frames from the client -------------------------------------------------------------

    async def _handle_ws_events(self) -> None:
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                # Count as the parts arrive: a peer must not make us buffer a huge frame
                # before its size is checked.
                self.partial += len(event.data)
                if self.partial > self.endpoint.max_frame_size:
                    self._close(1009, "frame too large")
                    return
                if event.message_finished:
                    self.partial = 0
            if isinstance(event, TextMessage):
                self.text.append(event.data)
                if event.message_finished:
                    frame: str | bytes = "".join(self.text)
                    self.text = []
                    await self._handle_frame(frame)
            elif isinstance(event, BytesMessage):
                self.binary.append(bytes(event.data))
                if event.message_finished:
                    frame = b"".join(self.binary)
                    self.binary = []
                    await self._handle_frame(frame)
            elif isinstance(event, Ping):
                self.outbound.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.outbound.write(self.ws.send(event.response()))
                self.closing = "client closed"
            if self.closing is not None:
                return

    async def _handle_frame(self, frame: str | bytes) -> None:
        try:
            events = self.conn.receive(frame)
        except protocol.ProtocolError as exc:
            log.warning("bad_frame", peer=str(self.me), error=str(exc))
            self._close(exc.close_code, str(exc)[:120])
            return
        for event in events:
            if isinstance(event, protocol.PushReceived):
                pid = self.by_topic.get(event.topic)
                if pid is not None:
                    trouper.cast(pid, ClientPush(event.event, event.payload, event.ref))
            elif isinstance(event, protocol.JoinRequested):
                await self._join(event)
            elif isinstance(event, protocol.ChannelReplaced):
                self._drop_channel(event.topic, ("shutdown", "duplicate_join"))
            elif isinstance(event, protocol.LeaveRequested):
                pid = self.by_topic.get(event.topic)
                if pid is not None:
                    trouper.cast(pid, ClientLeave())

    async def _join(self, event: protocol.JoinRequested) -> None:
        channel_class = self.handler.route(event.topic)
        fastlane = FastlaneEntry(self.outbound, self.conn.serializer, channel_class.intercept)
        socket = ChannelSocket(
            event.topic, event.join_ref, self.assigns, self.me, self.endpoint.pubsub, fastlane
        )
        try:
            pid = await channel_class.start_link(socket, event.payload)
        except trouper.InitError as exc:
            reason = exc.reason
            if _refusal(reason) is not None:
                self.conn.join_error(event.topic, _refusal(reason))
            else:
                self.conn.join_error(event.topic, {"reason": protocol.JOIN_CRASHED})
            return
        assert pid is not None
        fastlane.channel = pid
        self.channels[pid] = (event.topic, event.join_ref)
        self.by_topic[event.topic] = pid
        self.conn.join_ok(event.topic, socket.join_response)
        self._flush()  # the join reply goes out before anything the channel has sent
        fastlane.open()

    def _drop_channel(self, topic: str, reason: Any) -> None:
        pid = self.by_topic.pop(topic, None)
        if pid is not None:
            self.channels.pop(pid, None)
            trouper.unlink(pid)
            trouper.exit(pid, reason)

    # -- messages from channels and the node ------------------------------------------------

    async def _handle_message(self, message: Any) -> None:
        if type(message) is trouper.Exit:
            self._channel_exited(message.pid, message.reason)
        elif type(message) is trouper.pubsub.ShardRestarted:
            socket_id = self.handler.id(self.assigns)
            if socket_id is not None:
                trouper.pubsub.subscribe(self.endpoint.pubsub, f"socket_id:{socket_id}", self.me)
        elif _is_disconnect(message):
            self.closing = self.closing or "disconnect"
            self._close(1001, self.closing)  # "going away": phoenix.js reconnects
        self._flush()

    def _channel_exited(self, pid: trouper.Pid, reason: Any) -> None:
        entry = self.channels.pop(pid, None)
        if entry is None:
            if pid == self.parent:  # our supervisor is stopping us
                self.stop_reason = reason
                self.closing = "server shutdown"
                self._close(1001, "server shutdown")
            return
        topic, join_ref = entry
        if self.by_topic.get(topic) == pid:
            del self.by_topic[topic]
        if trouper.is_clean_exit(reason):
            self.conn.channel_closed(topic, join_ref)
        else:
            self.conn.channel_crashed(topic, join_ref)

    # -- writing ----------------------------------------------------------------------------

    def _flush(self) -> None:
        for frame in self.conn.take_outgoing():
            self.outbound.write(ws_frame(frame))

    def _close(self, code: int, reason: str) -> None:
        self._flush()
        with contextlib.suppress(LocalProtocolError):  # already closing
            self.outbound.write(self.ws.send(CloseConnection(code=code, reason=reason)))
        self.closing = self.closing or reason


def _is_disconnect(message: Any) -> bool:
    """A ``Disconnect``, or the ``"disconnect"`` broadcast on this socket's id topic."""
    kind = type(message)
    return kind is Disconnect or (kind is Broadcast and message.event == "disconnect")


def _refusal(reason: Any) -> Any:
    """The response of a refused join (``("shutdown", ("join_refused", response))``), or None."""
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown":
        detail = reason[1]
        if isinstance(detail, tuple) and len(detail) == 2 and detail[0] == "join_refused":
            return detail[1]
    return None
