"""Property: after any sequence of subscribe / unsubscribe / exit, a broadcast reaches exactly
the subscribers a plain model says it should, once per subscription."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pubsub_helpers import Member, received, run_in

import trouper
from trouper import pubsub
from trouper.pubsub import PubSub

MEMBERS = 5
TOPICS = ("a", "b", "c")

member = st.integers(0, MEMBERS - 1)
topic = st.sampled_from(TOPICS)
operation = st.one_of(
    st.tuples(st.just("subscribe"), member, topic),
    st.tuples(st.just("unsubscribe"), member, topic),
    st.tuples(st.just("exit"), member),
    st.tuples(st.just("broadcast"), topic),
    st.tuples(st.just("broadcast_from"), member, topic),
)


@settings(max_examples=150, deadline=None)
@given(shards=st.integers(1, 4), operations=st.lists(operation, max_size=40))
async def test_broadcasts_reach_exactly_the_models_subscribers(
    shards: int, operations: list[tuple[Any, ...]]
) -> None:
    async with trouper.open_node():
        await PubSub.start_link("ps", shards=shards)
        me = trouper.self()
        pids = [trouper.spawn(Member, me) for _ in range(MEMBERS)]
        alive = set(range(MEMBERS))
        model: Counter[tuple[int, str]] = Counter()  # (member, topic) -> subscriptions
        sequence = 0
        for op in operations:
            match op:
                case ("subscribe", index, name) if index in alive:
                    await run_in(pids[index], lambda name=name: pubsub.subscribe("ps", name))
                    model[index, name] += 1
                case ("unsubscribe", index, name) if index in alive:
                    await run_in(pids[index], lambda name=name: pubsub.unsubscribe("ps", name))
                    model.pop((index, name), None)
                case ("exit", index) if index in alive:
                    trouper.exit(pids[index], "kill")
                    alive.discard(index)
                    for name in TOPICS:
                        model.pop((index, name), None)
                case ("broadcast", name) | ("broadcast_from", _, name):
                    sequence += 1
                    message = ("msg", sequence)
                    sender = pids[op[1]] if op[0] == "broadcast_from" else None
                    if sender is None:
                        pubsub.broadcast("ps", name, message)
                    else:
                        pubsub.broadcast_from("ps", sender, name, message)
                    got = await received(pids[index] for index in sorted(alive))
                    for index in alive:
                        expected = 0 if pids[index] is sender else model[index, name]
                        assert got[pids[index]] == [message] * expected
            for name in TOPICS:
                expected_pids = Counter(
                    {pids[index]: count for (index, t), count in model.items() if t == name}
                )
                assert Counter(pubsub.subscribers("ps", name)) == expected_pids
                assert pubsub.subscriber_count("ps", name) == sum(expected_pids.values())
        assert pubsub.statistics("ps").subscriptions == sum(model.values())
