"""What a client sees around a channel's join and end: order of frames, terminate, logs."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio_websocket
from structlog.testing import capture_logs

import trouper
from trouper.channels import Channel, Endpoint, JoinRefused, Socket, start_endpoint
from trouper.pubsub import PubSub

REPORT_TO: list[trouper.Pid] = []


class Eager(Channel):
    """Pushes and broadcasts from inside join, then once more right after it."""

    def join(self, topic: str, payload: Any) -> Any:
        if topic == "rooms:closed":
            raise JoinRefused({"reason": "closed"})
        self.socket.push("from_join", {})
        self.socket.broadcast("broadcast_from_join", {})
        trouper.send(trouper.self(), "after_join")
        return {"joined": True}

    def handle_info(self, message: Any) -> None:
        if message == "after_join":
            self.socket.push("after_join", {})

    def terminate(self, reason: Any) -> None:
        trouper.send(REPORT_TO[0], ("terminated", reason))


class EagerSocket(Socket):
    channels = (("rooms:*", Eager),)


async def start() -> int:
    REPORT_TO[:] = [trouper.self()]
    await PubSub.start_link("chat", shards=2)
    _, port = await start_endpoint(Endpoint(EagerSocket, pubsub="chat"), "127.0.0.1", 0)
    return port


async def test_the_join_reply_comes_before_anything_the_channel_sends() -> None:
    with capture_logs():
        async with trouper.open_node():
            port = await start()
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            async with trio_websocket.open_websocket_url(url) as ws:
                await ws.send_message(json.dumps(["1", "1", "rooms:lobby", "phx_join", {}]))
                with trio.fail_after(5):
                    events = [json.loads(await ws.get_message())[3] for _ in range(3)]
    # As in Phoenix, the channel subscribes once join has returned: its own broadcast from
    # inside join does not come back to it.
    assert events == ["phx_reply", "from_join", "after_join"]


async def test_terminate_runs_when_the_connection_closes() -> None:
    with capture_logs():
        async with trouper.open_node():
            port = await start()
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            async with trio_websocket.open_websocket_url(url) as ws:
                await ws.send_message(json.dumps(["1", "1", "rooms:lobby", "phx_join", {}]))
                with trio.fail_after(5):
                    assert json.loads(await ws.get_message())[3] == "phx_reply"
            with trio.fail_after(5):
                assert await trouper.receive() == ("terminated", ("shutdown", "closed"))


async def test_a_refused_join_is_not_logged_as_a_crash() -> None:
    with capture_logs() as logs:
        async with trouper.open_node():
            port = await start()
            url = f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0"
            async with trio_websocket.open_websocket_url(url) as ws:
                await ws.send_message(json.dumps(["1", "1", "rooms:closed", "phx_join", {}]))
                with trio.fail_after(5):
                    reply = json.loads(await ws.get_message())
    assert reply[4] == {"status": "error", "response": {"reason": "closed"}}
    assert [entry for entry in logs if entry["event"] == "crash_report"] == []
