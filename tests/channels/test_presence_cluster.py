"""Presence across nodes: node "a" (this process) and node "b", played by the test.

"b" speaks the replication protocol over raw Redis (tests/redis_peer.py), so each test
decides what "b" tracks, which of its messages get lost and when it falls silent. A plain
process subscribed to the topic stands in for a client: it receives the ``presence_diff``
broadcasts this node makes. Real time (Redis); short periods; every wait is bounded.
tests/cluster/test_nodes.py runs presence on real nodes.
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
from trouper import pubsub
from trouper.channels import Broadcast, Presence, list_presences, track, untrack, update
from trouper.channels._presence_sync import Beat, Delta, Goodbye, Request, State
from trouper.pubsub import CodecError, PubSub, RedisAdapter

PERIOD, DOWN = 0.05, 1.0  # b must not time out in the middle of a test
SYNC = "trouper.presence:presence"
BOB = {"name": "bob", "phx_ref": "b-1"}


@asynccontextmanager
async def node_a(url: str) -> AsyncIterator[None]:
    async with trouper.open_node():
        await PubSub.start_link("chat", adapter=RedisAdapter(url, node_name="a"))
        await Presence.start_link(
            "presence", pubsub="chat", broadcast_period=PERIOD, down_period=DOWN
        )
        pubsub.subscribe("chat", "room")  # the test process plays a client of "room"
        yield


async def diff(timeout: float = 5.0) -> dict[str, Any]:
    message = await trouper.receive(Broadcast, timeout=timeout)
    assert (message.topic, message.event) == ("room", "presence_diff")
    return dict(message.payload)


def is_(kind: type) -> Any:
    return lambda message: type(message) is kind


async def b_with_bob(b: RedisPeer) -> None:
    """b announces itself (seq 3), a asks for its state, b answers: bob is on "room"."""
    await b.send(SYNC, Beat("b", "b1", 3))
    _, _, _, request, _ = await b.frame_where(is_(Request))
    assert request == Request("a")
    await b.send(SYNC, State("b", "b1", 3, {"room": {"bob": [BOB]}}), to="a")
    assert await diff() == {"joins": {"bob": {"metas": [BOB]}}, "leaves": {}}


async def test_a_local_track_is_replicated_as_a_numbered_delta(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        ref = track("presence", "room", "ann", {"online_at": 1})
        _, sender, _, delta, _ = await b.frame_where(is_(Delta))
        meta = {"online_at": 1, "phx_ref": ref}
        assert sender == "a"
        assert (delta.seq, delta.topic, delta.joins, delta.leaves) == (
            1,
            "room",
            {"ann": [meta]},
            {},
        )
        untrack("presence", "room", "ann")
        _, _, _, delta, _ = await b.frame_where(is_(Delta))
        assert (delta.seq, delta.joins, delta.leaves) == (2, {}, {"ann": [meta]})


async def test_heartbeats_carry_the_last_delta_number(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        _, _, _, beat, _ = await b.frame_where(is_(Beat))
        assert (beat.node, beat.seq) == ("a", 0)
        track("presence", "room", "ann")
        _, _, _, beat, _ = await b.frame_where(is_(Beat))
        assert beat.seq == 1


async def test_another_nodes_entries_are_fetched_listed_and_diffed_here(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        track("presence", "room", "ann")
        await diff()  # ann joins (a local track)
        await b_with_bob(b)
        assert sorted(list_presences("presence", "room")) == ["ann", "bob"]
        assert list_presences("presence", "room")["bob"] == {"metas": [BOB]}


async def test_deltas_in_order_apply_and_a_gap_asks_for_the_state_again(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_with_bob(b)
        carl = {"phx_ref": "b-2"}
        await b.send(SYNC, Delta("b", "b1", 4, "room", {"carl": [carl]}, {"bob": [BOB]}))
        assert await diff() == {
            "joins": {"carl": {"metas": [carl]}},
            "leaves": {"bob": {"metas": [BOB]}},
        }
        await b.send(SYNC, Delta("b", "b1", 6, "room", {"dan": [{"phx_ref": "b-4"}]}, {}))
        _, _, _, request, _ = await b.frame_where(is_(Request))  # 5 was lost
        assert request == Request("a")
        assert sorted(list_presences("presence", "room")) == ["carl"]  # 6 not applied
        dan = {"phx_ref": "b-4"}
        await b.send(SYNC, State("b", "b1", 6, {"room": {"carl": [carl], "dan": [dan]}}), to="a")
        assert await diff() == {"joins": {"dan": {"metas": [dan]}}, "leaves": {}}


async def test_a_silent_nodes_entries_leave_after_the_down_period(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_with_bob(b)
        silent_since = trio.current_time()
        with capture_logs() as logs:
            assert await diff() == {"joins": {}, "leaves": {"bob": {"metas": [BOB]}}}
        assert trio.current_time() - silent_since >= DOWN - 2 * PERIOD
        assert list_presences("presence", "room") == {}
        assert [e["reason"] for e in logs if e["event"] == "presence_replica_down"] == ["down"]


async def test_a_restarted_node_loses_its_old_entries_and_is_asked_again(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_with_bob(b)
        await b.send(SYNC, Beat("b", "b2", 0))  # a new incarnation of b
        assert await diff() == {"joins": {}, "leaves": {"bob": {"metas": [BOB]}}}
        _, _, _, request, _ = await b.frame_where(is_(Request))
        assert request == Request("a")


async def test_a_goodbye_drops_the_nodes_entries_at_once(redis_server: RedisServer) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_with_bob(b)
        await b.send(SYNC, Goodbye("b", "b1"))
        assert await diff(timeout=DOWN / 2) == {"joins": {}, "leaves": {"bob": {"metas": [BOB]}}}


async def test_another_node_asking_gets_this_nodes_own_entries_only(
    redis_server: RedisServer,
) -> None:
    async with RedisPeer(redis_server.url) as b, node_a(redis_server.url):
        await b_with_bob(b)
        ref = track("presence", "room", "ann", {"x": 1})
        ref = update("presence", "room", "ann", {"x": 2})
        await b.send(SYNC, Request("b"), to="a")
        _, _, _, state, _ = await b.frame_where(is_(State))
        assert (state.node, state.seq) == ("a", 2)
        ann = list_presences("presence", "room")["ann"]["metas"]
        assert state.state == {"room": {"ann": ann}} and ann[0]["phx_ref"] == ref


async def test_a_meta_that_cannot_cross_nodes_is_refused_and_nothing_is_tracked(
    redis_server: RedisServer,
) -> None:
    async with node_a(redis_server.url):
        with pytest.raises(CodecError):
            track("presence", "room", "ann", {"pid": trouper.self()})
        assert list_presences("presence", "room") == {}
        assert trouper.receive_all_nowait(Broadcast) == []
