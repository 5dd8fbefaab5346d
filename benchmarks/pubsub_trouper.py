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
``fastlane n``
    ``n`` reactive subscribers whose subscription value is a tiny object holding a list
    (the shape of a channel's outbound queue); a registered dispatcher appends the same
    pre-encoded frame to each list, without waking any process. ``fastlane_s``: until
    ``broadcast`` returned, at which point every list holds the frame (checked, untimed).
    This is the shape of the 2M-subscriber run.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

import trouper
from _driver import make_emit, rss_bytes
from trouper import pubsub

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


class Lane:
    """A stand-in for a connection's outbound queue."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames: list[bytes] = []


class LaneSubscriber(trouper.Actor):
    """Subscribes in init with its lane as the subscription value; never woken."""

    def init(self, lanes: list[Lane]) -> None:
        lane = Lane()
        lanes.append(lane)
        pubsub.subscribe(PUBSUB, TOPIC, lane)


class AppendDispatcher:
    """Appends the broadcast (already-encoded bytes) to each subscriber's lane."""

    name = "benchmarks.append"

    def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, message: Any) -> None:
        if from_pid is None:
            for lane in subscribers.values():
                lane.frames.append(message)
        else:
            for pid, lane in subscribers.items():
                if pid is not from_pid:
                    lane.frames.append(message)


APPEND = pubsub.register_dispatcher(AppendDispatcher())


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


async def bench_fastlane(n: int) -> None:
    lanes: list[Lane] = []
    for _ in range(n):
        trouper.spawn(LaneSubscriber, lanes)
    frame = b"\x81\x1f" + b'[null,null,"room:lobby","msg",{}]'
    start = time.perf_counter()
    pubsub.broadcast(PUBSUB, TOPIC, frame, dispatcher=APPEND)
    elapsed = time.perf_counter() - start
    assert len(lanes) == n and all(lane.frames == [frame] for lane in lanes)
    emit("fastlane", n, "fastlane_s", elapsed, "s")


BENCHES: dict[str, Callable[[int], Awaitable[None]]] = {
    "subscribe": bench_subscribe,
    "broadcast": bench_broadcast,
    "fastlane": bench_fastlane,
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
