"""Naive baseline for the ``actors`` benchmark suite: one trio task per process.

This is what you would write with plain Trio and no actor runtime: every
"process" is a task in a single nursery, its mailbox is an unbounded
``trio.open_memory_channel(math.inf)``, and its "pid" is the send side of that
channel. Sending is ``send_nowait`` (like Erlang's ``!``, it never blocks); a
process receives with ``async for msg in mailbox``. Nothing is tuned (the
cyclic GC stays on, no batching, no object pooling), so the numbers show what
the naive approach costs.

Usage (one measurement per invocation, so RSS figures are clean)::

    python benchmarks/actors_trio.py <bench> <n>

Output: one JSON line per metric on stdout, in the protocol shared by every
implementation (see ``benchmarks/run.py``)::

    {"impl": "trio-task", "bench": "spawn", "n": 1000, "metric": "spawn_rate",
     "value": 123456.7, "unit": "1/s"}

Diagnostics go to stderr. Benchmarks:

``spawn n``
    Start ``n`` idle processes and wait until every one of them is parked in
    its mailbox receive (``trio.testing.wait_all_tasks_blocked``), since
    ``start_soon`` alone only schedules the task. Metrics: ``spawn_rate``,
    ``bytes_per_process`` (VmRSS after minus before, divided by ``n``; the
    list of pids is included, a runtime has to keep them too) and
    ``teardown_s`` (cancel the nursery, wait until it is empty).
``fanout n``
    ``n`` idle processes (not timed); send one message to each and time until
    the last handler ran (shared counter, the handler that reaches ``n`` sets
    an event). Metric ``fanout_s``. The process then exits without tearing the
    tasks down (untimed, and slow: see ``teardown_s``).
``pingpong n``
    Two processes bounce a message ``n`` round trips; the message carries the
    sender's pid. Metric ``round_trips_per_s``.
``call n``
    ``n`` sequential request/reply calls from a client process to a server
    process. Each request carries a fresh one-slot reply channel (the trio
    analogue of ``gen_server:call``'s fresh reference); no timeout. Metric
    ``calls_per_s``.
``send_1to1 n``
    One sender process sends ``n`` messages to one receiver that counts them.
    Metric ``msgs_per_s``.
``send_nto1 n``
    100 sender processes send ``n`` messages in all (``n // 100`` each, the
    remainder spread over the first senders) to one receiver. Metric ``msgs_per_s``.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from _driver import make_emit, rss_bytes

IMPL = "trio-task"
emit = make_emit(IMPL)
NTO1_SENDERS = 100

Pid = trio.MemorySendChannel[Any]
Mailbox = trio.MemoryReceiveChannel[Any]


def log(message: str) -> None:
    print(f"[{IMPL}] {message}", file=sys.stderr, flush=True)


def new_mailbox() -> tuple[Pid, Mailbox]:
    return trio.open_memory_channel[Any](math.inf)


class Counter:
    """Shared completion counter: the handler that reaches ``target`` sets ``done``."""

    __slots__ = ("count", "done", "target")

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = trio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


# --- process bodies ---------------------------------------------------------------------


async def idle_process(mailbox: Mailbox) -> None:
    async for _ in mailbox:
        pass


async def counting_process(mailbox: Mailbox, counter: Counter) -> None:
    async for _ in mailbox:
        counter.tick()


async def echo_process(mailbox: Mailbox) -> None:
    """Reply to ``(reply_to, payload)`` with ``payload``: the pong side, and the call server."""
    async for reply_to, payload in mailbox:
        reply_to.send_nowait(payload)


# --- benchmarks ---------------------------------------------------------------------------


async def bench_spawn(n: int) -> None:
    gc.collect()
    before = rss_bytes()
    pids: list[Pid] = []
    async with trio.open_nursery() as nursery:
        start = time.perf_counter()
        for _ in range(n):
            pid, mailbox = new_mailbox()
            nursery.start_soon(idle_process, mailbox)
            pids.append(pid)
        await trio.testing.wait_all_tasks_blocked()
        spawn_s = time.perf_counter() - start
        after = rss_bytes()
        log(f"spawned {n} in {spawn_s:.3f}s, rss {before >> 20} -> {after >> 20} MiB")
        # Emitted now, so that a run killed by the runner's time limit during the
        # (slow) teardown still reports them.
        emit("spawn", n, "spawn_rate", n / spawn_s, "1/s")
        emit("spawn", n, "bytes_per_process", (after - before) / n, "B")
        teardown_start = time.perf_counter()
        nursery.cancel_scope.cancel()
    teardown_s = time.perf_counter() - teardown_start
    log(f"teardown {teardown_s:.3f}s")
    emit("spawn", n, "teardown_s", teardown_s, "s")


async def bench_fanout(n: int) -> None:
    counter = Counter(n)
    pids: list[Pid] = []
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            pid, mailbox = new_mailbox()
            nursery.start_soon(counting_process, mailbox, counter)
            pids.append(pid)
        await trio.testing.wait_all_tasks_blocked()
        log(f"{n} processes idle")
        start = time.perf_counter()
        for pid in pids:
            pid.send_nowait("hello")
        await counter.done.wait()
        elapsed = time.perf_counter() - start
        emit("fanout", n, "fanout_s", elapsed, "s")
        # The teardown is not part of this bench and takes about a minute per million
        # tasks (see spawn's teardown_s): the measurement is done, leave right away.
        sys.stderr.flush()
        os._exit(0)


async def bench_pingpong(n: int) -> None:
    done = trio.Event()

    async def pinger(mailbox: Mailbox, self_pid: Pid, ponger_pid: Pid) -> None:
        rounds = await mailbox.receive()  # wait for "go"
        for i in range(rounds):
            ponger_pid.send_nowait((self_pid, i))
            await mailbox.receive()
        done.set()

    async with trio.open_nursery() as nursery:
        pong_pid, pong_mailbox = new_mailbox()
        ping_pid, ping_mailbox = new_mailbox()
        nursery.start_soon(echo_process, pong_mailbox)
        nursery.start_soon(pinger, ping_mailbox, ping_pid, pong_pid)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        ping_pid.send_nowait(n)
        await done.wait()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    emit("pingpong", n, "round_trips_per_s", n / elapsed, "1/s")


async def bench_call(n: int) -> None:
    done = trio.Event()

    async def client(mailbox: Mailbox, server_pid: Pid) -> None:
        calls = await mailbox.receive()  # wait for "go"
        for i in range(calls):
            reply_to, reply = trio.open_memory_channel[int](1)
            server_pid.send_nowait((reply_to, i))
            if await reply.receive() != i:
                raise AssertionError("wrong reply")
        done.set()

    async with trio.open_nursery() as nursery:
        server_pid, server_mailbox = new_mailbox()
        client_pid, client_mailbox = new_mailbox()
        nursery.start_soon(echo_process, server_mailbox)
        nursery.start_soon(client, client_mailbox, server_pid)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        client_pid.send_nowait(n)
        await done.wait()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    emit("call", n, "calls_per_s", n / elapsed, "1/s")


async def run_senders(bench: str, n: int, senders: int) -> None:
    # n messages in all: n // senders each, the remainder spread over the first senders.
    counter = Counter(n)

    async def sender(mailbox: Mailbox, receiver_pid: Pid) -> None:
        count = await mailbox.receive()  # wait for "go"
        for i in range(count):
            receiver_pid.send_nowait(i)

    async with trio.open_nursery() as nursery:
        receiver_pid, receiver_mailbox = new_mailbox()
        nursery.start_soon(counting_process, receiver_mailbox, counter)
        sender_pids: list[Pid] = []
        for _ in range(senders):
            pid, mailbox = new_mailbox()
            nursery.start_soon(sender, mailbox, receiver_pid)
            sender_pids.append(pid)
        await trio.testing.wait_all_tasks_blocked()
        start = time.perf_counter()
        for i, pid in enumerate(sender_pids):
            pid.send_nowait(n // senders + (1 if i < n % senders else 0))
        await counter.done.wait()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    emit(bench, n, "msgs_per_s", n / elapsed, "1/s")


async def bench_send_1to1(n: int) -> None:
    await run_senders("send_1to1", n, 1)


async def bench_send_nto1(n: int) -> None:
    await run_senders("send_nto1", n, NTO1_SENDERS)


BENCHES: dict[str, Callable[[int], Awaitable[None]]] = {
    "spawn": bench_spawn,
    "fanout": bench_fanout,
    "pingpong": bench_pingpong,
    "call": bench_call,
    "send_1to1": bench_send_1to1,
    "send_nto1": bench_send_nto1,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in BENCHES or not argv[1].isdigit() or int(argv[1]) < 1:
        print(f"usage: actors_trio.py {{{','.join(BENCHES)}}} <n>", file=sys.stderr)
        return 2
    bench, n = argv[0], int(argv[1])
    trio.run(BENCHES[bench], n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
