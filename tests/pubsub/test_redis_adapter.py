"""The Redis adapter against a real redis-server, one node in this process.

The other node, "b", is played by the test (tests/redis_peer.py): it sees exactly what this
node publishes and publishes frames as another node would. (tests/cluster runs
real multi-node clusters, one OS process per node.) Real time: every wait is bounded.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pubsub_helpers import Member, run_in
from structlog.testing import capture_logs

import trouper
from redis_peer import RedisPeer
from redis_server import RedisServer
from trouper import pubsub
from trouper.pubsub import CodecError, PubSub, RedisAdapter
from waiting import wait_until

FAST = {"reconnect_backoff": (0.02, 0.2), "connect_timeout": 2.0, "ping_interval": 1.0}


@asynccontextmanager
async def node_a(url: str, **options: Any) -> AsyncIterator[tuple[RedisAdapter, trouper.Pid]]:
    """A node named "a" with pubsub "chat" on Redis and a member subscribed to "room"."""
    async with trouper.open_node():
        adapter = RedisAdapter(url, node_name="a", **{**FAST, **options})
        await PubSub.start_link("chat", adapter=adapter)
        member = trouper.spawn(Member, trouper.self())
        await run_in(member, lambda: pubsub.subscribe("chat", "room"))
        yield adapter, member


BROADCASTS = "trouper:chat"


async def got(member: trouper.Pid, timeout: float = 5) -> Any:
    message = await trouper.receive(lambda m: m[0] == "got" and m[1] is member, timeout=timeout)
    return message[2]


async def nothing_more(member: trouper.Pid) -> None:
    await run_in(member, lambda: None)
    assert trouper.receive_all_nowait(lambda m: m[0] == "got") == []


async def test_the_adapter_is_connected_when_the_pubsub_has_started(
    redis_server: RedisServer,
) -> None:
    async with node_a(redis_server.url) as (adapter, _):
        stats = adapter.statistics()
        assert stats.publisher_connected and stats.subscriber_connected
        assert pubsub.node_name("chat") == "a"


async def test_a_broadcast_crosses_once_as_a_json_frame_and_is_delivered_here(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (_, member):
        pubsub.broadcast("chat", "room", ("hello", b"\x00\xff", {"n": 1}))
        assert await got(member) == ("hello", b"\x00\xff", {"n": 1})
        message = ("hello", b"\x00\xff", {"n": 1})
        assert await b.next_frame() == (BROADCASTS, "a", "room", message, "trouper.pubsub")
        await nothing_more(member)  # our own broadcast did not come back a second time


async def test_a_frame_from_another_node_is_delivered_to_local_subscribers(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (adapter, member):
        assert await b.send("room", ["from", "b"]) == 2  # a's subscriber and b itself
        assert await got(member) == ["from", "b"]
        assert adapter.statistics().received == 1


async def test_direct_broadcast_reaches_only_the_named_node(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (_, member):
        pubsub.direct_broadcast("b", "chat", "room", "for b")
        assert await b.next_frame() == (b.node_channel("b"), "a", "room", "for b", "trouper.pubsub")
        pubsub.direct_broadcast("a", "chat", "room", "for a")  # through Redis, to ourselves
        assert await got(member) == "for a"
        await nothing_more(member)


async def test_broadcast_from_skips_the_sender_here_but_reaches_other_nodes(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (_, member):
        await run_in(member, lambda: pubsub.broadcast_from("chat", trouper.self(), "room", "x"))
        assert (await b.next_frame())[3] == "x"
        await nothing_more(member)


async def test_a_message_that_cannot_cross_nodes_raises_before_anything_is_delivered(
    redis_server: RedisServer,
) -> None:
    async with node_a(redis_server.url) as (_, member):
        with pytest.raises(CodecError, match="cannot be sent to another node"):
            pubsub.broadcast("chat", "room", ("a pid", trouper.self()))
        await nothing_more(member)


async def test_local_broadcast_does_not_touch_redis(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (adapter, member):
        pubsub.local_broadcast("chat", "room", ("local", trouper.self()))  # no need to encode
        assert (await got(member))[0] == "local"
        pubsub.broadcast("chat", "room", "marker")
        assert (await b.next_frame())[3] == "marker"
        await wait_until(lambda: adapter.statistics().published == 1)


async def test_each_broadcasters_order_holds_across_nodes(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        senders = [trouper.spawn(Member, trouper.self()) for _ in range(3)]
        for i in range(300):
            sender = senders[i % 3]
            trouper.send(sender, lambda i=i: pubsub.broadcast("chat", "room", [i % 3, i]))
        seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
        for _ in range(300):
            who, i = (await b.next_frame())[3]
            seen[who].append(i)
        assert seen == {k: list(range(k, 300, 3)) for k in range(3)}


async def test_a_garbage_frame_is_logged_and_the_next_one_still_arrives(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (adapter, member):
        with capture_logs() as logs:
            await b.publish(BROADCASTS, b"\x80 not json")
            await b.publish(
                BROADCASTS, b'[1,"b","trouper.pubsub","room",{"!":"os.system","v":[1]}]'
            )
            await b.send("room", "ok")
            assert await got(member) == "ok"
        assert adapter.statistics().bad_frames == 2
        assert [e["event"] for e in logs if e["event"] == "redis_bad_frame"] == [
            "redis_bad_frame"
        ] * 2


async def test_a_frame_for_an_unknown_dispatcher_is_logged_not_fatal(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (_, member):
        with capture_logs() as logs:
            await b.send("room", "x", dispatcher="no.such")
            await b.send("room", "y")
            assert await got(member) == "y"
        assert any(e["event"] == "redis_dispatch_failed" for e in logs)


async def test_redis_going_away_leaves_local_delivery_working_and_it_reconnects(
    own_redis: RedisServer,
) -> None:
    async with node_a(own_redis.url) as (adapter, member):
        with capture_logs() as logs:
            own_redis.stop()
            await wait_until(lambda: not adapter.statistics().subscriber_connected)
            for n in range(5):  # local subscribers still get everything
                pubsub.broadcast("chat", "room", n)
                assert await got(member) == n
            await wait_until(lambda: not adapter.statistics().publisher_connected)
            stats = adapter.statistics()
            assert stats.dropped >= 1 and stats.session >= 1
            own_redis.start()
            await wait_until(
                lambda: (
                    adapter.statistics().publisher_connected
                    and adapter.statistics().subscriber_connected
                )
            )
        events = [e["event"] for e in logs]
        assert "redis_disconnected" in events and "redis_connected" in events
        async with RedisPeer(own_redis.url) as b:  # cross-node traffic resumes both ways
            pubsub.broadcast("chat", "room", "back")
            assert await got(member) == "back"
            assert (await b.next_frame())[3] == "back"
            await b.send("room", 1)
            assert await got(member) == 1


async def test_a_node_started_while_redis_is_down_serves_locally_and_connects_later(
    own_redis: RedisServer,
) -> None:
    own_redis.stop()
    with capture_logs() as logs:
        async with node_a(own_redis.url) as (adapter, member):
            assert not adapter.statistics().publisher_connected
            pubsub.broadcast("chat", "room", "alone")
            assert await got(member) == "alone"
            own_redis.start()
            await wait_until(lambda: adapter.statistics().subscriber_connected)
    assert any(e["event"] == "redis_connect_failed" for e in logs)


def test_a_bad_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisAdapter("http://localhost")


async def test_what_is_queued_when_the_node_stops_is_still_sent(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b:
        async with node_a(redis_server.url):
            pubsub.broadcast("chat", "room", "last words")  # the node stops right after
        assert (await b.next_frame())[3] == "last words"


def test_the_single_node_default_does_not_need_hiredis() -> None:
    code = (
        "import sys; sys.modules['hiredis'] = None\n"  # as if it were not installed
        "import trouper, trouper.pubsub, trouper.cluster, trouper.channels\n"
        "try:\n"
        "    trouper.pubsub.RedisAdapter()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'trouper[redis]'" in result.stdout


async def test_a_message_larger_than_the_socket_buffer_arrives_whole_and_in_order(
    redis_server: RedisServer,
) -> None:
    big = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than one non-blocking send takes
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url) as (adapter, _):
        pubsub.broadcast("chat", "room", big)
        pubsub.broadcast("chat", "room", "after")
        assert (await b.next_frame(timeout=10))[3] == big
        assert (await b.next_frame())[3] == "after"
        await wait_until(lambda: adapter.statistics().published == 2)
