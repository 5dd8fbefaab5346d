"""trouper's side of the ``actors`` benchmark suite (same shapes as actors_trio.py and BEAM).

Usage (one measurement per invocation, so RSS figures are clean)::

    python benchmarks/actors_trouper.py <bench> <n>

Prints one JSON line per metric on stdout (the protocol of ``benchmarks/run.py``); diagnostics
go to stderr. The node runs with its defaults (``tune_gc=True``: rarer full GC collections,
see ``trouper.open_node``).

``spawn n``
    ``n`` idle reactive processes (an Actor with a plain-def ``handle``). ``spawn_rate``,
    ``bytes_per_process`` (VmRSS after minus before over ``n``, the list of pids included:
    the BEAM side keeps one too) and ``teardown_s`` (``exit(pid, "kill")`` for each, until
    the node has no process left but the root).
``fanout n``
    ``n`` idle reactive processes (not timed), one message to each, time until the last
    handler ran (a counter; the handler that reaches ``n`` sends ``done`` to the root).
``pingpong n``
    Two reactive processes bounce a message ``n`` round trips.
``call n``
    The root (a task process) makes ``n`` sequential ``call``s to a reactive GenServer.
``call_reactive n``
    A reactive client makes ``n`` sequential requests to a reactive GenServer with
    ``send_request`` (a reactive callback cannot wait; the reply arrives as a message).
``send_1to1 n`` / ``send_nto1 n``
    One (or 100) reactive senders send ``n`` messages in all to one reactive receiver that
    counts them; each sender sends its share in batches of 1,000 per callback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trouper
from _driver import make_emit, rss_bytes

IMPL = "trouper"
emit = make_emit(IMPL)


class Idle(trouper.Actor):
    def handle(self, message: Any) -> None:
        pass


class Counter(trouper.Actor):
    """Counts messages across all instances; the one that reaches the target reports."""

    count = 0
    target = 0
    report_to: trouper.Pid | None = None

    def handle(self, message: Any) -> None:
        Counter.count += 1
        if Counter.count == Counter.target and Counter.report_to is not None:
            trouper.send(Counter.report_to, "done")


async def bench_spawn(n: int) -> None:
    before = rss_bytes()
    start = time.perf_counter()
    pids = [trouper.spawn(Idle) for _ in range(n)]
    spawned = time.perf_counter()
    after = rss_bytes()
    emit("spawn", n, "spawn_rate", n / (spawned - start), "1/s")
    emit("spawn", n, "bytes_per_process", (after - before) / n, "B")
    start = time.perf_counter()
    for pid in pids:
        trouper.exit(pid, "kill")
    assert trouper.statistics().processes == 1, "every process but the root is gone"
    emit("spawn", n, "teardown_s", time.perf_counter() - start, "s")


async def bench_fanout(n: int) -> None:
    pids = [trouper.spawn(Counter) for _ in range(n)]
    Counter.count, Counter.target, Counter.report_to = 0, n, trouper.self()
    start = time.perf_counter()
    for pid in pids:
        trouper.send(pid, "hello")
    assert await trouper.receive() == "done"
    emit("fanout", n, "fanout_s", time.perf_counter() - start, "s")


class Player(trouper.Actor):
    def init(self, report_to: trouper.Pid) -> None:
        self.report_to = report_to

    def handle(self, message: tuple[trouper.Pid, int]) -> None:
        sender, left = message
        if left == 0:
            trouper.send(self.report_to, "done")
        else:
            trouper.send(sender, (trouper.self(), left - 1))


async def bench_pingpong(n: int) -> None:
    me = trouper.self()
    ping, pong = trouper.spawn(Player, me), trouper.spawn(Player, me)
    start = time.perf_counter()
    trouper.send(ping, (pong, 2 * n))  # 2n one-way messages = n round trips
    assert await trouper.receive() == "done"
    emit("pingpong", n, "round_trips_per_s", n / (time.perf_counter() - start), "1/s")


class Echo(trouper.GenServer):
    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return request


async def bench_call(n: int) -> None:
    server = await Echo.start_link()
    assert server is not None
    call = trouper.call
    start = time.perf_counter()
    for i in range(n):
        await call(server, i)
    emit("call", n, "calls_per_s", n / (time.perf_counter() - start), "1/s")


class Client(trouper.GenServer):
    def init(self, server: trouper.Pid, n: int, report_to: trouper.Pid) -> None:
        self.server, self.left, self.report_to = server, n, report_to

    def handle_cast(self, request: Any) -> None:
        trouper.send_request(self.server, self.left)

    def handle_info(self, message: Any) -> None:
        self.left -= 1
        if self.left == 0:
            trouper.send(self.report_to, "done")
        else:
            trouper.send_request(self.server, self.left)


async def bench_call_reactive(n: int) -> None:
    server = await Echo.start_link()
    client = await Client.start_link(server, n, trouper.self())
    assert server is not None and client is not None
    start = time.perf_counter()
    trouper.cast(client, "go")
    assert await trouper.receive() == "done"
    emit("call_reactive", n, "calls_per_s", n / (time.perf_counter() - start), "1/s")


class Sender(trouper.Actor):
    def init(self, receiver: trouper.Pid, count: int) -> None:
        self.receiver, self.left = receiver, count

    def handle(self, message: Any) -> None:
        send, receiver = trouper.send, self.receiver
        batch = min(self.left, 1000)
        for _ in range(batch):
            send(receiver, 1)
        self.left -= batch
        if self.left:
            send(trouper.self(), "more")


async def run_senders(bench: str, n: int, senders: int) -> None:
    Counter.count, Counter.target, Counter.report_to = 0, n, trouper.self()
    receiver = trouper.spawn(Counter)
    shares = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
    pids = [trouper.spawn(Sender, receiver, share) for share in shares if share]
    start = time.perf_counter()
    for pid in pids:
        trouper.send(pid, "go")
    assert await trouper.receive() == "done"
    emit(bench, n, "msgs_per_s", n / (time.perf_counter() - start), "1/s")


async def bench_send_1to1(n: int) -> None:
    await run_senders("send_1to1", n, 1)


async def bench_send_nto1(n: int) -> None:
    await run_senders("send_nto1", n, 100)


BENCHES: dict[str, Callable[[int], Awaitable[None]]] = {
    "spawn": bench_spawn,
    "fanout": bench_fanout,
    "pingpong": bench_pingpong,
    "call": bench_call,
    "call_reactive": bench_call_reactive,
    "send_1to1": bench_send_1to1,
    "send_nto1": bench_send_nto1,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in BENCHES or not argv[2].isdigit() or int(argv[2]) < 1:
        print(f"usage: {argv[0]} <{'|'.join(BENCHES)}> <n >= 1>", file=sys.stderr)
        return 2
    trouper.run(BENCHES[argv[1]], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
