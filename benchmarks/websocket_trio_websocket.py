"""The ``trio-websocket`` side of the ``transports`` suite: trouper's channels over trio-websocket.

Usage (one measurement per invocation; ``benchmarks/run.py`` appends ``<bench> <n>``)::

    PYTHONPATH=src .venv/bin/python benchmarks/websocket_trio_websocket.py connections 15000
    PYTHONPATH=src .venv/bin/python benchmarks/websocket_trio_websocket.py broadcast 15000
    .venv/bin/python benchmarks/run.py --suite transports

The driver and the client load are ``websocket_trouper.py``'s, unchanged (same client
processes, same Phoenix V2 frames, same metrics); only the server differs. DESIGN.md
section 4 asks which WebSocket transport the endpoint should use: trio-websocket (the design
card's choice) or wsproto driven directly, as ``trouper.channels``' endpoint does. This
server answers it with everything else held equal. It is a benchmark, not part of the
library.

The same process model as the endpoint
--------------------------------------
A trouper node with the same app (``websocket_trouper``'s ``ChatSocket`` and ``Lobby``
channel, one PubSub with one shard). A listener process accepts TCP connections and starts
one task process per connection under a ``DynamicSupervisor``, as the endpoint does. The
difference is inside the connection process:

* the endpoint reads its socket with ``wait_readable`` and feeds wsproto itself, in the
  process's one task, and writes frames with non-blocking ``send``;
* here the process hands the socket to trio-websocket (``wrap_server_stream``: the API for
  a server that accepts its own streams; ``serve_websocket`` would add one more task per
  connection on top): trio-websocket runs its reader task in the process's nursery, the
  process awaits ``get_message()`` (or a message in its mailbox, through
  ``wake_on_message``), and every write is an ``await send_message()``.

Channels are real ``Channel`` processes (``Lobby.start_link`` with a ``ChannelSocket``),
subscribed with a fastlane entry. A broadcast is encoded once (the Phoenix message, by the
serializer), but trio-websocket frames and sends per connection, and a send is async while a
pubsub dispatcher is not: the dispatcher registered here (``benchmarks.trio_websocket``)
starts one send task per subscriber in that connection's nursery, so a broadcast never
waits for a client (the endpoint's rule; a sequential ``await`` per connection in the
broadcaster would make every client wait for the slowest). ``GET /broadcast`` is served by a
second trouper ``Endpoint`` on another port (trio-websocket serves only WebSockets), and
``broadcast_server_s`` is then only the time to start the send tasks.

``TRIO_WS_BROADCAST=sequential`` (in the environment) gives trio-websocket its best case
instead: the broadcasting route awaits ``send_message`` for each subscriber in turn (no task
per send), so the broadcaster waits for every socket, the slowest included; the suite does
not run it, the docs quote it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trio
import trio_websocket

import trouper
from _driver import make_emit
from trouper import pubsub
from trouper.channels import ChannelSocket, Endpoint, protocol, start_endpoint
from trouper.channels._channel import ClientLeave, ClientPush  # connection -> channel messages
from trouper.channels._endpoint import bind
from trouper.channels._fastlane import FastlaneEntry
from trouper.pubsub import PubSub
from trouper.supervision import ChildSpec, DynamicSupervisor, start_child
from websocket_trouper import (
    PUBSUB,
    SERVER_HOST,
    SHARDS,
    ChatSocket,
    broadcast_route,
    drive,
    server_main,
)

IMPL = "trio-websocket"
PATH = "/socket/websocket"
IDLE_TIMEOUT = 60.0  # as the endpoint's default
CONNECTIONS = "trio_websocket.connections"
CLOSED = ("shutdown", "closed")


# --- writing -----------------------------------------------------------------------------------


class SendTasks:
    """A connection's outbound for its fastlane entries: each message is one send task.

    ``send_message`` must be awaited and a pubsub dispatcher must not wait, so every write
    starts a task in the connection's nursery; trio-websocket's own lock keeps them in order.
    """

    __slots__ = ("nursery", "ws")

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery) -> None:
        self.ws = ws
        self.nursery = nursery

    def send(self, message: str | bytes) -> None:
        self.nursery.start_soon(self._send, message)

    def write(self, frame: bytes) -> None:
        """A frame built by the channels layer (a channel's push): send its payload."""
        length, start = frame[1] & 0x7F, 2
        if length == 126:
            start = 4
        elif length == 127:
            start = 10
        payload = frame[start:]
        self.send(payload.decode() if frame[0] & 0x0F == 0x1 else payload)

    async def _send(self, message: str | bytes) -> None:
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await self.ws.send_message(message)


class TrioWebsocketDispatcher:
    """The fastlane for this server: encode once per serializer, one send per subscriber.

    With ``TRIO_WS_BROADCAST=sequential`` the sends are collected instead, and the
    broadcasting route awaits them one after another (see the module docstring).
    """

    name = "benchmarks.trio_websocket"

    def __init__(self) -> None:
        sequential = os.environ.get("TRIO_WS_BROADCAST") == "sequential"
        self.pending: list[tuple[SendTasks, str | bytes]] | None = [] if sequential else None

    def dispatch(self, entries: Mapping[trouper.Pid, Any], from_pid: Any, message: Any) -> None:
        encoded: dict[type, str | bytes] = {}
        for pid, entry in entries.items():
            if pid is from_pid:
                continue
            kind = type(entry.serializer)
            text = encoded.get(kind)
            if text is None:
                text = encoded[kind] = entry.serializer.encode_broadcast(
                    message.topic, message.event, message.payload
                )
            if self.pending is None:
                entry.outbound.send(text)
            else:
                self.pending.append((entry.outbound, text))

    async def send_pending(self) -> None:
        """Sequential mode: await every collected send, in the broadcaster."""
        pending, self.pending = self.pending or [], []
        for outbound, text in pending:
            with contextlib.suppress(trio_websocket.ConnectionClosed):
                await outbound.ws.send_message(text)


DISPATCHER = TrioWebsocketDispatcher()
TRIO_WEBSOCKET = pubsub.register_dispatcher(DISPATCHER)


# --- a connection ------------------------------------------------------------------------------


async def serve_connection(sock: socket.socket) -> None:
    """A connection process: the handshake by trio-websocket, then Phoenix's socket rules."""
    trouper.trap_exit(True)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    ws = None
    async with stream, trio.open_nursery() as nursery:
        with trio.move_on_after(10):
            request = await trio_websocket.wrap_server_stream(nursery, stream)
            url = urlsplit(request.path)
            params = dict(parse_qsl(url.query))
            try:
                serializer = protocol.serializer_for_vsn(params.pop("vsn", None))
            except protocol.UnsupportedVersionError:
                serializer = None
            handler = ChatSocket()
            assigns = handler.connect(params, {"peer": None, "headers": {}})
            if url.path != PATH or serializer is None or assigns is None:
                await request.reject(403)
                nursery.cancel_scope.cancel()
                return
            ws = await request.accept()
        if ws is None:  # the handshake timed out
            nursery.cancel_scope.cancel()
            return
        await Session(ws, nursery, serializer, handler, assigns).run()
        nursery.cancel_scope.cancel()
    raise trouper.ProcessExit(CLOSED)  # takes the linked channels along, as the endpoint does


class Session:
    """One WebSocket session's Phoenix state (the endpoint's ``_Session``, on trio-websocket)."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        nursery: trio.Nursery,
        serializer: protocol.Serializer,
        handler: ChatSocket,
        assigns: Any,
    ) -> None:
        self.ws = ws
        self.handler = handler
        self.assigns = assigns
        self.me = trouper.self()
        self.conn = protocol.Connection(
            serializer, has_route=lambda topic: handler.route(topic) is not None
        )
        self.outbound = SendTasks(ws, nursery)
        self.channels: dict[trouper.Pid, tuple[str, str | None]] = {}
        self.by_topic: dict[str, trouper.Pid] = {}

    async def run(self) -> None:
        deadline = trio.current_time() + IDLE_TIMEOUT
        while True:
            frame: str | bytes | None = None
            with trio.move_on_at(deadline), trouper.wake_on_message():
                try:
                    frame = await self.ws.get_message()
                except trio_websocket.ConnectionClosed:
                    return
            for message in trouper.receive_all_nowait():
                if type(message) is trouper.Exit:
                    self.channel_exited(message.pid, message.reason)
            if frame is None:
                if trio.current_time() >= deadline:
                    await self.ws.aclose(1000, "idle timeout")
                    return
            else:
                deadline = trio.current_time() + IDLE_TIMEOUT
                try:
                    events = self.conn.receive(frame)
                except protocol.ProtocolError as exc:
                    await self.ws.aclose(exc.close_code, str(exc)[:120])
                    return
                for event in events:
                    await self.handle(event)
            await self.flush()

    async def handle(self, event: Any) -> None:
        if isinstance(event, protocol.JoinRequested):
            await self.join(event)
        elif isinstance(event, protocol.PushReceived | protocol.LeaveRequested):
            pid = self.by_topic.get(event.topic)
            if pid is not None:
                leave = isinstance(event, protocol.LeaveRequested)
                push = None if leave else ClientPush(event.event, event.payload, event.ref)
                trouper.cast(pid, ClientLeave() if leave else push)
        elif isinstance(event, protocol.ChannelReplaced):
            pid = self.by_topic.pop(event.topic, None)
            if pid is not None:
                self.channels.pop(pid, None)
                trouper.unlink(pid)
                trouper.exit(pid, ("shutdown", "duplicate_join"))

    async def join(self, event: protocol.JoinRequested) -> None:
        channel_class = self.handler.route(event.topic)
        assert channel_class is not None  # the connection answers unmatched topics itself
        fastlane = FastlaneEntry(self.outbound, self.conn.serializer, channel_class.intercept)  # type: ignore[arg-type]
        socket = ChannelSocket(event.topic, event.join_ref, self.assigns, self.me, PUBSUB, fastlane)
        try:
            pid = await channel_class.start_link(socket, event.payload)
        except trouper.InitError:
            self.conn.join_error(event.topic, {"reason": protocol.JOIN_CRASHED})
            return
        assert pid is not None
        fastlane.channel = pid
        self.channels[pid] = (event.topic, event.join_ref)
        self.by_topic[event.topic] = pid
        self.conn.join_ok(event.topic, socket.join_response)
        await self.flush()  # the join reply goes out before anything the channel sent
        fastlane.open()

    def channel_exited(self, pid: trouper.Pid, reason: Any) -> None:
        entry = self.channels.pop(pid, None)
        if entry is None:
            return
        topic, join_ref = entry
        if self.by_topic.get(topic) == pid:
            del self.by_topic[topic]
        if trouper.is_clean_exit(reason):
            self.conn.channel_closed(topic, join_ref)
        else:
            self.conn.channel_crashed(topic, join_ref)

    async def flush(self) -> None:
        for frame in self.conn.take_outgoing():
            with contextlib.suppress(trio_websocket.ConnectionClosed):
                await self.ws.send_message(frame)


# --- the server --------------------------------------------------------------------------------


async def listen(listener: socket.socket) -> None:
    """The listener process: one supervised connection process per accepted socket."""
    while True:
        await trio.lowlevel.wait_readable(listener)
        while True:
            try:
                sock, _ = listener.accept()
            except BlockingIOError:
                break
            spec = ChildSpec(
                "connection",
                trouper.spawn_link,
                (serve_connection, sock),
                restart="temporary",
                shutdown=1.0,
            )
            await start_child(CONNECTIONS, spec)


async def start_trio_websocket_server() -> dict[str, int]:
    await PubSub.start_link(PUBSUB, shards=SHARDS)
    await DynamicSupervisor.start_link(name=CONNECTIONS)
    listener = bind(SERVER_HOST, 0)
    trouper.spawn_link(listen, listener)
    # GET /broadcast on a port of its own: a plain trouper endpoint with just that route.
    trigger = Endpoint(
        ChatSocket,
        pubsub=PUBSUB,
        path="/unused",
        routes={"/broadcast": broadcast_route(TRIO_WEBSOCKET, DISPATCHER.send_pending)},
    )
    _, http_port = await start_endpoint(trigger, SERVER_HOST, 0, name="trigger")
    return {"port": listener.getsockname()[1], "http_port": http_port}


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "_server":
        return server_main(start_trio_websocket_server)
    me = [sys.executable, os.path.abspath(__file__), "_server"]
    return drive(argv, me, make_emit(IMPL))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
