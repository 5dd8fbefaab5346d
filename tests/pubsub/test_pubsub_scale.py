"""Scale: a hundred thousand reactive subscribers on one topic each receive one broadcast once."""

from __future__ import annotations

from typing import Any

import trouper
from trouper import pubsub
from trouper.pubsub import PubSub

SUBSCRIBERS = 100_000


class Tally:
    """Deliveries per subscriber, shared by every Listener of one test."""

    def __init__(self, report_to: trouper.Pid, expected: int) -> None:
        self.report_to = report_to
        self.expected = expected
        self.by_pid: dict[trouper.Pid, int] = {}
        self.total = 0


class Listener(trouper.Actor):
    def init(self, tally: Tally) -> None:
        self.tally = tally
        pubsub.subscribe("ps", "everyone")

    def handle(self, message: Any) -> None:
        tally = self.tally
        me = trouper.self()
        tally.by_pid[me] = tally.by_pid.get(me, 0) + 1
        tally.total += 1
        if tally.total == tally.expected:
            trouper.send(tally.report_to, ("all_delivered", message))


async def test_a_hundred_thousand_subscribers_each_receive_one_broadcast_once() -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=4)
        tally = Tally(trouper.self(), SUBSCRIBERS)
        pids = [trouper.spawn(Listener, tally) for _ in range(SUBSCRIBERS)]
        assert pubsub.subscriber_count("ps", "everyone") == SUBSCRIBERS
        pubsub.broadcast("ps", "everyone", "hello, everyone")
        assert await trouper.receive(timeout=60) == ("all_delivered", "hello, everyone")
        assert len(tally.by_pid) == SUBSCRIBERS and set(tally.by_pid.values()) == {1}
        assert set(tally.by_pid) == set(pids)
        assert trouper.statistics().runnable == 0  # nothing more is on its way
