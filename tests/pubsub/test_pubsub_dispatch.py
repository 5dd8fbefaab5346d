"""Dispatchers: what they are given, naming and registration, and mutation while dispatching."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pubsub_helpers import Member, Recorder, members_subscribed, received, run_in

import trouper
from trouper import pubsub
from trouper.pubsub import PubSub


async def test_a_dispatcher_gets_each_shards_table_for_the_topic_once(recorder: Recorder) -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=4)
        me = trouper.self()
        pids = [trouper.spawn(Member, me) for _ in range(10)]
        for index, pid in enumerate(pids):
            await run_in(pid, lambda index=index: pubsub.subscribe("ps", "room", f"v{index}"))
        pubsub.broadcast("ps", "room", "msg", dispatcher=recorder)
        shards_with_subscribers = {pid.number % 4 for pid in pids}
        assert len(recorder.calls) == len(shards_with_subscribers) == 4
        seen: dict[trouper.Pid, Any] = {}
        for mapping, from_pid, message in recorder.calls:
            assert (from_pid, message) == (None, "msg")
            assert len({pid.number % 4 for pid in mapping}) == 1  # one shard per call
            seen.update(mapping)
        assert seen == {pid: f"v{index}" for index, pid in enumerate(pids)}


async def test_a_dispatcher_is_handed_a_live_mapping_not_a_list_of_pairs() -> None:
    handed: list[Any] = []

    class Peek:
        name = "tests.peek"

        def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, msg: Any) -> None:
            handed.append(subscribers)

    peek = pubsub.register_dispatcher(Peek())
    try:
        async with trouper.open_node():
            await PubSub.start_link("ps")
            pids = await members_subscribed("ps", "room", 3, value="lane")
            pubsub.broadcast("ps", "room", "msg", dispatcher=peek)
            pubsub.broadcast("ps", "room", "msg", dispatcher=peek)
            first, second = handed
            assert isinstance(first, Mapping) and not isinstance(first, list | tuple)
            assert first is second  # the shard's own table, not a copy made per broadcast
            assert [first[pid] for pid in pids] == ["lane"] * 3
    finally:
        pubsub.unregister_dispatcher(peek.name)


async def test_duplicates_come_as_one_more_call_per_level(recorder: Recorder) -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        a, b = await members_subscribed("ps", "room", 2, value=1)
        await run_in(a, lambda: pubsub.subscribe("ps", "room", 2))
        await run_in(a, lambda: pubsub.subscribe("ps", "room", 3))
        await run_in(b, lambda: pubsub.subscribe("ps", "room", 2))
        pubsub.broadcast("ps", "room", "msg", dispatcher=recorder)
        assert [mapping for mapping, _, _ in recorder.calls] == [
            {a: 1, b: 1},
            {a: 2, b: 2},
            {a: 3},
        ]


async def test_a_dispatcher_can_be_named_by_its_registered_name(recorder: Recorder) -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        await members_subscribed("ps", "room", 1)
        pubsub.broadcast("ps", "room", "by name", dispatcher=recorder.name)
        assert [message for _, _, message in recorder.calls] == ["by name"]
        assert pubsub.get_dispatcher(recorder.name) is recorder


async def test_an_unregistered_dispatcher_is_refused_before_anything_is_delivered() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps")
        [member] = await members_subscribed("ps", "room", 1)
        with pytest.raises(ValueError, match="register_dispatcher"):
            pubsub.broadcast("ps", "room", "x", dispatcher=Recorder("tests.unregistered"))
        with pytest.raises(LookupError):
            pubsub.local_broadcast("ps", "room", "x", dispatcher="tests.no-such-name")
        assert await received([member]) == {member: []}


def test_a_dispatcher_name_belongs_to_one_object() -> None:
    first = pubsub.register_dispatcher(Recorder("tests.taken"))
    try:
        assert pubsub.register_dispatcher(first) is first  # again: fine
        with pytest.raises(ValueError, match="already registered"):
            pubsub.register_dispatcher(Recorder("tests.taken"))
        with pytest.raises(ValueError):
            pubsub.register_dispatcher(Recorder(""))
    finally:
        pubsub.unregister_dispatcher("tests.taken")
    with pytest.raises(LookupError):
        pubsub.get_dispatcher("tests.taken")


def test_the_default_dispatcher_is_registered_and_cannot_be_unregistered() -> None:
    pubsub.unregister_dispatcher("trouper.pubsub")
    assert pubsub.get_dispatcher("trouper.pubsub") is pubsub.DEFAULT_DISPATCHER


class Lane:
    """A connection's outbound queue, as the channels layer's fastlane would use."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []


class AppendFrame:
    name = "tests.append_frame"

    def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, frame: Any) -> None:
        for pid, lane in subscribers.items():
            if pid is not from_pid:
                lane.frames.append(frame)


async def test_a_fastlane_dispatcher_writes_one_frame_everywhere_without_waking_anyone() -> None:
    append = pubsub.register_dispatcher(AppendFrame())
    try:
        async with trouper.open_node():
            await PubSub.start_link("ps", shards=3)
            me = trouper.self()
            lanes = [Lane() for _ in range(6)]
            pids = [trouper.spawn(Member, me) for _ in lanes]
            for pid, lane in zip(pids, lanes, strict=True):
                await run_in(pid, lambda lane=lane: pubsub.subscribe("ps", "room", lane))
            handled = [trouper.process_info(pid).messages_handled for pid in pids]
            frame = b'[null,null,"room","msg",{}]'
            pubsub.broadcast_from("ps", pids[0], "room", frame, dispatcher=append)
            assert lanes[0].frames == []
            assert all(lane.frames == [frame] and lane.frames[0] is frame for lane in lanes[1:])
            after = [trouper.process_info(pid) for pid in pids]
            assert [info.messages_handled for info in after] == handled
            assert all(info.mailbox_len == 0 for info in after)
    finally:
        pubsub.unregister_dispatcher(append.name)


class Killer:
    """Kills every subscriber it is given, while iterating, and subscribes a newcomer."""

    name = "tests.killer"

    def __init__(self) -> None:
        self.seen: list[trouper.Pid] = []
        self.newcomer: trouper.Pid | None = None

    def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, msg: Any) -> None:
        for pid in subscribers:
            self.seen.append(pid)
            trouper.exit(pid, "kill")  # its exit hook removes it from this very table
            if self.newcomer is None:
                self.newcomer = trouper.spawn(Subscribing)


class Subscribing(trouper.Actor):
    def init(self) -> None:
        pubsub.subscribe("ps", "room")


async def test_a_dispatcher_that_changes_the_table_while_iterating_sees_a_stable_one() -> None:
    killer = pubsub.register_dispatcher(Killer())
    try:
        async with trouper.open_node():
            await PubSub.start_link("ps")
            pids = await members_subscribed("ps", "room", 5)
            pubsub.broadcast("ps", "room", "die", dispatcher=killer)
            assert killer.seen == pids  # every one, even those killed mid-iteration
            assert pubsub.subscribers("ps", "room") == [killer.newcomer]
            assert not any(trouper.is_alive(pid) for pid in pids)
    finally:
        pubsub.unregister_dispatcher(killer.name)


class Exploding:
    name = "tests.exploding"

    def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, msg: Any) -> None:
        raise RuntimeError("dispatcher bug")


async def test_a_dispatcher_exception_reaches_the_broadcaster_and_the_table_still_works() -> None:
    exploding = pubsub.register_dispatcher(Exploding())
    try:
        async with trouper.open_node():
            await PubSub.start_link("ps")
            a, b = await members_subscribed("ps", "room", 2)
            with pytest.raises(RuntimeError, match="dispatcher bug"):
                pubsub.broadcast("ps", "room", "x", dispatcher=exploding)
            await run_in(a, lambda: pubsub.unsubscribe("ps", "room"))
            pubsub.broadcast("ps", "room", "after")
            assert await received([a, b]) == {a: [], b: ["after"]}
    finally:
        pubsub.unregister_dispatcher(exploding.name)


async def test_a_dispatch_nested_in_another_of_the_same_topic_is_protected_too() -> None:
    class Nesting:
        """Outer dispatch: kill the first subscriber, then broadcast again to the same topic.
        Inner dispatch: kill the first subscriber it sees, while it iterates."""

        name = "tests.nesting"

        def __init__(self) -> None:
            self.depth = 0

        def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, msg: Any) -> None:
            outer = self.depth == 0
            self.depth += 1
            killed = False
            for pid in subscribers:
                trouper.send(pid, "outer" if outer else "inner")
                if not killed:
                    killed = True
                    trouper.exit(pid, "kill")  # the table both dispatches iterate changes
                    if outer:
                        pubsub.broadcast("ps", "room", "again", dispatcher=self)

    nesting = pubsub.register_dispatcher(Nesting())
    try:
        async with trouper.open_node():
            await PubSub.start_link("ps")
            a, b, c, d = await members_subscribed("ps", "room", 4)
            pubsub.broadcast("ps", "room", "first", dispatcher=nesting)
            # The outer dispatch iterates a, b, c, d; the inner one b, c, d (a was dead).
            assert await received([c, d]) == {c: ["inner", "outer"], d: ["inner", "outer"]}
            assert not trouper.is_alive(a) and not trouper.is_alive(b)
            assert pubsub.subscribers("ps", "room") == [c, d]
    finally:
        pubsub.unregister_dispatcher(nesting.name)
