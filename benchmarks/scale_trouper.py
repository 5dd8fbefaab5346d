"""The ``scale`` suite: 100,000 real WebSockets over a cluster of nodes, and crash isolation.

Usage (one measurement per invocation; ``benchmarks/run.py --suite scale`` appends
``<bench> <n>``)::

    PYTHONPATH=src .venv/bin/python benchmarks/scale_trouper.py hold 100000
    PYTHONPATH=src .venv/bin/python benchmarks/scale_trouper.py chaos 20000
    PYTHONPATH=src .venv/bin/python benchmarks/scale_trouper.py chaos 20000 \\
        --channels-per-s 10 --connections-per-s 5 --broadcasts 30

Prints one JSON line per metric on stdout (the protocol of ``benchmarks/run.py``); progress
and diagnostics go to stderr. Everything runs on this machine, on loopback.

Shape
-----
The driver (this file) starts, each a process of its own:

* a private ``redis-server`` (``trouper.cluster.start_private_redis``: loopback, no
  persistence, dies with its parent);
* ``S = max(2, ceil(n / 15,000))`` server nodes (``scale_node.py``): a trouper
  Application each (PubSub with a RedisAdapter, Cluster, Presence, the endpoint of
  ``websocket_trouper``'s chat app: a Socket that accepts everyone, a reactive Channel for
  ``rooms:lobby`` that only joins), all accepting on ONE port (``reuse_port``: the driver
  holds the port with SO_REUSEPORT, the kernel spreads connections over the nodes). Node 0
  also serves ``GET /broadcast?seq=k`` on a control port of its own;
* ``C = max(2, ceil(n / 15,000))`` client processes (``scale_client.py``): each opens its
  share of the ``n`` sockets from its own 127.0.0.x address (50 handshakes in flight),
  speaks raw WebSocket and Phoenix V2 JSON, joins ``rooms:lobby``, heartbeats every 30 s
  (spread over the 30 s, as independent phoenix.js clients would), and timestamps
  (CLOCK_MONOTONIC, one clock for every process here) the first arrival of each numbered
  broadcast on each socket.

Each holds at most ~15,000 sockets (the limit is 20,000 open files per process), so
n = 100,000 runs 7 servers and 7 clients on the machine's 2 cores, beside Redis.

Benches
-------
``hold n`` (the issue's run 2)
    All clients connect and join together; ``connect_rate``: n over the time from the first
    client's start to the last join reply (connections + joins per second); extra
    ``server_cpu_us_per_connection`` and ``client_cpu_us_per_connection`` (CPU of all the
    servers, of all the clients, over the connect phase, per connection: the two cores are
    the limit). Then the sockets are held for ``--hold`` seconds (10);
    ``connections_held``: sockets still joined and never closed after that;
    ``server_bytes_per_connection``: the sum of the servers' VmRSS growth since before the
    first connection, over n (kernel socket buffers are not in VmRSS); extra
    ``server_cpu_us_per_heartbeat``: the servers' CPU over the hold (the nodes' idle work
    included) per heartbeat the clients sent. Then ``--broadcasts`` (5) numbered
    broadcasts, each triggered over HTTP on node 0 ``--pause`` (1 s) after the previous one
    reached every socket (so none queues behind another), crossing Redis to the other
    nodes; per broadcast the latency from the trigger until each socket had it;
    ``broadcast_p50_s``, ``broadcast_p99_s``, ``broadcast_s`` (the last socket): the median
    over the broadcasts of each; extras ``broadcast_worst_s`` (the slowest broadcast's last
    socket), ``broadcast_local_p99_s`` and ``broadcast_remote_p99_s`` (the p99 of node 0's
    own sockets, and of the other nodes' sockets, reached across Redis),
    ``server_cpu_us_per_delivery`` and ``client_cpu_us_per_delivery`` (CPU from each
    trigger until every socket had it, less what they use in as long when idle, as measured
    during the hold (heartbeats mostly), per frame delivered). Every socket must get every
    broadcast exactly once.
``chaos n`` (the issue's run 3)
    As ``hold`` up to the join; then every server node runs a chaos process that kills, at a
    steady rate (``--channels-per-s`` 4 and ``--connections-per-s`` 2 per node), random
    channel processes and random connection processes (a connection with a joined
    channel), while node 0 broadcasts ``--broadcasts`` (25) numbered messages 1 s apart.
    Clients rejoin on ``phx_error`` (new join_ref) and reconnect and rejoin when their
    socket is closed, and count every numbered broadcast per slot (one logical client,
    whatever socket it has now). Checked, each a ``violation`` when broken: every untouched
    slot (no phx_error, never disconnected) got every broadcast exactly once; every slot is
    joined at the end; no touched slot got a broadcast twice; the clients lost as many
    connections as the servers killed, and got one phx_error per killed channel (fewer only
    when the connection went first); no restart anywhere else in any node's tree (pubsub
    shards and adapter, cluster, presence, poller, connections supervisor, listener); no
    error logged on any node beyond the reports of the kills themselves; no node down.
    Metrics: ``killed_channels``, ``killed_connections``, ``rejoined`` (touched
    slots joined again), ``untouched``, ``violations`` (must be 0: the run fails otherwise);
    extras ``rejoin_p50_s`` / ``rejoin_p99_s``: from the phx_error or the close to the join
    reply.

Time limits: processes up in 60 s, the connect phase 600 s, every broadcast everywhere (and
every slot settled) 30 s after the last one; the runner's timeout bounds the whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _driver import Emit, make_emit, percentile, rss_bytes
from _scale import (
    Latencies,
    Tally,
    cluster_violations,
    latencies,
    median_of,
    spread,
    unexplained_errors,
)
from trouper.cluster import start_private_redis
from websocket_trouper import SERVER_HOST, BenchError, Child, http_get, proc_cpu_s

IMPL = "trouper"
PER_SERVER = 15_000  # sockets per server node (open files: 20,000 per process)
PER_CLIENT = 15_000  # sockets per client process
START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 600.0
SETTLE_TIMEOUT_S = 30.0
PROGRESS_EVERY_S = 2.0
STOP_GRACE_S = 10.0
ME = os.path.abspath(__file__)


def diag(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def reserve_port() -> socket.socket:
    """A loopback port bound with SO_REUSEPORT and held (not listening), so every node can
    bind it too and nothing else takes it meanwhile (the launcher does the same)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((SERVER_HOST, 0))
    return sock


def gather(
    children: Sequence[Child],
    event: str,
    deadline: float,
    on_progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """The next ``event`` line of every child, in order; ``progress`` lines on the way go to
    ``on_progress``. Fails if a child exits first or the deadline passes."""
    found: dict[int, dict[str, Any]] = {}
    while len(found) < len(children):
        idle = True
        for k, child in enumerate(children):
            if k in found:
                continue
            try:
                record = child.lines.get_nowait()
            except queue.Empty:
                continue
            idle = False
            if record is None:
                raise BenchError(f"{child.name} exited ({child.proc.wait()}) before {event!r}")
            if record.get("event") == event:
                found[k] = record
            elif record.get("event") == "progress" and on_progress is not None:
                on_progress(k, record)
        if time.monotonic() > deadline:
            missing = [children[k].name for k in range(len(children)) if k not in found]
            raise BenchError(f"no {event!r} in time from {', '.join(missing)}")
        if idle:
            time.sleep(0.02)
    return [found[k] for k in range(len(children))]


def ask(
    children: Sequence[Child], command: str, event: str, timeout: float
) -> list[dict[str, Any]]:
    for child in children:
        child.send(command)
    return gather(children, event, time.monotonic() + timeout)


class Run:
    """One bench's processes: Redis, the server nodes and the clients."""

    def __init__(self, n: int, broadcasts: int) -> None:
        self.n = n
        self.broadcasts = broadcasts
        self.redis: subprocess.Popen[bytes] | None = None
        self.holder: socket.socket | None = None
        self.servers: list[Child] = []
        self.clients: list[Child] = []
        self.server_pids: list[int] = []
        self.control_port = 0

    # -- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        self.redis, url = start_private_redis()
        self.holder = reserve_port()
        port = self.holder.getsockname()[1]
        shares = spread(self.n, PER_CLIENT)
        nodes = len(spread(self.n, PER_SERVER))
        diag(f"n={self.n:,}: {nodes} server nodes and {len(shares)} clients on port {port}")
        self.servers = [
            Child(f"node{k + 1}", [sys.executable, ME, "_server", str(k), str(port), url])
            for k in range(nodes)
        ]
        deadline = time.monotonic() + START_TIMEOUT_S
        listening = gather(self.servers, "listening", deadline)
        self.server_pids = [int(r["pid"]) for r in listening]
        self.control_port = int(listening[0]["http_port"])
        while True:  # every node's cluster server sees all the others
            peers = ask(self.servers, "peers", "peers", START_TIMEOUT_S)
            if all(len(p["nodes"]) == nodes - 1 for p in peers):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"the cluster did not form: {[p['nodes'] for p in peers]}")
            time.sleep(0.2)
        settings = (str(port), str(self.broadcasts), str(CONNECT_TIMEOUT_S))
        self.clients = [
            Child(f"client {k}", [sys.executable, ME, "_client", str(k), str(count), *settings])
            for k, count in enumerate(shares)
        ]
        gather(self.clients, "ready", deadline)

    def stop(self) -> None:
        for child in self.clients:  # clients first: then the nodes' sockets are closed
            child.stop(STOP_GRACE_S)
        for child in reversed(self.servers):
            child.stop(STOP_GRACE_S)
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
        if self.holder is not None:
            self.holder.close()

    def check_nodes(self) -> None:
        for child in self.servers:
            if child.proc.poll() is not None:
                raise BenchError(f"{child.name} died (exit {child.proc.returncode})")

    # -- phases -------------------------------------------------------------------------------

    def servers_rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.server_pids)

    def cpu_s(self, pids: Sequence[int]) -> float:
        return sum(sum(proc_cpu_s(pid)) for pid in pids)

    def connect(self) -> dict[str, float]:
        """Connect and join all n; the arrival rate and the CPU it cost."""
        client_pids = [c.proc.pid for c in self.clients]
        assert self.redis is not None
        others = [self.redis.pid]
        before = [self.cpu_s(self.server_pids), self.cpu_s(client_pids), self.cpu_s(others)]
        t0 = time.monotonic()
        joined = [0] * len(self.clients)
        shown = [t0]

        def progress(k: int, record: dict[str, Any]) -> None:
            joined[k] = int(record["joined"])
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_EVERY_S:
                shown[0] = now
                total = sum(joined)
                diag(f"connect: {total:,}/{self.n:,} joined ({total / (now - t0):,.0f}/s)")

        for client in self.clients:
            client.send("connect")
        results = gather(self.clients, "joined", t0 + CONNECT_TIMEOUT_S + 30, progress)
        after = [self.cpu_s(self.server_pids), self.cpu_s(client_pids), self.cpu_s(others)]
        failed = sum(r["failed"] for r in results)
        if failed:
            errors: dict[str, int] = {}
            for r in results:
                for key, count in r["errors"].items():
                    errors[key] = errors.get(key, 0) + count
            raise BenchError(f"{failed} of {self.n} connections failed: {errors}")
        elapsed = max(r["t_end"] for r in results) - min(r["t_start"] for r in results)
        server_s, client_s, redis_s = (a - b for a, b in zip(after, before, strict=True))
        diag(
            f"connect: {self.n:,} joined in {elapsed:.1f} s ({self.n / elapsed:,.0f}/s); CPU "
            f"servers {server_s:.1f} s, clients {client_s:.1f} s, redis {redis_s:.1f} s "
            f"({(server_s + client_s + redis_s) / elapsed:.2f} cores of the machine's 2)"
        )
        self.check_nodes()
        return {
            "rate": self.n / elapsed,
            "server_us": server_s / self.n * 1e6,
            "client_us": client_s / self.n * 1e6,
            "heartbeats": sum(r["heartbeats"] for r in results),
        }

    def trigger(self, seq: int, count: int, during: str) -> float:
        """Broadcast number ``seq`` through node 0's HTTP route; when it was triggered."""
        triggered = time.monotonic()
        body = json.loads(http_get(self.control_port, f"/broadcast?seq={seq}", 10.0))
        diag(
            f"{during}: broadcast {seq}/{count} sent (node 0 spent "
            f"{(body['t1'] - body['t0']) * 1e3:.0f} ms in pubsub.broadcast)"
        )
        self.check_nodes()
        return triggered

    def broadcast_apart(
        self, count: int, pause: float, idle: tuple[float, float]
    ) -> tuple[list[float], list[float]]:
        """``count`` broadcasts, each ``pause`` after the previous one reached every socket
        (so none waits behind another). Returns their triggers, and the CPU seconds the
        servers and the clients spent on them: from each trigger until every socket had it,
        less what they spend meanwhile when idle (``idle``: their cores while holding,
        heartbeats mostly)."""
        triggers, spent = [], [0.0, 0.0]
        client_pids = [c.proc.pid for c in self.clients]
        for seq in range(1, count + 1):
            before = (self.cpu_s(self.server_pids), self.cpu_s(client_pids))
            triggers.append(self.trigger(seq, count, "hold"))
            done = gather(self.clients, "complete", time.monotonic() + SETTLE_TIMEOUT_S)
            window = time.monotonic() - triggers[-1]
            if any(record["seq"] != seq for record in done):
                raise BenchError(f"clients completed {[r['seq'] for r in done]}, not {seq}")
            spent[0] += self.cpu_s(self.server_pids) - before[0] - idle[0] * window
            spent[1] += self.cpu_s(client_pids) - before[1] - idle[1] * window
            time.sleep(pause)
        return triggers, spent

    def broadcast_steady(self, count: int, spacing: float) -> None:
        """``count`` broadcasts at a steady rate, ``spacing`` apart, whoever has them."""
        start = time.monotonic()
        for seq in range(1, count + 1):
            time.sleep(max(0.0, start + (seq - 1) * spacing - time.monotonic()))
            self.trigger(seq, count, "chaos")

    def reports(self, arrivals: bool) -> list[dict[str, Any]]:
        flag = "1" if arrivals else "0"
        deadline = SETTLE_TIMEOUT_S + 30
        return ask(self.clients, f"report {SETTLE_TIMEOUT_S} {flag}", "report", deadline)


# --- the benches -----------------------------------------------------------------------------


def hold(run: Run, emit: Emit, hold_s: float, pause: float) -> None:
    n = run.n
    rss_before = run.servers_rss()
    connected = run.connect()
    emit("hold", n, "connect_rate", connected["rate"], "1/s")
    emit("hold", n, "server_cpu_us_per_connection", connected["server_us"], "us")
    emit("hold", n, "client_cpu_us_per_connection", connected["client_us"], "us")
    idle, heartbeat_us = keep(run, emit, hold_s, rss_before)
    share = connected["heartbeats"] * heartbeat_us / (connected["server_us"] * n)
    diag(
        f"connect: {connected['heartbeats']:,} heartbeats were sent meanwhile; at "
        f"{heartbeat_us:.0f} us each they were ~{share:.0%} of the servers' CPU"
    )
    latency(run, emit, pause, idle)


def keep(run: Run, emit: Emit, hold_s: float, rss_before: int) -> tuple[tuple[float, float], float]:
    """Hold the sockets: how many stay joined, the memory and CPU they cost the servers.
    Returns the cores the servers and the clients used meanwhile, and the servers' CPU
    microseconds per heartbeat."""
    n = run.n
    heartbeats = sum(s["heartbeats"] for s in ask(run.clients, "status", "status", 30))
    client_pids = [c.proc.pid for c in run.clients]
    cpu, start = run.cpu_s(run.server_pids), time.monotonic()
    client_cpu = run.cpu_s(client_pids)
    end = start + hold_s
    while (left := end - time.monotonic()) > 0:
        diag(f"hold: {left:.0f} s left")
        time.sleep(min(left, PROGRESS_EVERY_S * 2.5))
        run.check_nodes()
    status = ask(run.clients, "status", "status", 30)
    cpu, elapsed = run.cpu_s(run.server_pids) - cpu, time.monotonic() - start
    client_cpu = run.cpu_s(client_pids) - client_cpu
    heartbeats = sum(s["heartbeats"] for s in status) - heartbeats
    per_node = [s["connections"] for s in ask(run.servers, "status", "status", 30)]
    rss_after = run.servers_rss()
    held = sum(s["held"] for s in status)
    diag(
        f"hold: {held:,} of {n:,} held; connections per node {per_node}; servers' RSS "
        f"{rss_before / 2**20:,.0f} -> {rss_after / 2**20:,.0f} MiB; holding them cost the "
        f"servers {cpu / elapsed:.2f} cores ({heartbeats / elapsed:,.0f} heartbeats/s)"
    )
    emit("hold", n, "connections_held", held, "conns")
    emit("hold", n, "server_bytes_per_connection", (rss_after - rss_before) / n, "B")
    heartbeat_us = cpu / max(1, heartbeats) * 1e6
    emit("hold", n, "server_cpu_us_per_heartbeat", heartbeat_us, "us")
    return (cpu / elapsed, client_cpu / elapsed), heartbeat_us


def latency(run: Run, emit: Emit, pause: float, idle: tuple[float, float]) -> None:
    """Numbered broadcasts one after the other: until every socket had each, exactly once."""
    n = run.n
    triggers, spent = run.broadcast_apart(run.broadcasts, pause, idle)
    deliveries = n * run.broadcasts
    emit("hold", n, "server_cpu_us_per_delivery", spent[0] / deliveries * 1e6, "us")
    emit("hold", n, "client_cpu_us_per_delivery", spent[1] / deliveries * 1e6, "us")
    reports = run.reports(arrivals=True)
    seen = Tally()
    for report in reports:
        seen.add(report["tally"])
    if seen.violations:
        raise BenchError(
            f"{seen.violations} sockets did not get every broadcast exactly once "
            f"({seen.missing} missing, {seen.duplicates} duplicates, {seen.touched} closed "
            "by the server)"
        )
    nodes = [node for r in reports for node in r["nodes"]]
    runs: dict[str, list[Latencies]] = {"all": [], "local": [], "remote": []}
    for k, trigger in enumerate(triggers):
        arrived = [t for r in reports for t in r["arrivals"][k]]
        # Node 0 broadcasts: its own sockets are local, the others' are across Redis.
        for group, on in (("all", None), ("local", True), ("remote", False)):
            times = [t for t, node in zip(arrived, nodes, strict=True) if on in (None, node == 0)]
            runs[group].append(latencies(trigger, times))
        diag(
            f"broadcast {k + 1}: "
            + "; ".join(
                f"{group} p50 {got[-1].p50:.3f} s, p99 {got[-1].p99:.3f} s, "
                f"last {got[-1].max:.3f} s"
                for group, got in runs.items()
            )
        )
    median = median_of(runs["all"])
    emit("hold", n, "broadcast_p50_s", median.p50, "s")
    emit("hold", n, "broadcast_p99_s", median.p99, "s")
    emit("hold", n, "broadcast_s", median.max, "s")
    emit("hold", n, "broadcast_worst_s", max(r.max for r in runs["all"]), "s")
    emit("hold", n, "broadcast_local_p99_s", median_of(runs["local"]).p99, "s")
    emit("hold", n, "broadcast_remote_p99_s", median_of(runs["remote"]).p99, "s")


def chaos(run: Run, emit: Emit, channels_per_s: float, connections_per_s: float) -> int:
    n = run.n
    connected = run.connect()
    diag(f"chaos: {connected['rate']:,.0f} connections/s")
    command = f"chaos {channels_per_s} {connections_per_s}"
    for server in run.servers:
        server.send(command)
    diag(
        f"chaos: every node kills {channels_per_s:g} channels/s and {connections_per_s:g} "
        f"connections/s during {run.broadcasts} broadcasts, 1 s apart"
    )
    run.broadcast_steady(run.broadcasts, 1.0)
    stopped = ask(run.servers, "stop_chaos", "chaos_stopped", 30)
    errors = [s["error"] for s in stopped if s["error"]]
    if errors:
        raise BenchError(f"a chaos process crashed: {errors}")
    killed_channels = sum(s["channels"] for s in stopped)
    killed_connections = sum(s["connections"] for s in stopped)
    diag(f"chaos: stopped; killed {killed_channels} channels, {killed_connections} connections")
    reports = run.reports(arrivals=False)
    health = ask(run.servers, "health", "health", 30)
    run.check_nodes()

    seen = Tally()
    for report in reports:
        seen.add(report["tally"])
    rejoin = sorted(t for r in reports for t in r["rejoin_s"])
    names = [s.name for s in run.servers]
    restarts = {
        f"{name}: {path}": count
        for name, h in zip(names, health, strict=True)
        for path, count in h["restarts"].items()
    }
    nodes_down = [
        f"{other} (seen from {name})"
        for name, h in zip(names, health, strict=True)
        for other in names
        if other not in (name, *h["nodes"])
    ]
    problems = [
        problem
        for name, h, s in zip(names, health, stopped, strict=True)
        for problem in unexplained_errors(name, h["log_events"], s["channels"], s["connections"])
    ]
    problems += cluster_violations(
        seen,
        killed_channels=killed_channels,
        killed_connections=killed_connections,
        phx_errors=sum(r["phx_errors"] for r in reports),
        disconnects=sum(r["disconnects"] for r in reports),
        restarts=restarts,
        nodes_down=nodes_down,
    )
    unexpected: dict[str, int] = {}
    for r in reports:
        for key, count in r["unexpected"].items():
            unexpected[key] = unexpected.get(key, 0) + count
    diag(
        f"chaos: {seen.slots:,} slots, {seen.untouched:,} untouched "
        f"({seen.untouched_exact:,} got all {run.broadcasts} broadcasts exactly once), "
        f"{seen.touched:,} touched ({seen.rejoined:,} rejoined); "
        f"{sum(r['phx_errors'] for r in reports)} phx_error, "
        f"{sum(r['disconnects'] for r in reports)} disconnects seen by the clients; "
        f"{len(restarts)} supervised children checked on {len(names)} nodes; "
        f"unexpected frames {unexpected or 'none'}"
    )
    diag(f"restart counts checked on each node: {', '.join(health[0]['restarts'])}")
    for h_node, h in zip(names, health, strict=True):
        diag(f"{h_node} log events: {h['log_events']}")
    violations = sum(count for _, count in problems)
    emit("chaos", n, "killed_channels", killed_channels, "kills")
    emit("chaos", n, "killed_connections", killed_connections, "kills")
    emit("chaos", n, "rejoined", seen.rejoined, "conns")
    emit("chaos", n, "untouched", seen.untouched, "conns")
    emit("chaos", n, "violations", violations, "count")
    if rejoin:
        emit("chaos", n, "rejoin_p50_s", percentile(rejoin, 0.5), "s")
        emit("chaos", n, "rejoin_p99_s", percentile(rejoin, 0.99), "s")
    for problem, _ in problems:
        diag(f"VIOLATION: {problem}")
    if problems:
        for h_node, h in zip(names, health, strict=True):
            for key, samples in h["log_samples"].items():
                diag(f"{h_node} {key}: " + " | ".join(samples))
    return 1 if problems else 0


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scale_trouper.py", description=__doc__.split("\n")[0])
    p.add_argument("bench", choices=("hold", "chaos"))
    p.add_argument("n", type=int)
    p.add_argument("--hold", type=float, default=10.0, help="hold: seconds (default 10)")
    p.add_argument("--broadcasts", type=int, help="default: 5 (hold), 25 (chaos)")
    p.add_argument(
        "--pause",
        type=float,
        default=1.0,
        help="hold: seconds from a broadcast reaching every socket to the next (default 1)",
    )
    p.add_argument("--channels-per-s", type=float, default=4.0, help="chaos, per node")
    p.add_argument("--connections-per-s", type=float, default=2.0, help="chaos, per node")
    args = p.parse_args(argv)
    if args.n < 2:
        p.error("n must be at least 2")
    if args.broadcasts is None:
        args.broadcasts = 5 if args.bench == "hold" else 25
    if not 1 <= args.broadcasts <= 255:
        p.error("--broadcasts must be within 1..255")
    return args


def main(argv: list[str]) -> int:
    if len(argv) == 5 and argv[1] == "_server":
        from scale_node import node_main

        return node_main(int(argv[2]), int(argv[3]), argv[4])
    if len(argv) == 7 and argv[1] == "_client":
        from scale_client import client_main

        index, count, port, broadcasts = (int(arg) for arg in argv[2:6])
        return client_main(index, count, port, broadcasts, float(argv[6]))
    args = parse(argv[1:])
    emit = make_emit(IMPL)
    run = Run(args.n, args.broadcasts)
    try:
        run.start()
        if args.bench == "hold":
            hold(run, emit, args.hold, args.pause)
            return 0
        return chaos(run, emit, args.channels_per_s, args.connections_per_s)
    except BenchError as exc:
        diag(f"FAILED: {exc}")
        return 1
    finally:
        with contextlib.suppress(BenchError):
            run.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
