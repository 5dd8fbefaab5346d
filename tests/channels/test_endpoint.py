"""The endpoint under bad input and at its limits, as a client on the wire observes it.

Clients here are raw: trio-websocket sending hand-written frames, plain TCP for HTTP, and
wsproto over a socket where the test needs control of the socket itself (a tiny receive
buffer, a frame that never ends). Each test starts a node whose root process is the test's
task, a pubsub and an endpoint on a free loopback port. Everything that waits is bounded.
"""

from __future__ import annotations

import json
import socket as stdlib_socket
import struct
from collections.abc import AsyncIterator, Iterator, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket
from structlog.testing import capture_logs
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Request, TextMessage

import trouper
from trouper import pubsub
from trouper.channels import (
    Broadcast,
    Channel,
    Endpoint,
    HttpRequest,
    HttpResponse,
    Reply,
    Socket,
    dispatcher,
    start_endpoint,
)
from trouper.channels._endpoint import reactive_transport
from trouper.channels.client import open_client
from trouper.pubsub import PubSub
from trouper.supervision import which_children

OK: dict[str, Any] = {"status": "ok", "response": {}}


class Room(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        return None

    def handle_in(self, event: str, payload: Any) -> Any:
        if event == "echo":
            return Reply("ok", payload)
        if event == "crash":
            raise RuntimeError("crash requested by the client")
        return None


class CrashingJoin(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        raise RuntimeError("join crashes")


class UserSocket(Socket):
    channels = (("rooms:*", Room), ("crashing:*", CrashingJoin))

    def connect(self, params: Any, connect_info: Any) -> Any:
        if params.get("token") != "good":
            return None
        return {"user": params.get("user")}

    def id(self, assigns: Any) -> str | None:
        user: str | None = assigns["user"]
        return user


async def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, b"hello from " + request.path.encode())


@attrs.frozen
class Server:
    port: int
    logs: list[MutableMapping[str, Any]]

    def url(self, query: str = "token=good&vsn=2.0.0") -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket" + (f"?{query}" if query else "")


TRANSPORT: list[str] = ["auto"]


@pytest.fixture(autouse=True, params=["auto", "task"])
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs against both connection transports: reactive ("auto" picks it, the
    channels here being plain def) and task."""
    TRANSPORT[:] = [request.param]
    yield request.param
    TRANSPORT[:] = ["auto"]


@asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Server]:
    """A node (this task is its root process), a pubsub "chat" and an endpoint."""
    options.setdefault("transport", TRANSPORT[0])
    with capture_logs() as logs:
        async with trouper.open_node():
            await PubSub.start_link("chat", shards=2)
            endpoint = Endpoint(UserSocket, pubsub="chat", routes={"/hello": hello}, **options)
            _, port = await start_endpoint(endpoint, "127.0.0.1", 0)
            with trio.fail_after(10):
                yield Server(port, logs)


# --- raw client helpers -------------------------------------------------------------------------


def frame(*fields: Any) -> str:
    """A V2 text frame."""
    return json.dumps(list(fields))


async def recv(ws: trio_websocket.WebSocketConnection) -> Any:
    with trio.fail_after(2):
        return json.loads(await ws.get_message())


async def call(ws: trio_websocket.WebSocketConnection, *fields: Any) -> Any:
    """Send a V2 message, return the next message."""
    await ws.send_message(frame(*fields))
    return await recv(ws)


async def join(ws: trio_websocket.WebSocketConnection, topic: str, join_ref: str) -> None:
    reply = await call(ws, join_ref, join_ref, topic, "phx_join", {})
    assert reply == [join_ref, join_ref, topic, "phx_reply", OK]


async def heartbeat_ok(ws: trio_websocket.WebSocketConnection, ref: str = "99") -> bool:
    reply = await call(ws, None, ref, "phoenix", "heartbeat", {})
    return bool(reply == [None, ref, "phoenix", "phx_reply", OK])


async def close_code(ws: trio_websocket.WebSocketConnection) -> int:
    """Wait for the server to close the socket (skipping messages); its close code."""
    with trio.fail_after(3), pytest.raises(trio_websocket.ConnectionClosed) as closed:
        while True:
            await ws.get_message()
    assert closed.value.reason is not None
    return closed.value.reason.code


def ws_connect(
    url: str, headers: Sequence[tuple[str, str]] = ()
) -> AbstractAsyncContextManager[trio_websocket.WebSocketConnection]:
    extra = [(name.encode(), value.encode()) for name, value in headers]
    return trio_websocket.open_websocket_url(url, extra_headers=extra, disconnect_timeout=2)


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    """One HTTP/1.1 GET over plain TCP: status and body (the server closes after it)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        with trio.fail_after(2):
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class RawSocket:
    """wsproto over a trio socket: for tests that need the socket itself."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, port: int, *, receive_buffer: int | None = None
    ) -> AsyncIterator[RawSocket]:
        """Connect and upgrade; the socket is closed when the block ends."""
        with trio.socket.socket() as sock:
            if receive_buffer is not None:
                # Before connecting, so the window the server sees is small from the start.
                sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_RCVBUF, receive_buffer)
            await sock.connect(("127.0.0.1", port))
            raw = cls(sock)
            target = "/socket/websocket?token=good&vsn=2.0.0"
            await raw.send_bytes(raw.ws.send(Request(host=f"127.0.0.1:{port}", target=target)))
            await raw.next_event(AcceptConnection)
            yield raw

    async def send_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[await self.sock.send(view) :]

    async def send_text(self, text: str) -> None:
        await self.send_bytes(self.ws.send(TextMessage(data=text)))

    async def next_event(self, kind: type[Event]) -> Any:
        """Read until wsproto yields an event of ``kind`` (a whole message for text)."""
        parts: list[str] = []
        with trio.fail_after(2):
            while True:
                for event in self.ws.events():
                    if kind is TextMessage and isinstance(event, TextMessage):
                        parts.append(event.data)
                        if event.message_finished:
                            return "".join(parts)
                    elif isinstance(event, kind):
                        return event
                data = await self.sock.recv(65536)
                self.ws.receive_data(data or None)

    async def read_to_the_end(self) -> list[str]:
        """Every whole text message until the server ends the TCP connection."""
        messages: list[str] = []
        parts: list[str] = []
        with trio.fail_after(5):
            while True:
                try:
                    data = await self.sock.recv(1 << 16)
                except ConnectionResetError:
                    return messages
                if not data:
                    return messages
                self.ws.receive_data(data)
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        parts.append(event.data)
                        if event.message_finished:
                            messages.append("".join(parts))
                            parts = []


# --- HTTP and the handshake ---------------------------------------------------------------------


async def test_http_routes_and_404_share_the_port_with_the_socket() -> None:
    async with serving() as server:
        assert await http_get(server.port, "/hello") == (200, b"hello from /hello")
        assert (await http_get(server.port, "/nowhere"))[0] == 404
        async with ws_connect(server.url()) as ws:
            await join(ws, "rooms:lobby", "1")
        assert (await http_get(server.port, "/hello"))[0] == 200


async def test_connect_returning_none_rejects_the_handshake_with_403() -> None:
    async with serving() as server:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with ws_connect(server.url("token=bad&vsn=2.0.0")):
                pytest.fail("connected")  # pragma: no cover
        assert rejected.value.status_code == 403


@pytest.mark.parametrize("vsn", ["3.0.0", "2.1.0", "0.9.0", "two", "2.0.0-rc.1"])
async def test_an_unsupported_vsn_is_refused_with_403(vsn: str) -> None:
    async with serving() as server:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with ws_connect(server.url(f"token=good&vsn={vsn}")):
                pytest.fail("connected")  # pragma: no cover
        assert rejected.value.status_code == 403


ALLOWED = "http://chat.example.com"


async def test_check_origin_refuses_a_foreign_origin_with_403() -> None:
    async with serving(check_origin=(ALLOWED,)) as server:
        with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
            async with ws_connect(server.url(), [("Origin", "http://evil.example.com")]):
                pytest.fail("connected")  # pragma: no cover
        assert rejected.value.status_code == 403


async def test_check_origin_accepts_an_allowed_origin() -> None:
    async with (
        serving(check_origin=(ALLOWED,)) as server,
        ws_connect(server.url(), [("Origin", ALLOWED)]) as ws,
    ):
        await join(ws, "rooms:lobby", "1")


async def test_check_origin_accepts_a_client_that_sends_no_origin_as_phoenix_does() -> None:
    # Phoenix.Socket.Transport.check_origin/5 starts with `is_nil(origin) or check_origin ==
    # false -> conn`: browsers always send Origin, so only non-browser clients (Tsung, load
    # tools, trouper's own client) omit it, and they are not what the check protects against.
    async with serving(check_origin=(ALLOWED,)) as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:lobby", "1")


# --- malformed frames ---------------------------------------------------------------------------


async def test_invalid_json_closes_with_1007_and_other_connections_carry_on() -> None:
    async with (
        serving() as server,
        ws_connect(server.url()) as bystander,
        ws_connect(server.url()) as culprit,
    ):
        await join(bystander, "rooms:lobby", "1")
        await join(culprit, "rooms:lobby", "1")
        await culprit.send_message('["1","2","rooms:lobby","echo",{')
        assert await close_code(culprit) == 1007
        assert await call(bystander, "1", "2", "rooms:lobby", "echo", {"still": "here"}) == [
            "1",
            "2",
            "rooms:lobby",
            "phx_reply",
            {"status": "ok", "response": {"still": "here"}},
        ]
        assert await heartbeat_ok(bystander)


@pytest.mark.parametrize(
    "text",
    [
        '["1","1","rooms:lobby","phx_join"]',  # four elements
        "[]",
        '{"topic":"rooms:lobby","event":"phx_join","payload":{},"ref":"1"}',  # V1 shape on V2
        '"a string"',
        "42",
        '[1,"1","rooms:lobby","phx_join",{}]',  # join_ref a number
        '["1",1,"rooms:lobby","phx_join",{}]',  # ref a number
        '["1","1",["rooms:lobby"],"phx_join",{}]',  # topic a list
        '["1","1","rooms:lobby",null,{}]',  # event null
        '["1","1","rooms:lobby","phx_join",[]]',  # join params not an object
        '["1","1","rooms:lobby","phx_join",{"n":NaN}]',  # not JSON
    ],
)
async def test_wrong_shape_or_field_types_close_with_1007(text: str) -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        await ws.send_message(text)
        assert await close_code(ws) == 1007


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        b"\x07garbage",  # unknown kind
        b"\x01\x01\x01\x01\x01abcd",  # kind 1 (reply) is the server's, not a client's
        b"\x00\x01\x01",  # shorter than its header
        b"\x00\x05\x05\x0b\x04\x31",  # field lengths overrun the frame
        b"\x00\x01\x01\x01\x01\xff\xfe\x80\x81payload",  # fields not UTF-8
    ],
)
async def test_binary_garbage_closes_with_1007(data: bytes) -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        await ws.send_message(data)
        assert await close_code(ws) == 1007


async def test_a_frame_over_max_frame_size_closes_with_1009() -> None:
    async with serving(max_frame_size=1024) as server:
        async with ws_connect(server.url()) as ws:
            at_limit = frame("1", "1", "rooms:lobby", "phx_join", {"pad": ""})
            at_limit = frame(
                "1", "1", "rooms:lobby", "phx_join", {"pad": "x" * (1024 - len(at_limit))}
            )
            assert len(at_limit) == 1024
            await ws.send_message(at_limit)
            assert (await recv(ws))[4] == OK  # exactly the limit is fine
        async with ws_connect(server.url()) as ws:
            await ws.send_message(frame("1", "1", "rooms:lobby", "phx_join", {"pad": "x" * 1024}))
            assert await close_code(ws) == 1009


async def test_a_frame_announced_over_max_frame_size_is_refused_before_it_all_arrives() -> None:
    # A peer that announces a 64 MiB frame and trickles it must not make the server buffer
    # 64 MiB first: cowboy (Phoenix) refuses the frame from its header.
    async with serving(max_frame_size=1024) as server, RawSocket.open(server.port) as raw:
        size = 64 << 20
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size) + b"\x00\x00\x00\x00"  # mask 0
        await raw.send_bytes(header + b"x" * 4096)
        close = await raw.next_event(CloseConnection)
        assert close.code == 1009


# --- the socket rules ---------------------------------------------------------------------------


async def test_a_heartbeat_gets_an_ok_reply() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        assert await call(ws, None, "7", "phoenix", "heartbeat", {}) == [
            None,
            "7",
            "phoenix",
            "phx_reply",
            OK,
        ]


async def test_a_v1_heartbeat_gets_a_v1_reply_without_join_ref() -> None:
    async with serving() as server, ws_connect(server.url("token=good")) as ws:
        ping = {"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "7"}
        await ws.send_message(json.dumps(ping))
        assert await recv(ws) == {
            "topic": "phoenix",
            "event": "phx_reply",
            "payload": OK,
            "ref": "7",
        }


async def test_a_push_to_an_unjoined_topic_gets_unmatched_topic() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        assert await call(ws, "1", "2", "rooms:lobby", "echo", {}) == [
            None,
            "2",
            "rooms:lobby",
            "phx_reply",
            {"status": "error", "response": {"reason": "unmatched topic"}},
        ]
        assert await heartbeat_ok(ws)  # an error reply, not a close


async def test_joining_beyond_max_channels_gets_an_error_reply() -> None:
    async with serving(max_channels=2) as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:a", "1")
        await join(ws, "rooms:b", "2")
        assert await call(ws, "3", "3", "rooms:c", "phx_join", {}) == [
            "3",
            "3",
            "rooms:c",
            "phx_reply",
            {"status": "error", "response": {"reason": "too many channels joined"}},
        ]
        # Leaving one makes room again (once its phx_close says it is gone).
        assert await call(ws, "1", "4", "rooms:a", "phx_leave", {}) == [
            "1",
            "4",
            "rooms:a",
            "phx_reply",
            OK,
        ]
        assert await recv(ws) == ["1", "1", "rooms:a", "phx_close", {}]
        await join(ws, "rooms:c", "5")


async def test_a_duplicate_join_closes_the_old_channel_and_the_new_join_succeeds() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:lobby", "1")
        await ws.send_message(frame("2", "2", "rooms:lobby", "phx_join", {}))
        seen = [await recv(ws), await recv(ws)]
        assert ["2", "2", "rooms:lobby", "phx_reply", OK] in seen
        assert ["1", "1", "rooms:lobby", "phx_close", {}] in seen
        assert await call(ws, "2", "3", "rooms:lobby", "echo", {"n": 3}) == [
            "2",
            "3",
            "rooms:lobby",
            "phx_reply",
            {"status": "ok", "response": {"n": 3}},
        ]


async def test_a_message_with_a_stale_join_ref_is_dropped() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:lobby", "1")
        await ws.send_message(frame("0", "2", "rooms:lobby", "echo", {"stale": True}))
        # Frames are handled in order: the first answer is to the second push.
        assert await call(ws, "1", "3", "rooms:lobby", "echo", {}) == [
            "1",
            "3",
            "rooms:lobby",
            "phx_reply",
            OK,
        ]


async def test_a_crash_in_join_gets_an_error_reply_join_crashed() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        assert await call(ws, "1", "1", "crashing:1", "phx_join", {}) == [
            "1",
            "1",
            "crashing:1",
            "phx_reply",
            {"status": "error", "response": {"reason": "join crashed"}},
        ]
        await join(ws, "rooms:lobby", "2")  # the connection is fine


async def test_a_channel_crash_sends_phx_error_to_its_client() -> None:
    async with serving() as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:lobby", "1")
        await join(ws, "rooms:other", "2")
        await ws.send_message(frame("1", "3", "rooms:lobby", "crash", {}))
        assert await recv(ws) == [
            "1",
            "1",
            "rooms:lobby",
            "phx_error",
            {"reason": "channel_crash"},
        ]
        # The other channel and the connection are untouched; the topic can be joined again.
        assert (await call(ws, "2", "4", "rooms:other", "echo", {}))[4] == OK
        await join(ws, "rooms:lobby", "5")
    assert any(entry["event"] == "crash_report" for entry in server.logs)


# --- timeouts and slow clients ------------------------------------------------------------------


async def test_idle_timeout_closes_a_silent_client_and_spares_a_heartbeating_one() -> None:
    async with (
        serving(idle_timeout=0.5) as server,
        open_client(server.url(""), {"token": "good"}, heartbeat_interval=0.15) as beating,
    ):
        await beating.join("rooms:lobby")
        for _ in range(2):  # two idle timeouts in a row: 1 s of nothing but heartbeats
            started = trio.current_time()
            async with ws_connect(server.url()) as silent:
                await close_code(silent)
            assert 0.49 <= trio.current_time() - started < 1.5
        assert not beating.closed
        await beating.ping()


BIG = 16 * 1024


async def test_a_client_that_stops_reading_is_disconnected_without_delaying_others() -> None:
    async with (
        serving(max_outbound=64 * 1024) as server,
        ws_connect(server.url()) as fast,
    ):
        await join(fast, "rooms:lobby", "1")
        before = {child.pid for child in await which_children("endpoint.connections")}
        async with RawSocket.open(server.port, receive_buffer=4096) as slow:
            await slow.send_text(frame("1", "1", "rooms:lobby", "phx_join", {}))
            assert json.loads(await slow.next_event(TextMessage))[4] == OK
            (slow_pid,) = {c.pid for c in await which_children("endpoint.connections")} - before
            assert isinstance(slow_pid, trouper.Pid)
            monitor = trouper.monitor(slow_pid)

            # Broadcast until the slow client is dropped (it reads nothing meanwhile); the
            # fast one gets every broadcast at once.
            sent = 0
            down = None
            while down is None:
                assert sent < 1000, "the slow consumer was never disconnected"
                payload = {"n": sent, "pad": "x" * BIG}
                message = Broadcast("rooms:lobby", "big", payload)
                pubsub.broadcast("chat", "rooms:lobby", message, dispatcher=dispatcher)
                sent += 1
                with trio.fail_after(1):
                    assert await recv(fast) == [None, None, "rooms:lobby", "big", payload]
                down = await trouper.receive(
                    lambda m: isinstance(m, trouper.Down) and m.ref == monitor,
                    timeout=0,
                    after=None,
                )
            for n in range(3):  # the fast client carries on
                message = Broadcast("rooms:lobby", "after", {"n": n})
                pubsub.broadcast("chat", "rooms:lobby", message, dispatcher=dispatcher)
                assert await recv(fast) == [None, None, "rooms:lobby", "after", {"n": n}]

            # The slow client finds its stream ended, short of what was broadcast: what the
            # server had queued for it when it fell too far behind was dropped.
            received = [json.loads(text) for text in await slow.read_to_the_end()]
        assert len(received) < sent
        assert [message[4]["n"] for message in received] == list(range(len(received)))


# --- forced disconnects -------------------------------------------------------------------------


def disconnect(user: str) -> None:
    topic = f"socket_id:{user}"
    message = Broadcast(topic, "disconnect", {})
    pubsub.broadcast("chat", topic, message, dispatcher=dispatcher)


async def test_disconnect_on_the_socket_id_closes_every_socket_of_that_user_only() -> None:
    async with (
        serving() as server,
        ws_connect(server.url("token=good&user=ann&vsn=2.0.0")) as ann_phone,
        ws_connect(server.url("token=good&user=ann&vsn=2.0.0")) as ann_laptop,
        ws_connect(server.url("token=good&user=bob&vsn=2.0.0")) as bob,
    ):
        for ws in (ann_phone, ann_laptop, bob):
            await join(ws, "rooms:lobby", "1")
        disconnect("ann")
        await close_code(ann_phone)
        await close_code(ann_laptop)
        assert await heartbeat_ok(bob)
        assert (await call(bob, "1", "2", "rooms:lobby", "echo", {}))[4] == OK


async def test_disconnect_closes_with_1001_so_phoenix_js_reconnects() -> None:
    # phoenix.md 2.6 rule 10 (Phoenix 1.8): close code 1001; phoenix.js does not reconnect
    # after a 1000.
    async with (
        serving() as server,
        ws_connect(server.url("token=good&user=ann&vsn=2.0.0")) as ann,
    ):
        await join(ann, "rooms:lobby", "1")
        disconnect("ann")
        assert await close_code(ann) == 1001


async def test_killing_a_connection_process_closes_only_that_client() -> None:
    async with serving() as server, ws_connect(server.url()) as survivor:
        await join(survivor, "rooms:lobby", "1")
        before = {child.pid for child in await which_children("endpoint.connections")}
        async with ws_connect(server.url()) as victim:
            await join(victim, "rooms:lobby", "1")
            (pid,) = {c.pid for c in await which_children("endpoint.connections")} - before
            assert isinstance(pid, trouper.Pid)
            monitor = trouper.monitor(pid)
            trouper.exit(pid, "kill")
            await close_code(victim)
            down = await trouper.receive(
                lambda m: isinstance(m, trouper.Down) and m.ref == monitor, timeout=2
            )
            assert down.reason == "killed"
        assert await heartbeat_ok(survivor)
        assert (await call(survivor, "1", "2", "rooms:lobby", "echo", {"n": 2}))[4] == {
            "status": "ok",
            "response": {"n": 2},
        }
        assert {c.pid for c in await which_children("endpoint.connections")} == before


async def test_frames_sent_right_behind_the_upgrade_request_are_answered_at_once() -> None:
    # A client may write its first frames in the same packet as the upgrade request; they
    # must not wait until the client sends something more.
    async with serving() as server:
        with trio.socket.socket() as sock:
            await sock.connect(("127.0.0.1", server.port))
            raw = RawSocket(sock)
            target = "/socket/websocket?token=good&vsn=2.0.0"
            upgrade = raw.ws.send(Request(host=f"127.0.0.1:{server.port}", target=target))
            await raw.send_bytes(
                upgrade + _masked_text(frame(None, "5", "phoenix", "heartbeat", {}))
            )
            await raw.next_event(AcceptConnection)
            reply = json.loads(await raw.next_event(TextMessage))
            assert reply == [None, "5", "phoenix", "phx_reply", OK]


def _masked_text(text: str) -> bytes:
    """One client text frame (masked with a zero key), built by hand: wsproto will not
    encode a message before the handshake has completed."""
    data = text.encode()
    assert len(data) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(data)) + b"\x00\x00\x00\x00" + data


async def test_connections_run_as_the_transport_says(transport: str) -> None:
    # "auto" with plain-def callbacks: reactive connection processes (no trio task).
    async with serving() as server, ws_connect(server.url()) as ws:
        await join(ws, "rooms:lobby", "1")
        [child] = await which_children("endpoint.connections")
        assert isinstance(child.pid, trouper.Pid)
        info = trouper.process_info(child.pid)
        assert info is not None
        assert info.mode == ("reactive" if transport == "auto" else "task")


class AsyncConnect(Socket):
    channels = (("rooms:*", Room),)

    async def connect(self, params: Any, connect_info: Any) -> Any:
        return {}


def test_auto_picks_the_task_transport_when_something_can_await() -> None:
    assert reactive_transport(Endpoint(UserSocket, pubsub="chat"))
    assert not reactive_transport(Endpoint(UserSocket, pubsub="chat", transport="task"))
    assert not reactive_transport(Endpoint(AsyncConnect, pubsub="chat"))
    with pytest.raises(ValueError):
        Endpoint(UserSocket, pubsub="chat", transport="threads")  # type: ignore[arg-type]
