"""subscribe and unsubscribe: from reactive callbacks, duplicates, many topics, dead subscribers."""

from __future__ import annotations

import pytest
import trio
from pubsub_helpers import Member, Recorder, members_subscribed, received, run_in

import trouper
from trouper import pubsub
from trouper.pubsub import PubSub


async def test_a_reactive_callback_subscribes_its_process_and_receives_the_broadcast() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)
        assert trouper.process_info(member).mode == "reactive"
        pubsub.broadcast("ps", "room", "hello")
        assert await received([member]) == {member: ["hello"]}


async def test_a_task_process_subscribes_itself() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        pubsub.subscribe("ps", "room")
        pubsub.broadcast("ps", "room", "hello")
        assert await trouper.receive(timeout=1) == "hello"


async def test_subscribe_outside_a_process_raises_not_in_process() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        errors: list[BaseException] = []

        async def plain_trio_task() -> None:
            try:
                pubsub.subscribe("ps", "room")
            except trouper.NotInProcessError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(plain_trio_task)
        assert len(errors) == 1
        assert pubsub.subscriber_count("ps", "room") == 0


async def test_subscribe_to_an_unknown_pubsub_raises_pubsub_error() -> None:
    async with trouper.open_node():
        with pytest.raises(pubsub.PubSubError):
            pubsub.subscribe("nobody", "room")
        with pytest.raises(LookupError):  # PubSubError is a LookupError
            pubsub.unsubscribe("nobody", "room")


async def test_a_topic_must_be_a_str() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        with pytest.raises(TypeError):
            pubsub.subscribe("ps", ("room", 1))  # type: ignore[arg-type]


async def test_one_process_subscribes_to_many_topics_and_gets_each_broadcast_once() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        me = trouper.self()
        member = trouper.spawn(Member, me)
        topics = [f"t{i}" for i in range(5)]
        for topic in topics:
            await run_in(member, lambda topic=topic: pubsub.subscribe("ps", topic))
        for topic in topics:
            pubsub.broadcast("ps", topic, topic)
        pubsub.broadcast("ps", "other", "not for it")
        assert sorted((await received([member]))[member]) == topics


async def test_duplicate_subscriptions_deliver_once_per_subscription() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        [member] = await members_subscribed("ps", "room", 1)
        for _ in range(2):
            await run_in(member, lambda: pubsub.subscribe("ps", "room"))
        assert pubsub.subscriber_count("ps", "room") == 3
        assert pubsub.subscribers("ps", "room") == [member] * 3
        pubsub.broadcast("ps", "room", "hi")
        assert await received([member]) == {member: ["hi", "hi", "hi"]}


async def test_unsubscribe_removes_every_duplicate_of_that_topic_and_nothing_else() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)
        await run_in(member, lambda: pubsub.subscribe("ps", "room"))
        await run_in(member, lambda: pubsub.subscribe("ps", "lobby"))
        await run_in(member, lambda: pubsub.unsubscribe("ps", "room"))
        assert pubsub.subscriber_count("ps", "room") == 0
        pubsub.broadcast("ps", "room", "gone")
        pubsub.broadcast("ps", "lobby", "kept")
        assert await received([member]) == {member: ["kept"]}


async def test_unsubscribe_affects_only_the_calling_process() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        a, b = await members_subscribed("ps", "room", 2)
        await run_in(a, lambda: pubsub.unsubscribe("ps", "room"))
        assert pubsub.subscribers("ps", "room") == [b]


async def test_unsubscribe_without_a_subscription_is_a_no_op() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        pubsub.unsubscribe("ps", "room")
        pubsub.subscribe("ps", "lobby")
        pubsub.unsubscribe("ps", "room")
        assert pubsub.subscribers("ps", "lobby") == [trouper.self()]


async def test_resubscribing_after_unsubscribe_delivers_again() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)
        await run_in(member, lambda: pubsub.unsubscribe("ps", "room"))
        await run_in(member, lambda: pubsub.subscribe("ps", "room", "again"))
        pubsub.broadcast("ps", "room", "hi")
        assert await received([member]) == {member: ["hi"]}


async def test_a_dead_subscriber_is_gone_before_its_down_arrives() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        victim, survivor = await members_subscribed("ps", "room", 2)
        ref = trouper.monitor(victim)
        trouper.exit(victim, "kill")
        assert await trouper.receive(trouper.Down) == trouper.Down(ref, victim, "killed")
        # Removal is synchronous, in the victim's exit: nothing is left to clean up later.
        assert pubsub.subscribers("ps", "room") == [survivor]


async def test_no_message_is_dispatched_to_a_subscriber_after_it_died(recorder: Recorder) -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pids = await members_subscribed("ps", "room", 6)
        trouper.exit(pids[0], "kill")
        trouper.exit(pids[1], "crash")
        pubsub.broadcast("ps", "room", "after", dispatcher=recorder)
        dispatched = [pid for mapping, _, _ in recorder.calls for pid in mapping]
        assert sorted(dispatched) == sorted(pids[2:])


async def test_a_dead_subscriber_loses_every_topic_and_duplicate() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        [member] = await members_subscribed("ps", "a", 1)
        for topic in ("a", "b", "c", "c"):
            await run_in(member, lambda topic=topic: pubsub.subscribe("ps", topic))
        assert pubsub.statistics("ps").subscriptions == 5
        trouper.exit(member, "kill")
        stats = pubsub.statistics("ps")
        assert (stats.subscriptions, stats.topics) == (0, 0)
        assert all(shard.subscribers == 0 for shard in stats.shards)


async def test_a_subscriber_gets_one_exit_hook_per_shard_however_many_subscriptions() -> None:
    # Memory per subscription matters (millions of subscribers): the subscriber's monitor
    # table gains one entry, not one per subscription. This reads the runtime's private
    # monitor table, which no public API exposes.
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        [member] = await members_subscribed("ps", "t0", 1)
        for index in range(20):
            await run_in(member, lambda index=index: pubsub.subscribe("ps", f"t{index % 7}"))
        proc = member._proc
        assert proc is not None

        def hooks() -> list[object]:
            # The first hook sits in its own slot; any others in the monitor table.
            return [h for h in (proc.hook, *(proc.monitors or {}).values()) if h is not None]

        assert len(hooks()) == 1
        assert not proc.monitors  # a lone hook needs no table at all
        for index in range(7):
            await run_in(member, lambda index=index: pubsub.unsubscribe("ps", f"t{index}"))
        assert hooks() == []  # no subscription left: the hook goes too


async def test_subscribing_does_not_show_as_a_monitor_in_process_info() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)
        info = trouper.process_info(member)
        assert info is not None and info.monitored_by == ()
