"""trouper's side of the ``pubsub`` benchmark suite: subscriptions and broadcasts at scale.

Usage (one measurement per invocation, so RSS figures are clean)::

    python benchmarks/pubsub_trouper.py <bench> <n>

Prints one JSON line per metric on stdout (the protocol of ``benchmarks/run.py``); diagnostics
go to stderr. The node runs with its defaults (``tune_gc=True``). The pubsub has
``SHARDS`` shards; every subscriber subscribes to the one topic ``"room:lobby"``.

``subscribe n``
    ``n`` idle reactive processes are spawned (not timed), then each is sent a message on
    which it subscribes itself (only the caller can subscribe). ``subscribe_rate`` counts
    from the first message until the last subscriber has subscribed, so it includes one
    message and one callback per subscriber. ``bytes_per_subscription`` is VmRSS after the
    subscriptions minus VmRSS after the spawns, over ``n``: the table entries plus the exit
    hook each subscriber's monitor table gets. The messages go out in batches of
    ``BATCH`` so the run queue itself stays small and does not count.
``broadcast n``
    ``n`` reactive subscribers (each subscribes in its ``init``; not timed); one
    ``broadcast`` with the default dispatcher. ``broadcast_s``: until every subscriber's
    handler has run (the last one reports); ``broadcast_call_s``: until ``broadcast``
    itself returned (every message queued).
``fanout n``
    The shape of the 2M-subscriber run, through the channels layer's real fastlane: ``n``
    reactive processes (spawning them is not timed), each subscribed with a channel's
    fastlane entry (``FastlaneEntry``: an outbound, a V2 serializer, no intercepts) whose
    outbound is a counting stand-in for a socket's. ``bytes_per_subscriber``: VmRSS after
    the subscriptions minus VmRSS before the spawns, over ``n`` (process, subscription,
    entry and stand-in), printed before the broadcast. One ``Broadcast`` through
    ``trouper.channels.dispatcher``: encoded once per shard and serializer, the same frame
    written to every outbound, no process woken. ``fanout_s``: until ``broadcast``
    returned, when every outbound holds the frame (checked, untimed).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

import trouper
from _driver import make_emit, rss_bytes
from trouper import pubsub
from trouper.channels import Broadcast, dispatcher, protocol
from trouper.channels._fastlane import FastlaneEntry  # the entry the dispatcher recognises

IMPL = "trouper"
emit = make_emit(IMPL)
PUBSUB = "bench"
TOPIC = "room:lobby"
SHARDS = 4
BATCH = 10_000


class Progress:
    """Counts handler runs across all subscribers; reports to the root at each milestone."""

    count = 0
    every = 0
    report_to: trouper.Pid | None = None

    @classmethod
    def tick(cls) -> None:
        cls.count += 1
        if cls.count % cls.every == 0 and cls.report_to is not None:
            trouper.send(cls.report_to, cls.count)

    @classmethod
    def reset(cls, every: int) -> None:
        cls.count, cls.every, cls.report_to = 0, every, trouper.self()


class LateSubscriber(trouper.Actor):
    """Idle until told to subscribe (no init: spawning it is as cheap as it gets)."""

    def handle(self, message: Any) -> None:
        pubsub.subscribe(PUBSUB, TOPIC)
        Progress.tick()


class Subscriber(trouper.Actor):
    """Subscribes in init; counts what it receives (inline, as actors' fanout Counter does)."""

    def init(self) -> None:
        pubsub.subscribe(PUBSUB, TOPIC)

    def handle(self, message: Any) -> None:
        Progress.count += 1
        if Progress.count == Progress.every and Progress.report_to is not None:
            trouper.send(Progress.report_to, Progress.count)


class CountingOutbound:
    """A stand-in for a connection's outbound: keeps the last frame and counts writes."""

    __slots__ = ("frame", "writes")

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.frame = data
        self.writes += 1


class FastlaneSubscriber(trouper.Actor):
    """Subscribes in init with a channel's fastlane entry as the value; never woken."""

    def init(self, serializer: protocol.Serializer, outbounds: list[CountingOutbound]) -> None:
        outbound = CountingOutbound()
        entry = FastlaneEntry(outbound, serializer, frozenset())  # type: ignore[arg-type]
        entry.open()  # as once the join reply is out: frames go straight to the outbound
        outbounds.append(outbound)
        pubsub.subscribe(PUBSUB, TOPIC, entry)


async def bench_subscribe(n: int) -> None:
    pids = [trouper.spawn(LateSubscriber) for _ in range(n)]
    before = rss_bytes()
    Progress.reset(min(BATCH, n))
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        batch = pids[first : first + BATCH]
        for pid in batch:
            trouper.send(pid, "subscribe")
        assert await trouper.receive() == first + len(batch)
    elapsed = time.perf_counter() - start
    after = rss_bytes()
    assert pubsub.subscriber_count(PUBSUB, TOPIC) == n
    emit("subscribe", n, "subscribe_rate", n / elapsed, "1/s")
    emit("subscribe", n, "bytes_per_subscription", (after - before) / n, "B")


async def bench_broadcast(n: int) -> None:
    for _ in range(n):
        trouper.spawn(Subscriber)
    Progress.reset(n)
    start = time.perf_counter()
    pubsub.broadcast(PUBSUB, TOPIC, "hello")
    queued = time.perf_counter()
    assert await trouper.receive() == n
    done = time.perf_counter()
    emit("broadcast", n, "broadcast_s", done - start, "s")
    emit("broadcast", n, "broadcast_call_s", queued - start, "s")


async def bench_fanout(n: int) -> None:
    serializer = protocol.V2JSONSerializer()
    outbounds: list[CountingOutbound] = []
    before = rss_bytes()
    for _ in range(n):
        trouper.spawn(FastlaneSubscriber, serializer, outbounds)
    assert pubsub.subscriber_count(PUBSUB, TOPIC) == n
    emit("fanout", n, "bytes_per_subscriber", (rss_bytes() - before) / n, "B")
    message = Broadcast(TOPIC, "new_msg", {"user": "bench", "body": "hello everyone"})
    start = time.perf_counter()
    pubsub.broadcast(PUBSUB, TOPIC, message, dispatcher=dispatcher)
    elapsed = time.perf_counter() - start
    frame = outbounds[0].frame
    assert frame is not None and frame.endswith(b'"body":"hello everyone"}]')
    assert len(outbounds) == n and all(o.writes == 1 and o.frame == frame for o in outbounds)
    assert trouper.statistics().runnable == 0  # no process was woken
    emit("fanout", n, "fanout_s", elapsed, "s")


BENCHES: dict[str, Callable[[int], Awaitable[None]]] = {
    "subscribe": bench_subscribe,
    "broadcast": bench_broadcast,
    "fanout": bench_fanout,
}


async def run_bench(bench: str, n: int) -> None:
    await pubsub.PubSub.start_link(PUBSUB, shards=SHARDS)
    await BENCHES[bench](n)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in BENCHES or not argv[2].isdigit() or int(argv[2]) < 1:
        print(f"usage: {argv[0]} <{'|'.join(BENCHES)}> <n >= 1>", file=sys.stderr)
        return 2
    # The supervisor's child_started reports would land on stdout among the JSON lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    trouper.run(run_bench, argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
