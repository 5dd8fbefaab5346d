"""``trouper chat --nodes 2``: two chat nodes on one port, linked by a private redis-server,
run as a user runs them (a subprocess), with clients that land on different nodes.

Real time on loopback with a real redis-server (scripts/test installs it); every wait is
bounded, on the program's output or on what a client receives.
"""

from __future__ import annotations

import re
import signal
import sys
from contextlib import AsyncExitStack
from typing import Any

import trio
from chat_helpers import CLUSTER_READY, LIMIT, LISTENING, WAIT, running

import trouper
from presence_view import PresenceView
from trouper.channels.client import Client, JoinedChannel, open_client

NO_HIREDIS = "import sys; sys.modules['hiredis'] = None\nfrom trouper.__main__ import main\n"


async def clients_on_each_node(
    stack: AsyncExitStack, url: str, nodes: int, attempts: int = 40
) -> dict[str, Client]:
    """node name -> a client that node serves, for ``nodes`` nodes: new connections (each
    joins a probe room of its own) until their join replies name that many nodes."""
    found: dict[str, Client] = {}
    for n in range(attempts):
        client = await stack.enter_async_context(open_client(url))
        probe = await client.join(f"rooms:probe{n}")
        found.setdefault(probe.response["node"], client)
        if len(found) == nodes:
            return found
    raise AssertionError(f"{attempts} connections all landed on {sorted(found)}")


async def wait_until_nodes_see(observer: JoinedChannel, node: str, others: list[str]) -> None:
    """Read the node's observer trees until it lists ``others`` as up; every tree on the
    way is ``node``'s own (each node's observer broadcasts to its own pages only)."""
    with trio.fail_after(WAIT):
        while True:
            _, tree = await observer.receive("tree")
            assert tree["node"] == node
            if tree["nodes"] == others:
                return


async def history_on(client: Client, expected: list[tuple[str, str, str]]) -> None:
    """Join the lobby again until this client's node has ``expected`` as its history.

    A message from the other node reaches this node's history owner before its clients (it
    is published first), but the owner appends it when the scheduler runs it: each join is
    a round trip to the node, so this loop waits on the node, not on a timer."""
    with trio.fail_after(WAIT):
        while True:
            lobby = await client.join("rooms:lobby", {"user": "reader"})
            history = [(m["user"], m["body"], m["node"]) for m in lobby.response["history"]]
            if history == expected:
                return


async def said(channel: JoinedChannel, body: str) -> dict[str, Any]:
    """The ``new_msg`` the channel gets next (checking it is ``body``)."""
    _, message = await channel.receive("new_msg", timeout=WAIT)
    assert message["body"] == body
    return message  # type: ignore[no-any-return]


async def test_two_nodes_share_messages_presence_and_history_and_ctrl_c_stops_all() -> None:
    argv = [sys.executable, "-m", "trouper", "chat", "--nodes", "2", "--port", "0"]
    async with running([*argv, "--history", "2"]) as program:
        url = f"ws://127.0.0.1:{(await program.wait_for(CLUSTER_READY))[1]}/socket/websocket"
        async with trouper.open_node(), AsyncExitStack() as stack:
            on = await clients_on_each_node(stack, url, 2)
            assert sorted(on) == ["node1", "node2"]
            ann, bob = on["node1"], on["node2"]
            await wait_until_nodes_see(await ann.join("observer:tree"), "node1", ["node2"])
            await wait_until_nodes_see(await bob.join("observer:tree"), "node2", ["node1"])

            ann_lobby = await ann.join("rooms:lobby", {"user": "ann"})
            ann_sees = PresenceView(ann_lobby)
            await ann_sees.wait_for({"ann"})
            bob_lobby = await bob.join("rooms:lobby", {"user": "bob"})
            assert bob_lobby.response["node"] == "node2"
            await PresenceView(bob_lobby).wait_for({"ann", "bob"})
            await ann_sees.wait_for({"ann", "bob"})

            await ann_lobby.push("new_msg", {"body": "hello from node1"})
            for lobby in (ann_lobby, bob_lobby):
                message = await said(lobby, "hello from node1")
                assert (message["user"], message["node"]) == ("ann", "node1")
            await bob_lobby.push("new_msg", {"body": "hi from node2"})
            for lobby in (ann_lobby, bob_lobby):
                assert (await said(lobby, "hi from node2"))["node"] == "node2"
            await ann_lobby.push("new_msg", {"body": "third"})
            for lobby in (ann_lobby, bob_lobby):
                await said(lobby, "third")

            # The same room history whichever node serves you (--history 2 reached both).
            expected = [("bob", "hi from node2", "node2"), ("ann", "third", "node1")]
            await history_on(ann, expected)
            await history_on(bob, expected)

            program.process.send_signal(signal.SIGINT)
            with trio.fail_after(LIMIT):
                await ann.wait_closed()
                await bob.wait_closed()
        assert await program.finish() == 0
    output = program.output
    stops = re.findall(r"stopped (node\d) \(exit status (\d+)\)|(stopped redis-server)", output)
    assert stops == [("node2", "0", ""), ("node1", "0", ""), ("", "", "stopped redis-server")]
    assert output.count("trouper chat  http://127.0.0.1:") == 1  # one banner, from node1
    assert re.search(r"user_joined +\[node1\] .*user=ann", output)
    assert re.search(r"user_joined +\[node2\] .*user=bob", output)
    assert "Traceback" not in output


async def test_without_redis_server_and_without_redis_it_says_what_to_do() -> None:
    argv = [sys.executable, "-m", "trouper", "chat", "--nodes", "2", "--port", "0"]
    async with running(argv, env={"PATH": "/nonexistent"}) as program:
        assert await program.finish() == 2
    assert "redis-server is not on PATH" in program.output
    assert "--redis redis://host:port" in program.output


async def test_a_bad_redis_url_is_refused_before_any_node_starts() -> None:
    argv = [sys.executable, "-m", "trouper.apps.chat", "--nodes", "2", "--redis", "http://x"]
    async with running(argv) as program:
        assert await program.finish() == 2
    assert "trouper chat: a Redis URL must start with redis://" in program.output
    assert "started" not in program.output


async def test_nodes_need_hiredis_and_say_how_to_get_it() -> None:
    code = NO_HIREDIS + "sys.exit(main(['chat', '--nodes', '2', '--port', '0']))"
    async with running([sys.executable, "-c", code]) as program:
        assert await program.finish() == 2
    assert "pip install 'trouper[redis]'" in program.output


async def test_one_node_is_the_default_and_needs_neither_redis_nor_hiredis() -> None:
    code = NO_HIREDIS + "sys.exit(main(['chat', '--port', '0']))"
    async with running([sys.executable, "-c", code], env={"PATH": "/nonexistent"}) as program:
        port = (await program.wait_for(LISTENING))[1]
        async with open_client(f"ws://127.0.0.1:{port}/socket/websocket") as client:
            lobby = await client.join("rooms:lobby", {"user": "ann"})
            assert lobby.response["node"] == "nonode@nohost"
        program.process.send_signal(signal.SIGINT)
        assert await program.finish() == 0
    assert "trouper cluster" not in program.output


async def test_zero_nodes_is_refused() -> None:
    argv = [sys.executable, "-m", "trouper", "chat", "--nodes", "0"]
    async with running(argv) as program:
        assert await program.finish() == 1
    assert "--nodes must be >= 1" in program.output
