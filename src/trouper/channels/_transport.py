"""One WebSocket connection as a supervised task process that owns its socket and channels.

How this works
--------------
The process reads its socket and its mailbox in one trio task: it waits for the socket to
be readable inside ``wake_on_message()``, so a message (a channel's reply, a channel's
exit) wakes it as well. Bytes go through wsproto (WebSocket frames) to the connection's
:class:`~._session.Session`, which applies Phoenix's socket rules and runs the channels.
Writes go through the ``Wire`` (non-blocking; a slow client is disconnected, never waited
for). Broadcasts bypass this process entirely: the fastlane writes their frames from the
broadcaster.

The endpoint uses this transport when the socket's ``connect`` or a channel may await;
otherwise it uses the lighter reactive one (``_reactive``). Plain HTTP requests are served
here too, whichever transport read them.
"""

from __future__ import annotations

import inspect
import socket as stdlib_socket
from typing import TYPE_CHECKING

import trio
from wsproto.connection import Connection as WSConnection

import trouper

from ._http import HttpRequest, encode_response, read_request, send_all
from ._session import CLOSED, Session
from ._wire import Admission, FrameReader, admit, feed, open_session, refused

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


async def serve_http(sock: stdlib_socket.socket, request: HttpRequest, endpoint: Endpoint) -> None:
    """Answer one plain HTTP request (routes are async) and close the socket."""
    try:
        await send_all(sock, encode_response(await endpoint.handle_http(request)))
    finally:
        trio.lowlevel.notify_closing(sock)
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
    admission = admit(request, endpoint)
    if not isinstance(admission, Admission):
        await send_all(sock, admission)
        return None
    handler = endpoint.socket()
    assigns = handler.connect(admission.params, admission.connect_info)
    if inspect.isawaitable(assigns):
        assigns = await assigns
    if assigns is None:
        await send_all(sock, refused(403, "forbidden"))
        return None
    session, ws, accept = open_session(sock, admission, endpoint, handler, assigns, trailing)
    session.transport.write(accept)
    return session, ws


async def _run_session(sock: stdlib_socket.socket, ws: WSConnection, session: Session) -> None:
    """Read frames and mail until the session ends (client gone, closed, idle, stopped)."""
    reader = FrameReader(session.endpoint.max_frame_size)
    # Frames the client sent right behind its upgrade request (wsproto holds them).
    await _feed_all(ws, session, reader)
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
        await _feed_all(ws, session, reader)


async def _feed_all(ws: WSConnection, session: Session, reader: FrameReader) -> None:
    events = ws.events()
    while (join := feed(events, ws, session, reader)) is not None:
        await session.join(join)
