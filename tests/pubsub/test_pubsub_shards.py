"""Shards and the pubsub's lifecycle: sharding by subscriber, shard crashes, stopping, specs."""

from __future__ import annotations

from typing import Any

import pytest
from pubsub_helpers import Member, members_subscribed, received, run_in
from structlog.testing import capture_logs

import trouper
from trouper import pubsub
from trouper.pubsub import PubSub, ShardRestarted
from trouper.supervision import Supervisor, which_children


def shard_of(pid: trouper.Pid, shards: int) -> int:
    return pid.number % shards


async def test_subscriptions_are_sharded_by_subscriber() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pids = await members_subscribed("ps", "room", 9)
        stats = pubsub.statistics("ps")
        for shard in stats.shards:
            expected = sum(1 for pid in pids if shard_of(pid, 3) == shard.index)
            assert (shard.subscriptions, shard.subscribers) == (expected, expected)


async def test_the_pubsub_is_a_supervisor_of_its_shards_registered_under_its_name() -> None:
    async with trouper.open_node():
        sup = await PubSub.start_link("ps", shards=3)
        assert trouper.whereis("ps") == sup
        children = await which_children(sup)
        assert sorted(child.id for child in children) == [("shard", 0), ("shard", 1), ("shard", 2)]
        shard_pids = {shard.pid for shard in pubsub.statistics("ps").shards}
        assert {child.pid for child in children} == shard_pids
        assert all(trouper.process_info(pid).mode == "reactive" for pid in shard_pids)


async def _kill_shard(index: int) -> trouper.Pid:
    old = pubsub.statistics("ps").shards[index].pid
    assert old is not None
    trouper.exit(old, "kill")
    return old


async def test_a_shard_crash_loses_that_shards_subscriptions_and_tells_their_subscribers() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        crashed = shard_of(me, 2)
        pubsub.subscribe("ps", "b")
        pubsub.subscribe("ps", "a")
        pubsub.subscribe("ps", "a")
        pids = await members_subscribed("ps", "room", 6)
        lost = [pid for pid in pids if shard_of(pid, 2) == crashed]
        kept = [pid for pid in pids if shard_of(pid, 2) != crashed]
        with capture_logs():
            old = await _kill_shard(crashed)
            notice = await trouper.receive(ShardRestarted, timeout=5)
        assert notice == ShardRestarted("ps", crashed, ("a", "b"))
        shard = pubsub.statistics("ps").shards[crashed]
        assert shard.pid not in (None, old) and shard.restarts == 1
        assert shard.subscriptions == 0
        pubsub.broadcast("ps", "room", "after")
        got = await received(pids)
        assert got == {
            **{pid: [ShardRestarted("ps", crashed, ("room",))] for pid in lost},
            **{pid: ["after"] for pid in kept},
        }


async def test_a_shard_crash_leaves_the_other_shards_untouched() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pids = await members_subscribed("ps", "room", 9)
        before = pubsub.statistics("ps").shards
        with capture_logs():
            await _kill_shard(0)
        after = pubsub.statistics("ps").shards
        for index in (1, 2):
            assert after[index] == before[index]
        survivors = [pid for pid in pids if shard_of(pid, 3) != 0]
        assert sorted(pubsub.subscribers("ps", "room")) == sorted(survivors)


async def test_a_shard_that_crashes_on_a_bad_message_is_restarted_the_same_way() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        pubsub.subscribe("ps", "room")
        shard = pubsub.statistics("ps").shards[shard_of(me, 2)]
        assert shard.pid is not None
        with capture_logs() as logs:
            trouper.cast(shard.pid, "not a shard request")  # no handle_cast: it crashes
            assert await trouper.receive(ShardRestarted, timeout=5) == ShardRestarted(
                "ps", shard.index, ("room",)
            )
        assert {"crash_report", "child_terminated"} <= {log["event"] for log in logs}


class Rejoiner(trouper.Actor):
    """Subscribes in init and again whenever a shard restart says it was lost."""

    def init(self, owner: trouper.Pid) -> None:
        self.owner = owner
        pubsub.subscribe("ps", "room")

    def handle(self, message: Any) -> None:
        if type(message) is ShardRestarted:
            for topic in message.topics:
                pubsub.subscribe("ps", topic)
            trouper.send(self.owner, ("rejoined", trouper.self()))
        else:
            trouper.send(self.owner, ("got", trouper.self(), message))


async def test_subscribers_that_resubscribe_on_the_notice_receive_broadcasts_again() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        pids = [trouper.spawn(Rejoiner, me) for _ in range(4)]
        in_shard_0 = [pid for pid in pids if shard_of(pid, 2) == 0]
        with capture_logs():
            await _kill_shard(0)
            for _ in in_shard_0:
                await trouper.receive(lambda m: m[0] == "rejoined", timeout=5)
        pubsub.broadcast("ps", "room", "back")
        got = [await trouper.receive(lambda m: m[0] == "got", timeout=5) for _ in pids]
        assert sorted(message[1] for message in got) == sorted(pids)


async def test_subscriptions_made_while_the_shard_restarts_are_kept() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        pubsub.subscribe("ps", "a")
        pubsub.subscribe("ps", "b")
        with capture_logs():
            await _kill_shard(shard_of(me, 2))
            # The shard is dead and its supervisor has not run yet: subscribe still works.
            assert pubsub.statistics("ps").shards[shard_of(me, 2)].pid is None
            pubsub.subscribe("ps", "a")
            notice = await trouper.receive(ShardRestarted, timeout=5)
        assert notice.topics == ("b",)  # "a" is subscribed again already
        pubsub.broadcast("ps", "a", "kept")
        assert await trouper.receive(timeout=1) == "kept"


async def test_a_topic_given_up_while_the_shard_restarts_is_not_in_the_notice() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        for topic in ("a", "b", "c"):
            pubsub.subscribe("ps", topic)
        with capture_logs():
            await _kill_shard(shard_of(me, 2))
            pubsub.unsubscribe("ps", "b")
            notice = await trouper.receive(ShardRestarted, timeout=5)
        assert notice.topics == ("a", "c")


async def test_a_subscriber_that_died_during_the_restart_is_not_told() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        index = shard_of(me, 2)
        pids = await members_subscribed("ps", "room", 4)
        pubsub.subscribe("ps", "room")
        in_shard = [pid for pid in pids if shard_of(pid, 2) == index]
        with capture_logs():
            await _kill_shard(index)
            trouper.exit(in_shard[0], "kill")
            await trouper.receive(ShardRestarted, timeout=5)
        # The dead one got no notice (it cannot), the live ones each got theirs.
        got = await received(in_shard[1:])
        assert all(
            messages == [ShardRestarted("ps", index, ("room",))] for messages in got.values()
        )


async def test_a_stopped_pubsub_forgets_its_subscriptions_and_its_name_is_free_again() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await PubSub.start_link("ps", shards=2)
        [member] = await members_subscribed("ps", "room", 1)
        trouper.exit(sup, "shutdown")
        assert (await trouper.receive(trouper.Exit, timeout=5)).pid == sup
        with pytest.raises(pubsub.PubSubError):
            pubsub.broadcast("ps", "room", "x")
        ref = trouper.monitor(member)
        with capture_logs():
            trouper.send(member, lambda: pubsub.subscribe("ps", "room"))
            down = await trouper.receive(trouper.Down, timeout=5)
        assert down.ref is ref and isinstance(down.reason, pubsub.PubSubError)
        await PubSub.start_link("ps", shards=2)  # a fresh one under the name starts empty
        assert pubsub.statistics("ps").subscriptions == 0


async def test_a_stopped_pubsub_leaves_no_exit_hook_in_its_subscribers() -> None:
    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await PubSub.start_link("ps", shards=2)
        [member] = await members_subscribed("ps", "room", 1)
        trouper.exit(sup, "kill")
        await trouper.receive(trouper.Exit, timeout=5)
        proc = member._proc  # the runtime's private record: no public API shows hooks
        assert proc is not None and not proc.monitors


async def test_run_from_a_child_spec_the_parent_restarts_a_fresh_pubsub() -> None:
    async with trouper.open_node():
        top = await Supervisor.start_link([PubSub.child_spec("ps", shards=2)])
        [child] = await which_children(top)
        assert child.id == "ps" and child.pid == trouper.whereis("ps")
        pubsub.subscribe("ps", "room")
        ref = trouper.monitor(child.pid)
        with capture_logs():
            trouper.exit(child.pid, "kill")
            await trouper.receive(lambda m: type(m) is trouper.Down and m.ref is ref, timeout=5)
            # The supervisor had the child's exit before this call: it answers after the restart.
            [restarted] = await which_children(top)
        assert restarted.pid not in (None, child.pid)
        assert restarted.pid == trouper.whereis("ps")
        assert pubsub.subscriber_count("ps", "room") == 0  # a restart starts clean
        pubsub.subscribe("ps", "room")
        pubsub.broadcast("ps", "room", "hi")
        assert await trouper.receive(timeout=1) == "hi"


async def test_starting_a_second_pubsub_under_a_taken_name_fails() -> None:
    async with trouper.open_node():
        sup = await PubSub.start_link("ps")
        with pytest.raises(trouper.AlreadyRegisteredError) as info:
            await PubSub.start_link("ps")
        assert info.value.pid == sup
        assert pubsub.statistics("ps").shards[0].pid is not None  # the first one is fine


async def test_pubsub_arguments_are_checked() -> None:
    async with trouper.open_node():
        with pytest.raises(ValueError):
            await PubSub.start_link("ps", shards=0)
        with pytest.raises(TypeError):
            await PubSub.start_link("")
        with pytest.raises(ValueError):
            pubsub.LocalAdapter("")


async def test_pubsubs_are_independent() -> None:
    async with trouper.open_node():
        await PubSub.start_link("one")
        await PubSub.start_link("two", shards=2)
        me = trouper.self()
        member = trouper.spawn(Member, me)
        await run_in(member, lambda: pubsub.subscribe("one", "room"))
        pubsub.broadcast("two", "room", "wrong pubsub")
        pubsub.broadcast("one", "room", "right pubsub")
        assert await received([member]) == {member: ["right pubsub"]}


async def test_a_name_from_a_node_that_stopped_does_not_leak_into_the_next() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        pubsub.subscribe("ps", "room")
    async with trouper.open_node():
        with pytest.raises(pubsub.PubSubError):
            pubsub.subscribe("ps", "room")
        await PubSub.start_link("ps")
        assert pubsub.subscriber_count("ps", "room") == 0
