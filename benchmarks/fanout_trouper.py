"""trouper's side of the headline fan-out run: N virtual connections joined to one topic.

Usage (one measurement per invocation, so RSS figures are clean)::

    python benchmarks/fanout_trouper.py fanout <n> [--progress]

Each of the ``n`` subscribers is a supervised connection process (a ``VirtualConnection``
under the endpoint's connections supervisor, whose transport only counts bytes) that joins
``rooms:lobby`` through the real path: a V2 JSON ``phx_join`` frame is decoded, Phoenix's
socket rules run, a channel process (reactive) is started linked to the connection, its
``join`` runs, it subscribes to the pubsub with a fastlane entry, and the join reply is
encoded and written. Then one broadcast (``ChannelSocket.broadcast``'s path: pubsub with
the fastlane dispatcher) goes out; ``fanout_s`` is the time until every connection's
transport holds the encoded frame (the fastlane writes synchronously, so that is when
``broadcast`` returns; every counter is checked afterwards, untimed).

Metrics: ``join_s`` (all n connected and joined), ``joins_per_s``, ``bytes_per_subscriber``
(VmRSS after the joins minus before, over n: connection process, session, channel process,
channel state, fastlane entry, subscription), ``fanout_s``. JSON lines on stdout (the
protocol of ``benchmarks/run.py``), progress on stderr.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time

import structlog

import trouper
from _driver import make_emit, rss_bytes
from trouper import pubsub
from trouper.channels import (
    Broadcast,
    Channel,
    ClientFrame,
    Endpoint,
    FrameCounter,
    Socket,
    dispatcher,
    start_endpoint,
    virtual_connection_spec,
)
from trouper.supervision import send_start_child, start_child_result

IMPL = "trouper"
emit = make_emit(IMPL)
PUBSUB = "bench"
TOPIC = "rooms:lobby"
SHARDS = 8
BATCH = 1000
JOIN = '["1","1","rooms:lobby","phx_join",{}]'


class RoomChannel(Channel):
    def join(self, topic: str, payload: object) -> None:
        return None


class UserSocket(Socket):
    channels = (("rooms:*", RoomChannel),)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def fanout(n: int, show: bool) -> None:
    await pubsub.PubSub.start_link(PUBSUB, shards=SHARDS)
    endpoint = Endpoint(UserSocket, PUBSUB)
    await start_endpoint(endpoint, "127.0.0.1", 0, name="endpoint")
    gc.collect()
    before = rss_bytes()
    counters = [FrameCounter() for _ in range(n)]
    frame = ClientFrame(JOIN)
    start = time.perf_counter()
    # Connections arrive BATCH at a time, as from many acceptors: the start requests go out
    # without waiting and the supervisor takes them from its mailbox back to back.
    for first in range(0, n, BATCH):
        batch = counters[first : first + BATCH]
        refs = {
            send_start_child("endpoint.connections", virtual_connection_spec(endpoint, counter))
            for counter in batch
        }
        while refs:
            reply = await trouper.receive(trouper.Reply)
            refs.remove(reply.ref)
            pid = start_child_result(reply)
            assert pid is not None
            trouper.send(pid, frame)
        if show and (first // BATCH) % 100 == 99:
            progress(
                f"  {first + len(batch):,} connections started, {time.perf_counter() - start:.1f} s"
            )
    # The joins run as the scheduler gets to them: wait until the last reply is written.
    waiting = 0
    while waiting < n:
        if counters[waiting].frames:
            waiting += 1
        else:
            await trouper.receive(timeout=0.001, after=None)
    join_s = time.perf_counter() - start
    gc.collect()
    grown = rss_bytes() - before - sys.getsizeof(counters) - n * sys.getsizeof(counters[0])
    emit("fanout", n, "join_s", join_s, "s")
    emit("fanout", n, "joins_per_s", n / join_s, "1/s")
    emit("fanout", n, "bytes_per_subscriber", grown / n, "B")
    if show:
        progress(f"  all {n:,} joined in {join_s:.1f} s; {grown / n:,.0f} B per subscriber")
    message = Broadcast(TOPIC, "new_msg", {"body": "hello, everyone"})
    start = time.perf_counter()
    pubsub.broadcast(PUBSUB, TOPIC, message, dispatcher=dispatcher)
    broadcast_s = time.perf_counter() - start
    missing = sum(1 for counter in counters if counter.frames != 2)
    if missing:
        raise RuntimeError(f"{missing:,} of {n:,} connections did not get the broadcast")
    emit("fanout", n, "fanout_s", broadcast_s, "s")
    if show:
        progress(f"  broadcast reached all {n:,} in {broadcast_s:.3f} s")
    # Skip the orderly shutdown of n connections (not measured here, and minutes at 2M).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    bench, n = sys.argv[1], int(sys.argv[2])
    if bench != "fanout":
        raise SystemExit(f"unknown bench {bench!r}")
    trouper.run(lambda: fanout(n, "--progress" in sys.argv))


if __name__ == "__main__":
    main()
