"""The official `phoenix` npm client (1.8.x, tests/js) against a trouper endpoint on loopback.

Each test starts an endpoint in the test's node, runs tests/js/client.mjs with node for one
scenario, and reads the JSON lines it prints: what a phoenix.js user would observe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from trouper.channels import (
    Channel,
    Endpoint,
    JoinRefused,
    Presence,
    Reply,
    Socket,
    list_presences,
    start_endpoint,
    track,
)
from trouper.pubsub import PubSub

JS_DIR = Path(__file__).resolve().parent.parent / "js"
NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def _phoenix_client_installed() -> None:
    # Not a skip: CI must run these. scripts/test installs the client from the lock file.
    assert NODE is not None, "node is not installed"
    assert (JS_DIR / "node_modules" / "phoenix").is_dir(), "run: npm ci --prefix tests/js"


class Room(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        if topic == "rooms:secret":
            raise JoinRefused({"reason": "unauthorized"})
        return {"welcome": topic}

    def handle_in(self, event: str, payload: Any) -> Any:
        if event in ("echo", "echo_binary"):
            return Reply("ok", payload)
        if event == "crash":
            raise RuntimeError("crash requested by the client")
        if event == "shout":
            self.socket.broadcast("shout", payload)
            return Reply("ok", {})
        return None


class UserSocket(Socket):
    channels = (("rooms:*", Room),)

    def connect(self, params: Any, connect_info: Any) -> Any:
        if connect_info.get("auth_token") == "s3cret token/+=":
            return {"token": "from auth_token"}
        return {"token": params["token"]} if params.get("token") == "good" else None


async def run_client(port: int, scenario: str, *args: str) -> list[dict[str, Any]]:
    assert NODE is not None
    url = f"ws://127.0.0.1:{port}/socket"
    with trio.fail_after(30):
        result = await trio.run_process(
            [NODE, "client.mjs", url, scenario, *args],
            cwd=JS_DIR,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line]
    assert result.returncode == 0, (lines, result.stderr.decode()[-2000:])
    return lines


async def start_server() -> int:
    await PubSub.start_link("chat", shards=2)
    _, port = await start_endpoint(Endpoint(UserSocket, pubsub="chat"), "127.0.0.1", 0)
    return port


async def test_connect_join_push_reply_broadcast_heartbeat_leave_and_refused_join() -> None:
    with capture_logs():
        async with trouper.open_node():
            port = await start_server()
            seen = await run_client(port, "basic")
    events = [line["event"] for line in seen]
    assert events == [
        "open",
        "joined",
        "reply",
        "shout",
        "heartbeat_ok",
        "left",
        "join_error",
        "close",
        "done",
    ]
    assert seen[1]["resp"] == {"welcome": "rooms:lobby"}
    assert seen[2] == {"event": "reply", "status": "ok", "resp": {"text": "hi"}}
    assert seen[3]["msg"] == {"text": "to everyone"}  # the broadcast came back through pubsub
    assert seen[4]["connected"] is True  # heartbeats answered for 500 ms at 200 ms intervals
    assert seen[6]["resp"] == {"reason": "unauthorized"}


async def test_a_channel_crash_sends_phx_error_and_the_client_rejoins() -> None:
    with capture_logs() as logs:
        async with trouper.open_node():
            port = await start_server()
            seen = await run_client(port, "crash")
    events = [line["event"] for line in seen]
    assert events[:3] == ["open", "joined", "channel_error"]
    assert events.count("joined") == 2  # the automatic rejoin
    assert {"event": "reply_after_rejoin", "status": "ok", "resp": {"text": "back"}} in seen
    assert any(entry["event"] == "crash_report" for entry in logs)


async def test_binary_payloads_round_trip() -> None:
    with capture_logs():
        async with trouper.open_node():
            port = await start_server()
            seen = await run_client(port, "binary")
    assert {"event": "binary_reply", "status": "ok", "bytes": [1, 2, 3, 250]} in seen


async def test_a_crashing_channel_leaves_other_clients_untouched() -> None:
    with capture_logs():
        async with trouper.open_node():
            port = await start_server()
            async with trio.open_nursery() as nursery:
                listener: list[list[dict[str, Any]]] = []

                async def listen() -> None:
                    listener.append(await run_client(port, "crash"))

                nursery.start_soon(listen)
                # A second client runs the whole basic scenario while the first crashes.
                seen = await run_client(port, "basic")
    assert [line["event"] for line in seen].count("joined") == 1
    assert "channel_error" not in [line["event"] for line in seen]
    assert listener and "reply_after_rejoin" in [line["event"] for line in listener[0]]


class PresenceRoom(Channel):
    """Phoenix's documented presence pattern: after join, push the state, then track."""

    def join(self, topic: str, payload: Any) -> Any:
        trouper.send(trouper.self(), ("after_join", payload["name"]))
        return {}

    def handle_info(self, message: Any) -> None:
        match message:
            case ("after_join", name):
                self.socket.push("presence_state", list_presences("presence", self.socket.topic))
                track("presence", self.socket.topic, name, {"online_at": 1})


class PresenceSocket(Socket):
    channels = (("rooms:*", PresenceRoom),)


class NodeClient:
    """A long-running client.mjs: read its JSON lines as they come; stdin tells it to quit."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.buffer = b""
        self.seen: list[Any] = []

    async def next_line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while b"\n" not in self.buffer:
            chunk = await self.process.stdout.receive_some()
            assert chunk, f"client.mjs exited early after {self.seen}"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        self.seen.append(json.loads(line))
        return dict(self.seen[-1])

    async def wait_for(self, event: str, **fields: Any) -> dict[str, Any]:
        while True:
            line = await self.next_line()
            if line["event"] == event and all(line.get(k) == v for k, v in fields.items()):
                return line

    async def quit(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(b"quit\n")
        await self.wait_for("done")


async def open_presence_client(port: int, name: str) -> NodeClient:
    assert NODE is not None
    process = await trio.lowlevel.open_process(
        [NODE, "client.mjs", f"ws://127.0.0.1:{port}/socket", "presence", "good", name],
        cwd=JS_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    return NodeClient(process)


async def test_presence_through_the_phoenix_js_presence_helper() -> None:
    with capture_logs():
        async with trouper.open_node():
            await PubSub.start_link("chat", shards=2)
            await Presence.start_link("presence", pubsub="chat")
            endpoint = Endpoint(PresenceSocket, pubsub="chat")
            _, port = await start_endpoint(endpoint, "127.0.0.1", 0)
            with trio.fail_after(20):
                ada = await open_presence_client(port, "ada")
                await ada.wait_for("online", names=["ada"])
                bob = await open_presence_client(port, "bob")
                await bob.wait_for("online", names=["ada", "bob"])  # presence_state + diff
                await ada.wait_for("online", names=["ada", "bob"])  # presence_diff: a join
                await bob.quit()
                await ada.wait_for("online", names=["ada"])  # presence_diff: bob left
                await ada.quit()
                for client in (ada, bob):
                    assert await client.process.wait() == 0


async def test_the_auth_token_option_reaches_connect_as_connect_info_auth_token() -> None:
    # phoenix.js's authToken travels as the "base64url.bearer.phx.<btoa(token)>" subprotocol;
    # the server must answer with the "phoenix" subprotocol or the client drops the socket.
    with capture_logs():
        async with trouper.open_node():
            port = await start_server()
            lines = await run_client(port, "auth_token", "bad", "s3cret token/+=")
    assert [line["event"] for line in lines if line["event"] != "close"] == [
        "open",
        "joined",
        "done",
    ]
