"""trouper.channels.client against a real trouper endpoint on loopback.

Each test starts a node, a pubsub and an endpoint in the test's own task (the node's root
process), opens clients on the bound port and asserts what a client user observes. Timeouts
are real time on loopback: short, and every wait is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trio_websocket
from structlog.testing import capture_logs

import trouper
import trouper.channels.client as client_module
from trouper import pubsub
from trouper.channels import (
    LEFT,
    Broadcast,
    Channel,
    Endpoint,
    JoinRefused,
    Reply,
    Socket,
    dispatcher,
    start_endpoint,
)
from trouper.channels.client import (
    ChannelClosedError,
    ClientTimeoutError,
    ConnectError,
    ConnectionClosedError,
    ConnectionRejectedError,
    JoinError,
    open_client,
)
from trouper.channels.protocol import ProtocolUsageError, UnsupportedVersionError
from trouper.pubsub import PubSub

VSNS = ["2.0.0", "1.0.0", None]  # None: no vsn parameter at all, as Tsung connects


class Room(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        if topic == "rooms:secret":
            raise JoinRefused({"reason": "unauthorized"})
        return {"welcome": topic, "params": payload}

    def handle_in(self, event: str, payload: Any) -> Any:
        if event == "echo":
            return Reply("ok", payload)
        if event == "refuse":
            return Reply("error", {"why": "refused"})
        if event == "shout":
            self.socket.broadcast("shout", payload)
            return Reply("ok", {})
        if event == "burst":
            for name in payload["events"]:
                self.socket.push(name, {"name": name})
            return Reply("ok", {})
        if event == "crash":
            raise RuntimeError("crash requested by the client")
        if event == "stop":
            return trouper.Stop(("shutdown", "asked"))
        return None  # no reply


# topic -> set when a SlowRoom of that topic ends because its client left
LEFT_SLOW_ROOMS: dict[str, trio.Event] = {}


class SlowRoom(Channel):
    """A task channel: its join and its replies can wait."""

    async def terminate(self, reason: Any) -> None:
        if reason == LEFT and self.socket.topic in LEFT_SLOW_ROOMS:
            LEFT_SLOW_ROOMS[self.socket.topic].set()

    async def join(self, topic: str, payload: Any) -> Any:
        await trio.sleep(payload.get("join_delay", 0))
        return None

    async def handle_in(self, event: str, payload: Any) -> Any:
        await trio.sleep(payload.get("delay", 0))
        return Reply("ok", payload)


class UserSocket(Socket):
    channels = (("rooms:*", Room), ("slow:*", SlowRoom))

    def connect(self, params: Any, connect_info: Any) -> Any:
        if params.get("token") != "good":
            return None
        return {"user": params.get("user", "anonymous")}

    def id(self, assigns: Any) -> str | None:
        return f"user:{assigns['user']}"


@attrs.frozen
class Server:
    url: str
    logs: list[MutableMapping[str, Any]]


@asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Server]:
    """A node (this task is its root process), a pubsub "chat" and an endpoint."""
    with capture_logs() as logs:
        async with trouper.open_node():
            await PubSub.start_link("chat", shards=2)
            endpoint = Endpoint(UserSocket, pubsub="chat", **options)
            _, port = await start_endpoint(endpoint, "127.0.0.1", 0)
            with trio.fail_after(10):
                yield Server(f"ws://127.0.0.1:{port}/socket/websocket", logs)


GOOD = {"token": "good"}


# --- joining, pushing, leaving ------------------------------------------------------------------


@pytest.mark.parametrize("vsn", VSNS)
async def test_join_push_and_leave_round_trip(vsn: str | None) -> None:
    async with serving() as server, open_client(server.url, GOOD, vsn=vsn) as client:
        lobby = await client.join("rooms:lobby", {"nick": "ann"})
        assert lobby.state == "joined"
        assert lobby.response == {"welcome": "rooms:lobby", "params": {"nick": "ann"}}
        assert await lobby.push("echo", {"text": "hi"}) == ("ok", {"text": "hi"})
        assert await lobby.push("refuse") == ("error", {"why": "refused"})
        await lobby.leave()
        assert lobby.state == "closed"  # type: ignore[comparison-overlap]  # mypy narrowed it
        with pytest.raises(ChannelClosedError):
            await lobby.push("echo", {})


@pytest.mark.parametrize("vsn", VSNS)
async def test_client_reports_the_serializer_it_speaks(vsn: str | None) -> None:
    async with serving() as server, open_client(server.url, GOOD, vsn=vsn) as client:
        assert client.vsn == ("1.0.0" if vsn is None else vsn)


async def test_a_refused_join_raises_join_error_with_the_channels_response() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        with pytest.raises(JoinError) as refused:
            await client.join("rooms:secret")
        assert (refused.value.status, refused.value.response) == (
            "error",
            {"reason": "unauthorized"},
        )
        # The connection is still usable.
        assert (await client.join("rooms:lobby")).state == "joined"


async def test_a_topic_without_a_route_raises_join_error_unmatched_topic() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        with pytest.raises(JoinError) as refused:
            await client.join("nowhere:1")
        assert refused.value.response == {"reason": "unmatched topic"}


async def test_leave_then_join_again_gives_a_fresh_channel() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        first = await client.join("rooms:lobby")
        await first.leave()
        second = await client.join("rooms:lobby")
        assert second.join_ref != first.join_ref
        assert await second.push("echo", {"n": 2}) == ("ok", {"n": 2})
        await first.leave()  # already closed: returns at once
        assert second.state == "joined"


async def test_joining_a_joined_topic_again_closes_the_previous_instance() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        old = await client.join("rooms:lobby", {"v": 1})
        new = await client.join("rooms:lobby", {"v": 2})
        assert old.state == "closed"
        # The server's phx_close for the old join_ref arrives after the new join's reply;
        # it must not close the new instance. A round trip makes sure it has arrived.
        await client.ping()
        assert new.state == "joined"
        assert await new.push("echo", {"v": 2}) == ("ok", {"v": 2})
        with pytest.raises(ChannelClosedError):
            await old.receive(timeout=1)


# --- binary payloads ----------------------------------------------------------------------------


async def test_binary_push_gets_a_binary_reply_with_v2() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        assert await lobby.push("echo", b"\x00\x01\xfe\xff") == ("ok", b"\x00\x01\xfe\xff")


async def test_binary_broadcast_arrives_as_bytes() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        await lobby.push("shout", b"\x02raw")
        assert await lobby.receive("shout") == ("shout", b"\x02raw")


@pytest.mark.parametrize("vsn", ["1.0.0", None])
async def test_binary_payloads_need_v2(vsn: str | None) -> None:
    async with serving() as server, open_client(server.url, GOOD, vsn=vsn) as client:
        lobby = await client.join("rooms:lobby")
        with pytest.raises(ProtocolUsageError):
            await lobby.push("echo", b"\x00")


# --- server pushes and broadcasts ---------------------------------------------------------------


@pytest.mark.parametrize("vsn", VSNS)
async def test_a_broadcast_reaches_every_joined_client(vsn: str | None) -> None:
    async with (
        serving() as server,
        open_client(server.url, GOOD, vsn=vsn) as ann,
        open_client(server.url, GOOD, vsn=vsn) as bob,
    ):
        ann_lobby = await ann.join("rooms:lobby")
        bob_lobby = await bob.join("rooms:lobby")
        assert await ann_lobby.push("shout", {"text": "hello"}) == ("ok", {})
        assert await ann_lobby.receive("shout") == ("shout", {"text": "hello"})
        assert await bob_lobby.receive("shout") == ("shout", {"text": "hello"})


async def test_receive_with_an_event_leaves_the_other_messages_queued_in_order() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        await lobby.push("burst", {"events": ["a", "b", "c"]})
        assert await lobby.receive("c") == ("c", {"name": "c"})
        assert await lobby.receive() == ("a", {"name": "a"})
        assert await lobby.receive() == ("b", {"name": "b"})


async def test_receive_times_out_when_nothing_comes() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        with pytest.raises(ClientTimeoutError):
            await lobby.receive(timeout=0.05)
        with pytest.raises(ClientTimeoutError):
            await lobby.receive("never", timeout=0.05)
        # A timed-out receive leaves the channel usable.
        await lobby.push("burst", {"events": ["x"]})
        assert await lobby.receive() == ("x", {"name": "x"})


async def test_two_tasks_cannot_receive_on_one_channel() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lobby.receive)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await lobby.receive()
            await lobby.push("burst", {"events": ["wake"]})  # lets the first receive return


async def test_on_message_gets_each_message_as_it_arrives() -> None:
    seen: list[tuple[str, Any]] = []
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join(
            "rooms:lobby", on_message=lambda event, payload: seen.append((event, payload))
        )
        await lobby.push("burst", {"events": ["a", "b"]})
        await lobby.push("shout", {"text": "all"})
        await client.ping()  # everything sent before the ping's reply has been routed
        assert seen[:2] == [("a", {"name": "a"}), ("b", {"name": "b"})]
        assert ("shout", {"text": "all"}) in seen
        with pytest.raises(RuntimeError):
            await lobby.receive()


async def test_an_exception_in_on_message_comes_out_of_open_client() -> None:
    def explode(event: str, payload: Any) -> None:
        raise LookupError(event)

    async with serving() as server:
        with pytest.raises(LookupError, match="boom"):
            async with open_client(server.url, GOOD) as client:
                lobby = await client.join("rooms:lobby", on_message=explode)
                await lobby.push("burst", {"events": ["boom"]})
                await trio.sleep_forever()  # the reader task's error cancels the block


# --- replies and timeouts -----------------------------------------------------------------------


async def test_a_push_without_a_reply_times_out() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        with pytest.raises(ClientTimeoutError):
            await lobby.push("no_reply", {}, timeout=0.1)


async def test_a_reply_that_comes_after_its_timeout_is_dropped() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        slow = await client.join("slow:1")
        with pytest.raises(ClientTimeoutError):
            await slow.push("late", {"delay": 0.3, "n": 1}, timeout=0.05)
        # The late reply to the first push must not be taken for this one's.
        assert await slow.push("prompt", {"n": 2}) == ("ok", {"n": 2})


async def test_a_join_timeout_sends_phx_leave_so_the_late_channel_goes_away() -> None:
    left = LEFT_SLOW_ROOMS["slow:late"] = trio.Event()
    async with serving() as server, open_client(server.url, GOOD) as client:
        with pytest.raises(ClientTimeoutError):
            await client.join("slow:late", {"join_delay": 0.2}, timeout=0.05)
        # The channel joined after all; the client's phx_leave then stopped it.
        await left.wait()


async def test_ping_measures_a_heartbeat_round_trip() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        rtt = await client.ping()
        assert 0 <= rtt < 5


# --- heartbeats ---------------------------------------------------------------------------------


async def test_heartbeats_keep_an_idle_client_connected() -> None:
    async with (
        serving(idle_timeout=0.3) as server,
        open_client(server.url, GOOD, heartbeat_interval=0.1) as beating,
    ):
        for _ in range(2):  # two idle timeouts in a row, with nothing but heartbeats
            async with open_client(server.url, GOOD, heartbeat_interval=None) as silent:
                with trio.fail_after(3):
                    code = await silent.wait_closed()
                assert silent.closed and code == silent.close_code
        assert not beating.closed
        await beating.ping()


async def test_an_unanswered_heartbeat_closes_the_connection() -> None:
    async def accept_and_ignore(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        with pytest.raises(trio_websocket.ConnectionClosed):
            while True:
                await ws.get_message()  # never answers

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            trio_websocket.serve_websocket, accept_and_ignore, "127.0.0.1", 0, None
        )
        port = listeners.port
        async with open_client(f"ws://127.0.0.1:{port}/", heartbeat_interval=0.05) as client:
            with trio.fail_after(3):
                assert await client.wait_closed() == 1000
            assert client.close_reason == "heartbeat timeout"
        nursery.cancel_scope.cancel()


# --- channels and connections ending ------------------------------------------------------------


async def test_a_channel_crash_arrives_as_phx_error_and_closes_the_channel() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        with pytest.raises(ChannelClosedError):
            await lobby.push("crash", {})  # fails as soon as the channel ends, no timeout
        assert await lobby.receive() == ("phx_error", {"reason": "channel_crash"})
        assert lobby.state == "errored"
        with pytest.raises(ChannelClosedError):
            await lobby.receive()
        with pytest.raises(ChannelClosedError):
            await lobby.push("echo", {})
        # Unlike phoenix.js the client does not rejoin by itself; joining again works.
        assert await (await client.join("rooms:lobby")).push("echo", {}) == ("ok", {})
    assert any(entry["event"] == "crash_report" for entry in server.logs)


async def test_a_channel_that_stops_arrives_as_phx_close() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        with pytest.raises(ChannelClosedError):
            await lobby.push("stop", {})  # fails as soon as the channel ends, no timeout
        assert lobby.state == "closed"
        assert await lobby.receive() == ("phx_close", {})


async def test_the_server_closing_the_socket_fails_pending_pushes_and_receives() -> None:
    async with serving() as server, open_client(server.url, {**GOOD, "user": "ann"}) as client:
        lobby = await client.join("rooms:lobby")
        failures: list[BaseException] = []

        async def wait_for_reply() -> None:
            with pytest.raises(ConnectionClosedError) as closed:
                await lobby.push("no_reply", {})
            failures.append(closed.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_reply)
            await trio.testing.wait_all_tasks_blocked()
            message = Broadcast("user:ann", "disconnect", {})
            pubsub.broadcast("chat", "socket_id:user:ann", message, dispatcher=dispatcher)
        assert len(failures) == 1
        assert client.closed
        assert lobby.state == "errored"
        with pytest.raises(ConnectionClosedError):
            await lobby.receive()
        with pytest.raises(ConnectionClosedError):
            await client.join("rooms:other")


async def test_aclose_inside_the_block_closes_with_the_given_code() -> None:
    async with serving() as server, open_client(server.url, GOOD) as client:
        lobby = await client.join("rooms:lobby")
        await client.aclose(4000, "bye")
        assert (client.close_code, client.close_reason) == (4000, "bye")
        assert lobby.state == "errored"
        with pytest.raises(ConnectionClosedError):
            await client.ping()


# --- opening ------------------------------------------------------------------------------------


async def test_a_refused_connect_raises_connection_rejected_403() -> None:
    async with serving() as server:
        with pytest.raises(ConnectionRejectedError) as rejected:
            async with open_client(server.url, {"token": "bad"}):
                pytest.fail("connected")  # pragma: no cover
        assert rejected.value.status_code == 403


async def test_an_unreachable_server_raises_connect_error() -> None:
    with trio.socket.socket() as unused:
        await unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ConnectError):
            async with open_client(f"ws://127.0.0.1:{port}/socket/websocket"):
                pytest.fail("connected")  # pragma: no cover


async def test_an_unknown_vsn_is_refused_before_connecting() -> None:
    with pytest.raises(UnsupportedVersionError):
        async with open_client("ws://127.0.0.1:1/socket/websocket", vsn="3.0.0"):
            pytest.fail("connected")  # pragma: no cover


async def test_an_exception_in_the_block_comes_out_as_itself() -> None:
    async with serving() as server:
        with pytest.raises(KeyError) as raised:
            async with open_client(server.url, GOOD):
                raise KeyError("mine")
        assert not isinstance(raised.value, BaseExceptionGroup)


def test_every_public_name_is_exported() -> None:
    assert len(client_module.__all__) == len(set(client_module.__all__))
    for name in client_module.__all__:
        assert hasattr(client_module, name), name
