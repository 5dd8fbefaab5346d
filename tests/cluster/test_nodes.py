"""Real clusters: two or three node processes on one Redis, driven by websocket clients.

What a user of a cluster observes: broadcasts reach clients on every node, presence shows
everyone, sends and monitors cross nodes; and the faults: a node killed, Redis stopped and
restarted under load. Heartbeats every 0.1 s, nodes down after 2 s of silence (node_app).
Real time: every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path

import trio
from cluster_helpers import Node, client_of, nodes, wait_for_nodes

from presence_view import PresenceView
from redis_server import RedisServer


async def test_a_broadcast_reaches_clients_on_every_node_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with (
        nodes(redis_server.url, tmp_path, "n1", "n2") as (n1, n2),
        client_of(n1) as ann,
        client_of(n2) as bob,
        client_of(n2) as cy,
    ):
        await wait_for_nodes(ann, ["n2"])
        assert await ann.push("broadcast", {"body": "hi"}) == ("ok", {})
        for client in (ann, bob, cy):
            assert await client.receive("msg", timeout=5) == ("msg", {"body": "hi"})
        assert await bob.push("broadcast", {"body": "back"}) == ("ok", {})
        for client in (ann, bob, cy):
            assert await client.receive("msg", timeout=5) == ("msg", {"body": "back"})
        # Only once each: a node's own broadcast coming back through Redis would have been
        # delivered again before the next broadcast Redis carried after it.
        assert await ann.push("broadcast", {"body": "end"}) == ("ok", {})
        for client in (ann, bob, cy):
            assert await client.receive("msg", timeout=5) == ("msg", {"body": "end"})


async def test_presence_shows_the_clients_of_every_node(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with (
        nodes(redis_server.url, tmp_path, "n1", "n2") as (n1, n2),
        client_of(n1, track="ann") as ann,
    ):
        ann_sees = PresenceView(ann)
        await ann_sees.wait_for({"ann"})
        async with client_of(n2, track="bob") as bob:
            await PresenceView(bob).wait_for({"ann", "bob"})
            await ann_sees.wait_for({"ann", "bob"})
            assert await bob.push("nodes") == ("ok", {"node": "n2", "nodes": ["n1"]})
        await ann_sees.wait_for({"ann"})  # bob's socket closed on n2: he left


async def test_send_to_a_name_on_another_node_and_monitor_it(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with (
        nodes(redis_server.url, tmp_path, "n1", "n2") as (n1, n2),
        client_of(n1) as ann,
        client_of(n2) as bob,
    ):
        await wait_for_nodes(ann, ["n2"])
        await bob.push("register", {"name": "bobs_inbox"})
        await ann.push("send", {"name": "bobs_inbox", "node": "n2", "message": [1, "x"]})
        assert await bob.receive("inbox", timeout=5) == ("inbox", {"message": [1, "x"]})
        await ann.push("monitor", {"name": "bobs_inbox", "node": "n2"})
        await ann.push("monitor", {"name": "nobody", "node": "n2"})
        down = await ann.receive("down", timeout=5)
        assert down == ("down", {"name": "nobody", "node": "n2", "reason": "noproc"})
        await bob.push("stop", {"name": "bobs_inbox", "reason": "done"})
        down = await ann.receive("down", timeout=5)
        assert down == ("down", {"name": "bobs_inbox", "node": "n2", "reason": "done"})


async def test_a_killed_node_leaves_the_others_serving_and_its_presence_and_monitors_go(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    names = ("n1", "n2", "n3")
    async with (
        nodes(redis_server.url, tmp_path, *names) as (n1, n2, n3),
        client_of(n1, track="ann") as ann,
        client_of(n2, track="bob") as bob,
        client_of(n3, track="cy") as cy,
    ):
        await wait_for_nodes(ann, ["n2", "n3"])
        await bob.push("register", {"name": "bobs_inbox"})
        await ann.push("monitor", {"name": "bobs_inbox", "node": "n2"})
        views = [PresenceView(ann), PresenceView(cy)]
        for view in views:
            await view.wait_for({"ann", "bob", "cy"})
        n2.kill()
        killed_at = trio.current_time()
        down = await ann.receive("down", timeout=10)
        assert down == ("down", {"name": "bobs_inbox", "node": "n2", "reason": "noconnection"})
        for view in views:
            await view.wait_for({"ann", "cy"})
        assert trio.current_time() - killed_at >= 0.5  # after the timeout, not before
        await wait_for_nodes(ann, ["n3"])
        # The survivors serve as before, across nodes too.
        await cy.push("broadcast", {"body": "still here"})
        for client in (ann, cy):
            assert await client.receive("msg", timeout=5) == ("msg", {"body": "still here"})
        assert n1.process.poll() is None and n3.process.poll() is None


async def test_redis_stopped_and_restarted_under_load(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    async with (
        nodes(own_redis.url, tmp_path, "n1", "n2") as (n1, n2),
        client_of(n1) as ann,
        client_of(n1) as amy,
        client_of(n2) as bob,
    ):
        await wait_for_nodes(ann, ["n2"])
        sent = 0

        async def load(count: int) -> None:  # ann broadcasts steadily (bounded)
            nonlocal sent
            for _ in range(count):
                await ann.push("broadcast", {"n": sent})
                sent += 1
                await trio.sleep(0.005)

        await load(20)
        before = [(await bob.receive("msg", timeout=5))[1]["n"] for _ in range(20)]
        assert before == list(range(20))  # across nodes before the outage
        own_redis.stop()
        await load(50)  # Redis is gone: n1 keeps serving its own clients
        got = [(await amy.receive("msg", timeout=5))[1]["n"] for _ in range(70)]
        assert got == list(range(70))
        await wait_until_logged(n1, "redis_disconnected")
        await wait_until_logged(n2, "redis_disconnected")
        own_redis.start()
        for node in (n1, n2):  # both connections of both nodes are back
            await wait_until_logged(node, "redis_connected", after="redis_disconnected", count=2)
        # Cross-node broadcasts resume: bob (on n2) hears ann (on n1) again. (One sent just
        # as a node resubscribes may still be lost: at most once.)
        with trio.fail_after(15):
            while True:
                await load(1)
                with trio.move_on_after(1):
                    _, payload = await bob.receive("msg")
                    if payload["n"] == sent - 1:
                        break
        await wait_for_nodes(ann, ["n2"])
        await wait_for_nodes(bob, ["n1"])


async def wait_until_logged(
    node: Node, event: str, *, after: str | None = None, count: int = 1, timeout: float = 15
) -> None:
    """Until ``node``'s log has ``event`` (``count`` times, by role), after ``after``."""
    with trio.fail_after(timeout):
        while True:
            events = [e["event"] for e in node.events()]
            if after is not None and after in events:
                events = events[events.index(after) :]
            if events.count(event) >= count:
                return
            await trio.sleep(0.05)


async def test_a_node_stopped_cleanly_says_goodbye(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async with (
        nodes(redis_server.url, tmp_path, "n1", "n2") as (n1, n2),
        client_of(n1, track="ann") as ann,
    ):
        view = PresenceView(ann)
        async with client_of(n2, track="bob") as bob:
            await bob.push("register", {"name": "bobs_inbox"})
            await ann.push("monitor", {"name": "bobs_inbox", "node": "n2"})
            await view.wait_for({"ann", "bob"})
            assert n2.stop() == 0  # SIGTERM: the application stops its tree in order
        down = await ann.receive("down", timeout=5)
        assert down == ("down", {"name": "bobs_inbox", "node": "n2", "reason": "noconnection"})
        await view.wait_for({"ann"})
        reasons = [e["reason"] for e in n1.events() if e["event"] == "nodedown"]
        assert reasons == ["shutdown"]
        left = [e["reason"] for e in n1.events() if e["event"] == "presence_replica_down"]
        assert left == ["goodbye"]
