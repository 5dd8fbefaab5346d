"""Virtual connections: the socket/channel/pubsub path with frames as messages, no socket."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper import pubsub
from trouper.channels import (
    Broadcast,
    Channel,
    ClientClose,
    ClientFrame,
    Endpoint,
    FrameCounter,
    FrameRecorder,
    JoinRefused,
    Reply,
    Socket,
    VirtualConnection,
    dispatcher,
    start_endpoint,
    virtual_connection_spec,
)
from trouper.channels._virtual import TASK_CHANNEL
from trouper.channels.protocol import PHX_REPLY, Message
from trouper.pubsub import PubSub
from trouper.supervision import start_child, which_children


class Room(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        if payload.get("password") == "wrong":
            raise JoinRefused({"reason": "unauthorized"})
        return {"welcome": topic}

    def handle_in(self, event: str, payload: Any) -> Any:
        if event == "crash":
            raise RuntimeError("asked to crash")
        if event == "shout":
            self.socket.broadcast("shout", payload)
            return None
        return Reply("ok", {"echo": payload})


class Slow(Channel):
    async def join(self, topic: str, payload: Any) -> Any:
        return None


class Users(Socket):
    channels = (("rooms:*", Room), ("slow:*", Slow))

    def connect(self, params: Any, connect_info: Any) -> Any:
        if params.get("token") == "bad":
            return None
        return {"user": params.get("user", "anon")}

    def id(self, assigns: Any) -> str | None:
        return f"user:{assigns['user']}"


def frame(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> Any:
    return ClientFrame(json.dumps([join_ref, ref, topic, event, payload]))


async def endpoint() -> Endpoint:
    await PubSub.start_link("chat", shards=2)
    config = Endpoint(Users, pubsub="chat")
    await start_endpoint(config, "127.0.0.1", 0, name="endpoint")
    return config


async def connect(config: Endpoint, params: Any = None) -> tuple[trouper.Pid, FrameRecorder]:
    recorder = FrameRecorder()
    pid = await start_child(
        "endpoint.connections", virtual_connection_spec(config, recorder, params)
    )
    assert pid is not None
    return pid, recorder


async def settle() -> None:
    """Let every queued reactive message run (virtual connections and channels are reactive)."""
    for _ in range(5):
        await trio.testing.wait_all_tasks_blocked()
        await trouper.receive(timeout=0, after=None)


def events(recorder: FrameRecorder) -> list[tuple[str, Any]]:
    return [(m.event, m.payload) for m in recorder.messages()]


async def test_a_virtual_client_joins_pushes_and_gets_replies() -> None:
    async with trouper.open_node():
        config = await endpoint()
        pid, recorder = await connect(config, {"user": "ann"})
        trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {}))
        trouper.send(pid, frame("1", "2", "rooms:lobby", "ping", {"n": 1}))
        await settle()
        assert recorder.messages() == [
            Message(
                "1",
                "1",
                "rooms:lobby",
                PHX_REPLY,
                {"status": "ok", "response": {"welcome": "rooms:lobby"}},
            ),
            Message(
                "1", "2", "rooms:lobby", PHX_REPLY, {"status": "ok", "response": {"echo": {"n": 1}}}
            ),
        ]


async def test_a_broadcast_reaches_every_virtual_connection_through_the_fastlane() -> None:
    async with trouper.open_node():
        config = await endpoint()
        clients = [await connect(config) for _ in range(3)]
        for pid, _ in clients:
            trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {}))
        await settle()
        message = Broadcast("rooms:lobby", "news", {"text": "hi"})
        pubsub.broadcast("chat", "rooms:lobby", message, dispatcher=dispatcher)
        # The fastlane writes in the broadcaster: every transport has the frame already.
        for _, recorder in clients:
            assert events(recorder)[-1] == ("news", {"text": "hi"})


async def test_a_frame_counter_counts_frames_and_bytes() -> None:
    async with trouper.open_node():
        config = await endpoint()
        counter = FrameCounter()
        pid = await start_child("endpoint.connections", virtual_connection_spec(config, counter))
        assert pid is not None
        trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {}))
        await settle()
        reply = json.dumps(["1", "1", "rooms:lobby", PHX_REPLY, {"status": "ok", "response": {}}])
        assert counter.frames == 1
        # The reply's JSON (its response differs in length) in one small WebSocket frame.
        assert counter.bytes > len(reply)


async def test_a_crashing_channel_sends_phx_error_and_the_client_can_rejoin() -> None:
    with capture_logs() as logs:
        async with trouper.open_node():
            config = await endpoint()
            pid, recorder = await connect(config)
            other, other_recorder = await connect(config)
            for client in (pid, other):
                trouper.send(client, frame("1", "1", "rooms:lobby", "phx_join", {}))
            await settle()
            trouper.send(pid, frame("1", "2", "rooms:lobby", "crash", {}))
            await settle()
            assert events(recorder)[-1] == ("phx_error", {"reason": "channel_crash"})
            trouper.send(pid, frame("3", "3", "rooms:lobby", "phx_join", {}))
            await settle()
            assert recorder.messages()[-1].event == PHX_REPLY
            assert trouper.is_alive(pid) and trouper.is_alive(other)
            pubsub.broadcast(
                "chat", "rooms:lobby", Broadcast("rooms:lobby", "after", {}), dispatcher=dispatcher
            )
            assert events(recorder)[-1] == ("after", {})
            assert events(other_recorder)[-1] == ("after", {})
    [report] = [entry for entry in logs if entry["event"] == "child_terminated"]
    assert report["supervisor"] == repr(pid) and report["child_id"] == ("channel", "rooms:lobby")
    assert "asked to crash" in report["reason"]


async def test_a_refused_join_is_an_error_reply() -> None:
    async with trouper.open_node():
        config = await endpoint()
        pid, recorder = await connect(config)
        trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {"password": "wrong"}))
        await settle()
        assert events(recorder) == [
            (PHX_REPLY, {"status": "error", "response": {"reason": "unauthorized"}})
        ]


async def test_a_task_channel_is_refused_on_a_virtual_connection() -> None:
    with capture_logs() as logs:
        async with trouper.open_node():
            config = await endpoint()
            pid, recorder = await connect(config)
            trouper.send(pid, frame("1", "1", "slow:1", "phx_join", {}))
            await settle()
            assert events(recorder) == [
                (
                    PHX_REPLY,
                    {"status": "error", "response": {"reason": TASK_CHANNEL}},
                )
            ]
            assert trouper.is_alive(pid)
    assert any(entry["event"] == "task_channel_on_virtual_connection" for entry in logs)


async def test_garbage_closes_only_that_connection() -> None:
    with capture_logs():
        async with trouper.open_node():
            config = await endpoint()
            pid, recorder = await connect(config)
            other, _ = await connect(config)
            trouper.send(pid, ClientFrame("not json"))
            await settle()
            assert recorder.close_code is not None
            assert not trouper.is_alive(pid)
            assert trouper.is_alive(other)


async def test_a_client_close_ends_the_connection_and_its_channels() -> None:
    async with trouper.open_node():
        config = await endpoint()
        pid, _ = await connect(config)
        trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {}))
        await settle()
        assert pubsub.subscriber_count("chat", "rooms:lobby") == 1
        ref = trouper.monitor(pid)
        trouper.send(pid, ClientClose())
        down = await trouper.receive(trouper.Down)
        assert down.ref is ref and down.reason == ("shutdown", "closed")
        await settle()
        assert pubsub.subscriber_count("chat", "rooms:lobby") == 0
        assert await which_children("endpoint.connections") == []


async def test_the_socket_id_disconnect_closes_every_connection_of_that_user() -> None:
    async with trouper.open_node():
        config = await endpoint()
        ann1, rec1 = await connect(config, {"user": "ann"})
        ann2, rec2 = await connect(config, {"user": "ann"})
        bob, rec3 = await connect(config, {"user": "bob"})
        message = Broadcast("socket_id:user:ann", "disconnect", {})
        pubsub.broadcast("chat", "socket_id:user:ann", message)
        await settle()
        assert (rec1.close_code, rec2.close_code, rec3.close_code) == (1001, 1001, None)
        assert not trouper.is_alive(ann1) and not trouper.is_alive(ann2)
        assert trouper.is_alive(bob)


async def test_a_refused_connect_fails_to_start() -> None:
    async with trouper.open_node():
        config = await endpoint()
        with pytest.raises(trouper.supervision.SupervisorError) as info:
            await connect(config, {"token": "bad"})
        assert info.value.reason == ("shutdown", "refused")


async def test_the_connections_supervisor_stopping_ends_the_virtual_connection() -> None:
    async with trouper.open_node():
        config = await endpoint()
        pid, recorder = await connect(config)
        trouper.send(pid, frame("1", "1", "rooms:lobby", "phx_join", {}))
        await settle()
        ref = trouper.monitor(pid)
        await trouper.supervision.terminate_child("endpoint.connections", pid)
        down = await trouper.receive(trouper.Down)
        assert down.ref is ref and down.reason == "shutdown"
        assert recorder.close_code == 1001


def test_a_virtual_connection_is_a_reactive_process() -> None:
    # No trio task per connection: that is what makes millions of them affordable.
    assert VirtualConnection._trouper_task_mode is False
