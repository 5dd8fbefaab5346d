"""What both socket transports share: the upgrade, the wire, and frames into the session.

A WebSocket connection runs as a task process (``_transport``) or as a reactive process woken
by the endpoint's poller (``_reactive``); which one is the endpoint's choice. Both accept the
upgrade, write through a :class:`Wire` and hand frames to the :class:`~._session.Session`
with the functions here; they differ only in how they wait for the socket.
"""

from __future__ import annotations

import contextlib
import socket as stdlib_socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
from wsproto.connection import Connection as WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.utilities import LocalProtocolError

import trouper

from . import protocol
from ._handshake import HandshakeError, Upgrade, accept_response, check_upgrade, refuse
from ._http import HttpRequest, HttpResponse, encode_response
from ._outbound import Outbound
from ._session import Disconnect, Session

if TYPE_CHECKING:
    from ._endpoint import Endpoint


# -- the upgrade ---------------------------------------------------------------------------------


@attrs.frozen
class Admission:
    """An upgrade request that passed every check but the user's ``connect``."""

    upgrade: Upgrade
    serializer: protocol.Serializer
    params: dict[str, str]
    connect_info: dict[str, Any]


def admit(request: HttpRequest, endpoint: Endpoint) -> Admission | bytes:
    """Check an upgrade request in Phoenix's order; the refusal's bytes if it fails.

    The WebSocket handshake rules, the serializer for ``vsn``, the origin; then the caller
    runs the Socket's ``connect`` with ``params`` and ``connect_info``.
    """
    try:
        upgrade = check_upgrade(request)
    except HandshakeError as exc:
        return refuse(exc)
    params = dict(request.query)
    vsn = params.pop("vsn", None)
    try:
        serializer = protocol.serializer_for_vsn(vsn, max_frame_size=endpoint.max_frame_size)
    except protocol.UnsupportedVersionError as exc:
        return refused(403, str(exc))
    if not endpoint.origin_allowed(request.headers.get("origin")):
        return refused(403, "origin not allowed")
    connect_info: dict[str, Any] = {"peer": request.peer, "headers": request.headers}
    if upgrade.auth_token is not None:
        connect_info["auth_token"] = upgrade.auth_token
    return Admission(upgrade, serializer, params, connect_info)


def refused(status: int, why: str) -> bytes:
    return encode_response(HttpResponse(status, why.encode()))


def open_session(
    sock: stdlib_socket.socket,
    admission: Admission,
    endpoint: Endpoint,
    handler: Any,
    assigns: Any,
    trailing: bytes,
) -> tuple[Session, WSConnection, bytes]:
    """The user accepted: the session, its wsproto connection and the ``101`` to write first."""
    ws = WSConnection(ConnectionType.SERVER, trailing_data=trailing)
    wire = Wire(sock, ws, endpoint.max_outbound)
    session = wire.session = Session(endpoint, handler, assigns, admission.serializer, wire)
    return session, ws, accept_response(admission.upgrade)


# -- writing -------------------------------------------------------------------------------------


class Wire(Outbound):
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


# -- reading -------------------------------------------------------------------------------------


def feed(
    events: Iterator[Event], ws: WSConnection, session: Session, reader: FrameReader
) -> protocol.JoinRequested | None:
    """Hand wsproto's events to the session: frames, pings, the client's close.

    Stops early, returning it, at a task channel's join: the caller awaits
    ``session.join`` and calls again with the same iterator.
    """
    wire = session.transport
    for event in events:
        if isinstance(event, TextMessage | BytesMessage):
            frame = reader.add(event.data, event.message_finished)
            if frame is TOO_LARGE:
                session.close(1009, "frame too large")
            elif frame is not None:
                join = session.receive_frame(frame)
                if join is not None:
                    return join
        elif isinstance(event, Ping):
            wire.write(ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            wire.write(ws.send(event.response()))
            session.closing = session.closing or "client closed"
        if session.closing is not None:
            break
    return None


TOO_LARGE = b"\0too large"


class FrameReader:
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
            return TOO_LARGE
        if finished and not self.parts:
            self.size = 0
            return bytes(data) if isinstance(data, bytearray) else data
        self.parts.append(bytes(data) if isinstance(data, bytearray) else data)
        if not finished:
            return None
        parts, self.parts, self.size = self.parts, [], 0
        return "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
