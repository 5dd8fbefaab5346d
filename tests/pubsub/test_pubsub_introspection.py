"""Introspection (subscribers, subscriber_count, statistics) and the package's public surface."""

from __future__ import annotations

import inspect

import pytest
from pubsub_helpers import Member, members_subscribed, run_in

import trouper
import trouper.pubsub as pubsub
from trouper.pubsub import PubSub, PubSubStatistics, ShardStatistics
from trouper.supervision import which_children


async def test_subscribers_lists_each_subscription_across_shards() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pids = await members_subscribed("ps", "room", 5)
        await run_in(pids[0], lambda: pubsub.subscribe("ps", "room"))
        assert sorted(pubsub.subscribers("ps", "room")) == sorted([pids[0], *pids])
        assert pubsub.subscribers("ps", "elsewhere") == []


async def test_subscriber_count_is_what_one_broadcast_delivers() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        pids = await members_subscribed("ps", "room", 4)
        await run_in(pids[1], lambda: pubsub.subscribe("ps", "room"))
        assert pubsub.subscriber_count("ps", "room") == 5
        assert pubsub.subscriber_count("ps", "elsewhere") == 0
        trouper.exit(pids[1], "kill")
        assert pubsub.subscriber_count("ps", "room") == 3


async def test_statistics_count_subscriptions_and_topics_per_shard_and_in_all() -> None:
    async with trouper.open_node():
        sup = await PubSub.start_link("ps", shards=2, adapter=pubsub.LocalAdapter("n1"))
        me = trouper.self()
        even = trouper.spawn(Member, me)
        if even.number % 2:
            even = trouper.spawn(Member, me)
        for topic in ("a", "b", "b"):
            await run_in(even, lambda topic=topic: pubsub.subscribe("ps", topic))
        others = await members_subscribed("ps", "a", 4)
        in_shard = [sum(1 for pid in others if pid.number % 2 == k) for k in (0, 1)]
        stats = pubsub.statistics("ps")
        assert isinstance(stats, PubSubStatistics)
        assert (stats.name, stats.node_name, stats.topics) == ("ps", "n1", 2)
        assert stats.subscriptions == 3 + 4
        shard0, shard1 = stats.shards
        assert isinstance(shard0, ShardStatistics)
        assert (shard0.index, shard0.subscriptions, shard0.subscribers, shard0.topics) == (
            0,
            3 + in_shard[0],
            1 + in_shard[0],
            2,
        )
        assert (shard1.index, shard1.subscriptions, shard1.subscribers, shard1.topics) == (
            1,
            in_shard[1],
            in_shard[1],
            1 if in_shard[1] else 0,
        )
        children = {child.pid for child in await which_children(sup)}
        assert {shard0.pid, shard1.pid} == children
        assert shard0.restarts == shard1.restarts == 0


async def test_introspection_of_an_unknown_pubsub_raises_pubsub_error() -> None:
    async with trouper.open_node():
        for call in (
            lambda: pubsub.subscribers("nobody", "t"),
            lambda: pubsub.subscriber_count("nobody", "t"),
            lambda: pubsub.statistics("nobody"),
            lambda: pubsub.node_name("nobody"),
        ):
            with pytest.raises(pubsub.PubSubError):
                call()


def test_every_public_name_is_exported_once_and_exists() -> None:
    assert len(pubsub.__all__) == len(set(pubsub.__all__))
    public = {name for name in vars(pubsub) if not name.startswith("_")}
    assert public == set(pubsub.__all__)


def test_public_classes_and_functions_have_docstrings() -> None:
    for name in pubsub.__all__:
        obj = getattr(pubsub, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
