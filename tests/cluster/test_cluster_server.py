"""The cluster server of node "a" (this process) against node "b", played by the test.

"b" speaks the cluster protocol through raw Redis connections (tests/redis_peer.py), so
each test controls exactly what "b" says and when it falls silent. Real time: heartbeats
every 0.05 s, down after 1 s; every wait is bounded. tests/cluster/test_nodes.py runs
real nodes, one OS process each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

import trouper
from redis_peer import RedisPeer
from redis_server import RedisServer
from trouper import cluster
from trouper.cluster import NodeDown, NodeUp
from trouper.cluster._messages import (
    TOPIC,
    DemonitorName,
    Goodbye,
    Heartbeat,
    MonitorName,
    NameDown,
    RemoteSend,
)
from trouper.pubsub import PubSub, RedisAdapter
from waiting import wait_until

INTERVAL, DOWN_AFTER = 0.05, 1.0  # b must not time out in the middle of a test


@asynccontextmanager
async def node_a(url: str) -> AsyncIterator[RedisAdapter]:
    async with trouper.open_node():
        adapter = RedisAdapter(url, node_name="a", reconnect_backoff=(0.02, 0.2))
        await PubSub.start_link("chat", adapter=adapter)
        await cluster.Cluster.start_link("chat", heartbeat_interval=INTERVAL, down_after=DOWN_AFTER)
        yield adapter


async def b_is_up(b: RedisPeer, incarnation: str = "b1", session: int = 0) -> None:
    await b.send(TOPIC, Heartbeat("b", incarnation, session))
    await wait_until(lambda: cluster.nodes() == ["b"], timeout=5)


def is_(kind: type) -> Any:
    return lambda message: type(message) is kind


class Worker(trouper.Actor):
    def handle(self, message: Any) -> None:
        match message:
            case ("crash", reason):
                raise trouper.ProcessExit(reason)
            case ("report", to):
                trouper.send(to, ("worker got", message))


async def test_a_node_heard_is_up_and_gets_an_answer_at_once(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        assert cluster.node_name() == "a" and cluster.nodes() == []
        await b_is_up(b)
        _, sender, _, beat, _ = await b.frame_where(lambda m: type(m) is Heartbeat and m.answer)
        assert sender == "a" and beat.node == "a" and beat.session == 0


async def test_heartbeats_are_broadcast_every_interval(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        beats = [await b.frame_where(is_(Heartbeat)) for _ in range(3)]
        assert {frame[0] for frame in beats} == {b.broadcast_channel}
        assert len({frame[3].incarnation for frame in beats}) == 1


async def test_a_silent_node_goes_down_and_node_monitors_hear_of_it(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        cluster.monitor_nodes()
        await b_is_up(b)
        assert await trouper.receive(timeout=5) == NodeUp("b")
        start = trio.current_time()
        with capture_logs() as logs:
            assert await trouper.receive(timeout=5) == NodeDown("b", "net_tick_timeout")
        assert trio.current_time() - start >= DOWN_AFTER - 2 * INTERVAL
        assert cluster.nodes() == []
        assert [e["event"] for e in logs] == ["nodedown"]


async def test_a_goodbye_takes_the_node_down_at_once(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        cluster.monitor_nodes()
        await b_is_up(b)
        await trouper.receive(is_(NodeUp), timeout=5)
        await b.send(TOPIC, Goodbye("b", "b1"))
        assert await trouper.receive(timeout=DOWN_AFTER / 2) == NodeDown("b", "shutdown")


async def test_send_to_a_name_on_another_node(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        cluster.send(("worker", "b"), {"job": 1})
        channel, sender, topic, message, _ = await b.frame_where(is_(RemoteSend))
        assert (channel, sender, topic) == (b.node_channel("b"), "a", TOPIC)
        assert message == RemoteSend("worker", {"job": 1})


async def test_a_send_from_another_node_reaches_the_registered_process(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        trouper.register("inbox", trouper.self())
        await b.send(TOPIC, RemoteSend("nobody", "dropped"), to="a")
        await b.send(TOPIC, RemoteSend("inbox", ("hi", 1)), to="a")
        assert await trouper.receive(timeout=5) == ("hi", 1)


async def test_send_to_a_name_on_this_node_is_a_local_send() -> None:
    async with trouper.open_node():
        await PubSub.start_link("chat")
        await cluster.Cluster.start_link("chat")
        trouper.register("inbox", trouper.self())
        cluster.send(("inbox", "nonode@nohost"), "here")
        assert await trouper.receive(timeout=1) == "here"
        with pytest.raises(trouper.NameNotRegisteredError):
            cluster.send(("nobody", "nonode@nohost"), "x")


async def test_a_remote_monitor_fires_with_the_reason_the_other_node_reports(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_is_up(b)
        ref = cluster.monitor(("worker", "b"))
        _, _, _, request, _ = await b.frame_where(is_(MonitorName))
        assert (request.node, request.name) == ("a", "worker")
        await b.send(TOPIC, NameDown(request.token, ["crashed", 1]), to="a")
        assert await trouper.receive(timeout=5) == trouper.Down(
            ref, ("worker", "b"), ["crashed", 1]
        )


async def test_remote_monitors_fire_with_noconnection_when_the_node_goes_down(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_is_up(b)
        refs = [cluster.monitor((name, "b")) for name in ("w1", "w2")]
        for _ in refs:
            await b.frame_where(is_(MonitorName))
        downs = [await trouper.receive(trouper.Down, timeout=5) for _ in refs]
        assert {(d.ref, d.pid, d.reason) for d in downs} == {
            (refs[0], ("w1", "b"), "noconnection"),
            (refs[1], ("w2", "b"), "noconnection"),
        }


async def test_a_changed_session_is_a_broken_link_its_monitors_fire(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        cluster.monitor_nodes()
        await b_is_up(b)
        ref = cluster.monitor(("w", "b"))
        await b.frame_where(is_(MonitorName))
        await b.send(TOPIC, Heartbeat("b", "b1", 1))  # b lost messages: a new session
        down = await trouper.receive(trouper.Down, timeout=5)
        assert (down.ref, down.reason) == (ref, "noconnection")
        assert await trouper.receive(timeout=5) == NodeUp("b")
        assert await trouper.receive(timeout=5) == NodeDown("b", "connection_closed")
        assert await trouper.receive(timeout=5) == NodeUp("b")


async def test_monitoring_a_node_that_is_not_up_fires_at_once(redis_server: RedisServer) -> None:
    async with node_a(redis_server.url):
        ref = cluster.monitor(("worker", "nowhere"))
        assert await trouper.receive(timeout=1) == trouper.Down(
            ref, ("worker", "nowhere"), "noconnection"
        )


async def test_another_node_monitors_a_name_here(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        worker = trouper.spawn(Worker, name="worker")
        await b.send(TOPIC, MonitorName("b", 7, "worker"), to="a")
        await b.send(TOPIC, MonitorName("b", 8, "nobody"), to="a")
        _, _, _, noproc, _ = await b.frame_where(is_(NameDown))
        assert noproc == NameDown(8, "noproc")
        trouper.send(worker, ("crash", ("bad", "luck")))
        _, _, _, down, _ = await b.frame_where(is_(NameDown))
        assert down == NameDown(7, ("bad", "luck"))


async def test_an_exit_reason_that_cannot_cross_nodes_arrives_as_its_repr(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        worker = trouper.spawn(Worker, name="worker")
        await b.send(TOPIC, MonitorName("b", 1, "worker"), to="a")
        await wait_until(lambda: bool(trouper.process_info(worker).monitored_by))
        trouper.exit(worker, RuntimeError("boom"))
        _, _, _, down, _ = await b.frame_where(is_(NameDown))
        assert down == NameDown(1, "RuntimeError('boom')")


async def test_a_demonitor_reaches_the_other_node_and_no_down_comes(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_is_up(b)
        ref = cluster.monitor(("worker", "b"))
        _, _, _, request, _ = await b.frame_where(is_(MonitorName))
        cluster.demonitor(ref)
        _, _, _, dropped, _ = await b.frame_where(is_(DemonitorName))
        assert dropped == DemonitorName("a", request.token)
        trouper.register("inbox", trouper.self())
        await b.send(TOPIC, NameDown(request.token, "late"), to="a")
        await b.send(TOPIC, RemoteSend("inbox", "marker"), to="a")
        assert await trouper.receive(timeout=5) == "marker"  # the late NameDown came before
        assert trouper.receive_all_nowait() == []


async def test_monitors_of_a_process_that_exits_are_dropped_on_both_ends(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_is_up(b)

        async def owner() -> None:
            cluster.monitor(("worker", "b"))
            await trouper.receive()

        pid = trouper.spawn(owner)
        _, _, _, request, _ = await b.frame_where(is_(MonitorName))
        trouper.exit(pid, "kill")
        _, _, _, dropped, _ = await b.frame_where(is_(DemonitorName))
        assert dropped == DemonitorName("a", request.token)


async def test_without_a_cluster_the_api_is_a_clear_error() -> None:
    async with trouper.open_node():
        with pytest.raises(cluster.ClusterError, match=r"Cluster\.start_link"):
            cluster.nodes()
