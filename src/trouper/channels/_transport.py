"""One WebSocket connection: a supervised task process that owns its socket and channels.

How this works
--------------
The process reads its socket and its mailbox in one trio task: it waits for the socket to
be readable inside ``wake_on_message()``, so a message (a channel's reply, a channel's
exit) wakes it as well. Bytes go through wsproto (WebSocket frames) to the connection's
:class:`~._session.Session`, which applies Phoenix's socket rules and runs the channels.
Writes go through ``Outbound`` (non-blocking; a slow client is disconnected, never waited
for). Broadcasts bypass this process entirely: the fastlane writes their frames to
``Outbound`` from the broadcaster.
"""

from __future__ import annotations

import contextlib
import inspect
import socket as stdlib_socket
from typing import TYPE_CHECKING, Any

import trio
from wsproto.connection import Connection as WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

import trouper

from . import protocol
from ._handshake import HandshakeError, accept_response, check_upgrade, refuse
from ._http import HttpResponse, encode_response, read_request, send_all
from ._outbound import Outbound
from ._session import CLOSED, Disconnect, Session

if TYPE_CHECKING:
    from ._endpoint import Endpoint

HANDSHAKE_TIMEOUT = 10.0


async def serve_connection(
    sock: stdlib_socket.socket, peer: tuple[str, int] | None, endpoint: Endpoint
) -> None:
    """The body of a connection process: one HTTP request, or a WebSocket session."""
    sock.setblocking(False)
    trouper.trap_exit(True)
    try:
        opened = await _open(sock, peer, endpoint)
        if opened is not None:
            # The request and its parser are gone by now: a session keeps only what it uses.
            session, ws = opened
            await _run_session(sock, ws, session)
            if session.stop_reason is not None:
                raise trouper.ProcessExit(session.stop_reason)
            # Not "normal": the channels are linked to this process and must go with it, as
            # Phoenix's transport exits {shutdown, :closed}.
            raise trouper.ProcessExit(CLOSED)
    finally:
        trio.lowlevel.notify_closing(sock)  # wakes a writer still waiting on it
        sock.close()


async def _open(
    sock: stdlib_socket.socket, peer: tuple[str, int] | None, endpoint: Endpoint
) -> tuple[Session, WSConnection] | None:
    """Read the request: answer a page, refuse, or upgrade and return the new session."""
    with trio.move_on_after(HANDSHAKE_TIMEOUT):
        head = await read_request(sock, peer)
    if head is None:
        return None
    request, trailing = head
    if request.path != endpoint.path or not request.is_websocket_upgrade:
        await send_all(sock, encode_response(await endpoint.handle_http(request)))
        return None
    try:
        upgrade = check_upgrade(request)
    except HandshakeError as exc:
        await send_all(sock, refuse(exc))
        return None
    params = dict(request.query)
    vsn = params.pop("vsn", None)
    try:
        serializer = protocol.serializer_for_vsn(vsn, max_frame_size=endpoint.max_frame_size)
    except protocol.UnsupportedVersionError as exc:
        await send_all(sock, _refuse(403, str(exc)))
        return None
    if not endpoint.origin_allowed(request.headers.get("origin")):
        await send_all(sock, _refuse(403, "origin not allowed"))
        return None
    handler = endpoint.socket()
    connect_info: dict[str, Any] = {"peer": request.peer, "headers": request.headers}
    if upgrade.auth_token is not None:
        connect_info["auth_token"] = upgrade.auth_token
    assigns = handler.connect(params, connect_info)
    if inspect.isawaitable(assigns):
        assigns = await assigns
    if assigns is None:
        await send_all(sock, _refuse(403, "forbidden"))
        return None
    await send_all(sock, accept_response(upgrade))
    ws = WSConnection(ConnectionType.SERVER, trailing_data=trailing)
    wire = _Wire(sock, ws, endpoint.max_outbound)
    session = wire.session = Session(endpoint, handler, assigns, serializer, wire)
    return session, ws


def _refuse(status: int, why: str) -> bytes:
    return encode_response(HttpResponse(status, why.encode()))


class _Wire(Outbound):
    """The session's transport: the socket's outbound bytes, and wsproto for the close frame."""

    __slots__ = ("session", "ws")

    def __init__(self, sock: stdlib_socket.socket, ws: WSConnection, max_queued: int) -> None:
        super().__init__(sock, self._slow_consumer, max_queued)
        self.ws = ws
        self.session: Session | None = None

    def _slow_consumer(self) -> None:
        if self.session is not None:
            self.session.closing = "slow consumer"
            trouper.send(self.session.me, Disconnect())

    def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(LocalProtocolError):  # already closing
            self.write(self.ws.send(CloseConnection(code=code, reason=reason)))


async def _run_session(sock: stdlib_socket.socket, ws: WSConnection, session: Session) -> None:
    """Read frames and mail until the session ends (client gone, closed, idle, stopped)."""
    reader = _FrameReader(session.endpoint.max_frame_size)
    # Frames the client sent right behind its upgrade request (wsproto holds them).
    await _ws_events(ws, session, reader)
    idle = session.endpoint.idle_timeout
    deadline = trio.current_time() + idle
    while session.closing is None:
        with trio.move_on_at(deadline), trouper.wake_on_message():
            await trio.lowlevel.wait_readable(sock)
        for message in trouper.receive_all_nowait():
            session.handle_message(message)
        if session.closing is not None:
            break
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            if trio.current_time() >= deadline:
                session.close(1000, "idle timeout")
            continue
        except OSError:
            return
        if not data:
            return
        deadline = trio.current_time() + idle
        ws.receive_data(data)
        await _ws_events(ws, session, reader)


async def _ws_events(ws: WSConnection, session: Session, reader: _FrameReader) -> None:
    """Hand the complete frames wsproto has decoded to the session; answer pings and closes."""
    wire = session.transport
    for event in ws.events():
        if isinstance(event, TextMessage | BytesMessage):
            frame = reader.add(event.data, event.message_finished)
            if frame is _TOO_LARGE:
                session.close(1009, "frame too large")
            elif frame is not None:
                join = session.receive_frame(frame)
                if join is not None:
                    await session.join(join)
        elif isinstance(event, Ping):
            wire.write(ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            wire.write(ws.send(event.response()))
            session.closing = session.closing or "client closed"
        if session.closing is not None:
            return


_TOO_LARGE = b"\0too large"


class _FrameReader:
    """Reassembles a message's parts; refuses one larger than the limit as the parts arrive."""

    __slots__ = ("limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[Any] = []
        self.size = 0

    def add(self, data: str | bytes | bytearray, finished: bool) -> str | bytes | None:
        # Count as the parts arrive: a peer must not make us buffer a huge frame before its
        # size is checked.
        self.size += len(data)
        if self.size > self.limit:
            self.parts = []
            return _TOO_LARGE
        if finished and not self.parts:
            self.size = 0
            return bytes(data) if isinstance(data, bytearray) else data
        self.parts.append(bytes(data) if isinstance(data, bytearray) else data)
        if not finished:
            return None
        parts, self.parts, self.size = self.parts, [], 0
        return "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
