"""The broadcasts: who receives, what the adapter is asked to do, and that nothing waits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio
from pubsub_helpers import Member, members_subscribed, received, run_in
from structlog.testing import capture_logs

import trouper
from trouper import pubsub
from trouper.pubsub import LocalAdapter, PubSub
from trouper.supervision import ChildSpec


class RecordingAdapter(LocalAdapter):
    """A single-node adapter that records what crosses the node boundary."""

    def __init__(self, node_name: str = "here") -> None:
        super().__init__(node_name)
        self.sent: list[tuple[Any, ...]] = []

    def broadcast(self, topic: str, message: Any, dispatcher: str) -> None:
        self.sent.append(("broadcast", topic, message, dispatcher))

    def direct_broadcast(self, node_name: str, topic: str, message: Any, dispatcher: str) -> None:
        self.sent.append(("direct_broadcast", node_name, topic, message, dispatcher))
        super().direct_broadcast(node_name, topic, message, dispatcher)


async def test_broadcast_reaches_every_subscriber_in_every_shard_once() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=4)
        pids = await members_subscribed("ps", "room", 12)
        assert len({pid.number % 4 for pid in pids}) == 4
        pubsub.broadcast("ps", "room", "hi")
        assert await received(pids) == {pid: ["hi"] for pid in pids}


async def test_subscribers_of_other_topics_receive_nothing() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        room = await members_subscribed("ps", "room", 2)
        lobby = await members_subscribed("ps", "lobby", 2)
        pubsub.broadcast("ps", "room", "hi")
        assert await received(room + lobby) == {
            **{pid: ["hi"] for pid in room},
            **{pid: [] for pid in lobby},
        }


async def test_broadcast_from_skips_the_sender() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        sender, *others = await members_subscribed("ps", "room", 4)
        await run_in(sender, lambda: pubsub.broadcast_from("ps", trouper.self(), "room", "hi"))
        assert await received([sender, *others]) == {
            sender: [],
            **{pid: ["hi"] for pid in others},
        }


async def test_local_broadcast_and_local_broadcast_from_deliver_without_the_adapter() -> None:
    async with trouper.open_node():
        adapter = RecordingAdapter()
        await PubSub.start_link("ps", shards=2, adapter=adapter)
        first, second = await members_subscribed("ps", "room", 2)
        pubsub.local_broadcast("ps", "room", "one")
        pubsub.local_broadcast_from("ps", first, "room", "two")
        assert await received([first, second]) == {first: ["one"], second: ["one", "two"]}
        assert adapter.sent == []


async def test_broadcast_hands_the_message_to_the_adapter_with_the_dispatcher_name() -> None:
    async with trouper.open_node():
        adapter = RecordingAdapter()
        await PubSub.start_link("ps", adapter=adapter)
        [member] = await members_subscribed("ps", "room", 1)
        pubsub.broadcast("ps", "room", "one")
        pubsub.broadcast_from("ps", member, "room", "two")
        # Remote nodes get no `from`: the sender is local to this node.
        assert adapter.sent == [
            ("broadcast", "room", "one", "trouper.pubsub"),
            ("broadcast", "room", "two", "trouper.pubsub"),
        ]
        assert await received([member]) == {member: ["one"]}


async def test_direct_broadcast_to_this_node_goes_through_the_adapter() -> None:
    async with trouper.open_node():
        adapter = RecordingAdapter("node-a")
        await PubSub.start_link("ps", adapter=adapter)
        [member] = await members_subscribed("ps", "room", 1)
        pubsub.direct_broadcast("node-a", "ps", "room", "for a")
        pubsub.direct_broadcast("node-b", "ps", "room", "for b")
        assert adapter.sent == [
            ("direct_broadcast", "node-a", "room", "for a", "trouper.pubsub"),
            ("direct_broadcast", "node-b", "room", "for b", "trouper.pubsub"),
        ]
        assert await received([member]) == {member: ["for a"]}


async def test_direct_broadcast_is_delivered_only_by_the_adapter() -> None:
    class Dropping(LocalAdapter):
        def direct_broadcast(
            self, node_name: str, topic: str, message: Any, dispatcher: str
        ) -> None:
            pass  # a cluster adapter whose bus is down: nothing arrives, even locally

    async with trouper.open_node():
        await PubSub.start_link("ps", adapter=Dropping("me"))
        [member] = await members_subscribed("ps", "room", 1)
        pubsub.direct_broadcast("me", "ps", "room", "lost")
        assert await received([member]) == {member: []}


async def test_node_name_comes_from_the_adapter() -> None:
    async with trouper.open_node():
        await PubSub.start_link("default")
        await PubSub.start_link("named", adapter=LocalAdapter("node-7"))
        assert pubsub.node_name("default") == "nonode@nohost"
        assert pubsub.node_name("named") == "node-7"


async def test_the_adapter_start_hook_learns_the_name_and_its_children_are_supervised() -> None:
    started: list[str] = []
    stopped: list[str] = []

    class Idle(trouper.GenServer):
        def init(self, report_to: trouper.Pid) -> None:
            trouper.send(report_to, ("bus_connected", trouper.self()))

    class BusAdapter(LocalAdapter):
        def start(self, pubsub: str) -> Sequence[ChildSpec]:
            super().start(pubsub)
            started.append(pubsub)
            return [ChildSpec("bus", Idle, (trouper.self(),))]

        def stop(self) -> None:
            super().stop()
            stopped.append("stopped")

    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await PubSub.start_link("ps", shards=2, adapter=BusAdapter())
        assert started == ["ps"]
        _, bus = await trouper.receive(lambda m: m[0] == "bus_connected")
        assert trouper.process_info(bus).links == (sup,)
        trouper.exit(sup, "shutdown")
        await trouper.receive(trouper.Exit)
        assert stopped == ["stopped"]


async def test_a_reactive_callback_can_broadcast() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        sender, listener = await members_subscribed("ps", "room", 2)
        await run_in(sender, lambda: pubsub.broadcast("ps", "room", "from a callback"))
        assert await received([sender, listener]) == {
            sender: ["from a callback"],
            listener: ["from a callback"],
        }


async def test_plain_trio_code_in_the_node_can_broadcast() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)

        async def plain_trio_task() -> None:
            pubsub.broadcast("ps", "room", "from trio")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(plain_trio_task)
        assert await received([member]) == {member: ["from trio"]}


async def test_broadcast_never_waits_for_a_subscriber_that_does_not_read() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=2)
        me = trouper.self()
        never = trio.Event()

        async def stuck() -> None:
            pubsub.subscribe("ps", "room")
            trouper.send(me, "subscribed")
            await never.wait()  # never reads its mailbox

        slow = trouper.spawn(stuck)
        assert await trouper.receive() == "subscribed"
        [fast] = await members_subscribed("ps", "room", 1)
        for index in range(1000):
            pubsub.broadcast("ps", "room", index)  # returns at once every time
        assert (await received([fast]))[fast] == list(range(1000))
        info = trouper.process_info(slow)
        assert info is not None and info.mailbox_len == 1000


async def test_broadcast_to_a_topic_nobody_subscribes_to_does_nothing() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pubsub.broadcast("ps", "empty", "hi")
        assert pubsub.statistics("ps").subscriptions == 0


async def test_broadcasts_to_an_unknown_pubsub_raise_pubsub_error() -> None:
    async with trouper.open_node():
        with pytest.raises(pubsub.PubSubError):
            pubsub.broadcast("nobody", "room", "hi")
        with pytest.raises(pubsub.PubSubError):
            pubsub.direct_broadcast("nonode@nohost", "nobody", "room", "hi")


async def test_messages_from_one_broadcaster_arrive_in_order() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=3)
        pids = await members_subscribed("ps", "room", 3)
        me = trouper.self()
        broadcaster = trouper.spawn(Member, me)
        await run_in(
            broadcaster, lambda: [pubsub.broadcast("ps", "room", index) for index in range(50)]
        )
        assert await received(pids) == {pid: list(range(50)) for pid in pids}


async def test_an_adapter_whose_stop_fails_is_reported_and_the_pubsub_still_stops() -> None:
    class Failing(LocalAdapter):
        def stop(self) -> None:
            raise RuntimeError("bus gone")

    async with trouper.open_node():
        trouper.trap_exit(True)
        sup = await PubSub.start_link("ps", adapter=Failing())
        with capture_logs() as logs:
            trouper.exit(sup, "shutdown")
            await trouper.receive(trouper.Exit, timeout=5)
        [report] = [log for log in logs if log["event"] == "pubsub_adapter_stop_failed"]
        assert report["pubsub"] == "ps" and isinstance(report["exc_info"], RuntimeError)
        with pytest.raises(pubsub.PubSubError):
            pubsub.broadcast("ps", "room", "x")
