"""trouper's side of the ``cluster`` suite: two nodes (OS processes) linked by Redis.

Usage (one measurement per invocation)::

    python benchmarks/cluster_trouper.py <bench> <n>

Prints one JSON line per metric on stdout (the protocol of ``benchmarks/run.py``);
diagnostics go to stderr. The driver starts a private ``redis-server`` (no persistence,
loopback) and two node processes, ``A`` and ``B``, each ``python cluster_trouper.py
--node ...``: a trouper node whose pubsub ``bench`` (1 shard) has a
:class:`~trouper.pubsub.RedisAdapter`. The nodes say ``ready`` on stdout, wait for ``go``
on stdin, and print their timestamps as JSON. Timestamps are ``time.monotonic()``
(CLOCK_MONOTONIC, the same clock in every process of the machine).

``fanout n``
    ``n`` reactive subscribers of one topic, ``n // 2`` on each node (spawned, each
    subscribing in its ``init``; not timed). Node A makes one ``broadcast`` (the default
    dispatcher: one message per subscriber). ``fanout_s``: from the broadcast until the
    last subscriber on either node has run its handler; ``fanout_local_s`` and
    ``fanout_remote_s``: the same for A's and B's subscribers alone.
``fastlane n``
    As ``fanout``, but the shape of the channels' fastlane (and of the chat's scale run):
    each subscriber's subscription value is a tiny object holding a list, and a registered
    dispatcher appends the broadcast (already-encoded bytes) to every list without waking
    any process. Node B resolves the dispatcher by name and runs its own. Same metrics
    (``fanout_s`` ...): until the last list on either node holds the frame.
``latency n``
    ``n`` small broadcasts, one at a time, from node A to one subscriber on node B, which
    answers each on another topic (A waits for the answer before the next).
    ``latency_p50_us`` / ``latency_p99_us``: one way, from the broadcast on A to the
    subscriber's handler on B; ``rtt_p50_us``: A's broadcast to the answer's arrival at A.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import structlog

import trouper
from _driver import make_emit
from trouper import pubsub
from trouper.cluster import start_private_redis
from trouper.pubsub import PubSub, RedisAdapter

IMPL = "trouper"
emit = make_emit(IMPL)
PUBSUB = "bench"
TOPIC = "room:lobby"
ANSWERS = "room:answers"
NODE_TIMEOUT = 170.0


def say(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


class Done:
    """Counts handler runs; tells the root when the expected number has run."""

    count = 0
    expected = 0
    root: trouper.Pid | None = None
    last = 0.0


class Subscriber(trouper.Actor):
    def init(self) -> None:
        pubsub.subscribe(PUBSUB, TOPIC)

    def handle(self, message: Any) -> None:
        Done.count += 1
        if Done.count == Done.expected:
            Done.last = time.monotonic()
            assert Done.root is not None
            trouper.send(Done.root, "done")


class Lane:
    """A stand-in for a connection's outbound queue."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames: list[bytes] = []


class LaneSubscriber(trouper.Actor):
    """Subscribes in init with its lane as the subscription value; never woken."""

    def init(self) -> None:
        pubsub.subscribe(PUBSUB, TOPIC, Lane())


class AppendDispatcher:
    """Appends the frame to each subscriber's lane; tells the root when all have it."""

    name = "benchmarks.cluster.append"

    def dispatch(self, subscribers: Mapping[trouper.Pid, Any], from_pid: Any, message: Any) -> None:
        for lane in subscribers.values():
            lane.frames.append(message)
        Done.count += len(subscribers)
        if Done.count == Done.expected:
            Done.last = time.monotonic()
            assert Done.root is not None
            trouper.send(Done.root, "done")


APPEND = pubsub.register_dispatcher(AppendDispatcher())


class Echo(trouper.Actor):
    """B's latency subscriber: records the one-way time, answers on the other topic."""

    def init(self, seen: list[float]) -> None:
        self.seen = seen
        pubsub.subscribe(PUBSUB, TOPIC)

    def handle(self, message: Any) -> None:
        index, sent = message
        self.seen.append(time.monotonic() - sent)
        pubsub.broadcast(PUBSUB, ANSWERS, index)


async def read_line() -> str:
    """A line from stdin, without blocking the node."""
    import trio

    stream = trio.lowlevel.FdStream(os.dup(0))
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = await stream.receive_some()
            if not chunk:
                break
            data += chunk
    finally:
        await stream.aclose()
    return data.decode().strip()


async def node_main(role: str, bench: str, n: int, url: str) -> None:
    await PubSub.start_link(PUBSUB, adapter=RedisAdapter(url, node_name=role))
    Done.root = trouper.self()
    seen: list[float] = []
    if bench in ("fanout", "fastlane"):
        Done.expected = n
        subscriber = Subscriber if bench == "fanout" else LaneSubscriber
        for _ in range(n):
            trouper.spawn(subscriber)
    elif role == "B":
        trouper.spawn(Echo, seen)
    else:
        pubsub.subscribe(PUBSUB, ANSWERS)
    say({"ready": role})
    if await read_line() != "go":
        return
    if bench in ("fanout", "fastlane"):
        start = time.monotonic()
        if role == "A" and bench == "fanout":
            pubsub.broadcast(PUBSUB, TOPIC, "hello")
        elif role == "A":
            frame = b"\x81\x1f" + b'[null,null,"room:lobby","msg",{}]'
            pubsub.broadcast(PUBSUB, TOPIC, frame, dispatcher=APPEND)
        assert await trouper.receive() == "done"
        say({"role": role, "start": start, "done": Done.last})
        await read_line()  # stay up until the driver has every result
    elif role == "A":
        rtts = []
        for index in range(n):
            sent = time.monotonic()
            pubsub.broadcast(PUBSUB, TOPIC, (index, sent))
            assert await trouper.receive(timeout=10) == index
            rtts.append(time.monotonic() - sent)
        say({"role": role, "rtts": rtts})
        await read_line()  # B reports first; then the driver lets A go
    else:
        while len(seen) < n:
            await trouper.receive(timeout=0.05, after=None)
        say({"role": role, "latencies": seen})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class NodeProcess:
    def __init__(self, role: str, bench: str, n: int, url: str) -> None:
        argv = [sys.executable, __file__, "--node", role, bench, str(n), url]
        self.role = role
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"node {self.role} exited with {self.process.wait()}")
        return dict(json.loads(line))

    def tell(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def drive(bench: str, n: int) -> None:
    redis, url = start_private_redis()
    nodes: list[NodeProcess] = []
    try:
        split = bench in ("fanout", "fastlane")
        counts = {"A": n - n // 2, "B": n // 2} if split else {"A": n, "B": n}
        nodes = [NodeProcess(role, bench, counts[role], url) for role in ("B", "A")]
        b, a = nodes
        for node in nodes:
            assert node.read() == {"ready": node.role}
        if split:
            b.tell("go")  # B only waits; its clock starts when it is told
            a.tell("go")
            ra, rb = a.read(), b.read()
            a.tell("end")
            b.tell("end")
            start = ra["start"]
            emit(bench, n, "fanout_s", max(ra["done"], rb["done"]) - start, "s")
            emit(bench, n, "fanout_local_s", ra["done"] - start, "s")
            emit(bench, n, "fanout_remote_s", rb["done"] - start, "s")
        else:
            b.tell("go")
            a.tell("go")
            ra, rb = a.read(), b.read()
            a.tell("end")
            latencies, rtts = rb["latencies"], ra["rtts"]
            emit(bench, n, "latency_p50_us", statistics.median(latencies) * 1e6, "us")
            emit(bench, n, "latency_p99_us", percentile(latencies, 0.99) * 1e6, "us")
            emit(bench, n, "rtt_p50_us", statistics.median(rtts) * 1e6, "us")
    finally:
        for node in nodes:
            node.stop()
        redis.kill()
        redis.wait()


BENCHES = ("fanout", "fastlane", "latency")


def main(argv: list[str]) -> int:
    # Adapter and supervisor reports would land on stdout among the JSON lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    if len(argv) == 6 and argv[1] == "--node":
        trouper.run(node_main, argv[2], argv[3], int(argv[4]), argv[5])
        return 0
    if len(argv) != 3 or argv[1] not in BENCHES or not argv[2].isdigit() or int(argv[2]) < 2:
        print(f"usage: {argv[0]} <{'|'.join(BENCHES)}> <n >= 2>", file=sys.stderr)
        return 2
    # run.py's timeout kills the process group; a plain SIGTERM still stops the nodes.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    drive(argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
