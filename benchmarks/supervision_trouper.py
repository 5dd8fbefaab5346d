"""trouper's side of the ``supervision`` benchmark suite (same shapes as the BEAM side).

Usage (one measurement per invocation)::

    python benchmarks/supervision_trouper.py <bench> <n>

``sup_children n``
    A DynamicSupervisor; the root starts ``n`` reactive GenServer children one after another
    with ``start_child`` (permanent, default 5 s shutdown). ``start_rate``,
    ``bytes_per_child`` (VmRSS after minus before over ``n``) and ``shutdown_s`` (stop the
    supervisor with ``shutdown`` until its DOWN arrives: every child stopped).
``restart n``
    A one_for_one Supervisor with one permanent reactive GenServer child and a large
    intensity; ``n`` times: kill the child, wait until its replacement's ``init`` reports.
    ``restarts_per_s`` and ``restart_latency_us`` (median and p99 of kill -> replacement
    running).
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trouper
from _driver import make_emit, rss_bytes
from trouper.supervision import ChildSpec, DynamicSupervisor, Supervisor, start_child

IMPL = "trouper"
emit = make_emit(IMPL)


class Worker(trouper.GenServer):
    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        return request


async def bench_sup_children(n: int) -> None:
    sup = await DynamicSupervisor.start_link()
    spec = ChildSpec("worker", Worker)
    before = rss_bytes()
    start = time.perf_counter()
    for _ in range(n):
        await start_child(sup, spec)
    started = time.perf_counter()
    after = rss_bytes()
    emit("sup_children", n, "start_rate", n / (started - start), "1/s")
    emit("sup_children", n, "bytes_per_child", (after - before) / n, "B")
    trouper.unlink(sup)
    ref = trouper.monitor(sup)
    start = time.perf_counter()
    trouper.exit(sup, "shutdown")
    down = await trouper.receive(trouper.Down)
    assert down.ref is ref and down.reason == "shutdown", down
    emit("sup_children", n, "shutdown_s", time.perf_counter() - start, "s")
    assert trouper.statistics().processes == 1, trouper.statistics()


class Reporter(trouper.GenServer):
    def init(self, report_to: trouper.Pid) -> None:
        trouper.send(report_to, ("started", trouper.self()))


async def bench_restart(n: int) -> None:
    me = trouper.self()
    await Supervisor.start_link([ChildSpec("child", Reporter, (me,))], intensity=10**9, period=1)
    _, pid = await trouper.receive()
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        killed = time.perf_counter()
        trouper.exit(pid, "kill")
        _, pid = await trouper.receive()
        latencies.append(time.perf_counter() - killed)
    total = time.perf_counter() - start
    latencies.sort()
    emit("restart", n, "restarts_per_s", n / total, "1/s")
    emit("restart", n, "restart_latency_us", statistics.median(latencies) * 1e6, "us")
    emit("restart", n, "restart_latency_p99_us", latencies[int(0.99 * (n - 1))] * 1e6, "us")


BENCHES: dict[str, Callable[[int], Awaitable[None]]] = {
    "sup_children": bench_sup_children,
    "restart": bench_restart,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in BENCHES or not argv[2].isdigit() or int(argv[2]) < 1:
        print(f"usage: {argv[0]} <{'|'.join(BENCHES)}> <n >= 1>", file=sys.stderr)
        return 2
    import structlog

    # A report per child start or kill would dominate the measurement: critical only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    trouper.run(BENCHES[argv[1]], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
