"""Benchmark runner: runs every implementation of a suite, aggregates, writes BENCHMARKS.md.

How to run (from the repository root, with the venv's Python)::

    .venv/bin/python benchmarks/run.py                  # full sizes, 3 repeats
    .venv/bin/python benchmarks/run.py --quick --out -  # n=1000, 1 repeat, no markdown
    .venv/bin/python benchmarks/run.py --setup          # install Erlang first (beam/setup.sh)
    .venv/bin/python benchmarks/run.py --only spawn,call --impl trouper,beam --repeats 5
    .venv/bin/python -m benchmarks.run --quick          # also works as a module
    .venv/bin/python benchmarks/run.py --render benchmarks/results/latest.json  # re-render

Design
------
*Implementations are separate programs.* Each one runs ONE measurement per invocation,
in a fresh OS process (so RSS figures are clean), and prints JSON lines on stdout::

    {"impl": "trio-task", "bench": "spawn", "n": 1000, "metric": "spawn_rate",
     "value": 41234.5, "unit": "1/s"}

Diagnostics go to stderr. The command lines are (``<bench> <n>`` appended):

* ``trouper``:   ``python benchmarks/actors_trouper.py`` (PYTHONPATH gets ``src``)
* ``trio-task``: ``python benchmarks/actors_trio.py`` (naive one-trio-task-per-process baseline)
* ``beam``:      ``bash benchmarks/beam/run_beam.sh`` (needs ``erl``; ``--setup`` installs it)

(the actors suite's; each suite lists its own in its :class:`Impl` values).

``python`` is the interpreter running this script. A run *succeeds* when the program
exits 0 and printed every metric the bench defines (with the right impl, bench, n and
unit; extra metrics are kept and shown too). It *times out* after ``--timeout`` seconds
(default 180, or the suite's own ``timeout``; the whole process group is killed), keeping
the metrics printed before that, so print each metric as soon as it is known. Anything
else *fails*. Once an (impl, bench) timed out at some n, that n and larger ones are not
attempted again and are reported as timeouts. An :class:`Impl` may also leave sizes out
(``Impl.sizes``: the trio-task baseline does not run spawn at 2M). An implementation whose
program is absent is reported as missing, and beam without ``erl`` as skipped; neither is
a failure.

*Suites.* A :class:`Suite` is a set of benches (with their metrics and sizes), the
implementations to compare, and the targets of the reference implementation (trouper).
The suites (actors, supervision, pubsub, websocket, transports, fanout, cluster, scale)
are :class:`Suite` values in :data:`SUITES`; they share the runner, the aggregation and
the renderer. A suite of long runs (scale) has its own time limit and shows each run's
progress (its stderr) as it comes.

*Scheduling.* For each repeat, for each (bench, n), every implementation runs once, in
an order rotated per repeat, so machine noise hits all implementations alike. Runs are
strictly sequential (the machine is small; never two heavy measurements at once).

*Aggregation.* Per (bench, n, impl, metric): median, min and max over the repeats that
produced the value (successful ones, and timed-out ones that printed it in time).

*Output.* A plain-text table on stdout; JSON (``--json``, default
``benchmarks/results/latest.json``, or ``quick.json`` with ``--quick``; ``-`` to skip);
and, unless ``--quick`` or ``--out -``, the markdown file (``--out``, default
``BENCHMARKS.md`` at the repository root). The runner regenerates only the sections of
the suites it ran; each section is delimited by ``<!-- suite:NAME -->`` ...
``<!-- /suite:NAME -->`` and the rest of the file is left untouched. A partial run
(``--only``, ``--impl`` or ``--sizes``) would replace a suite's section with a partial
one, so it writes markdown only when ``--out`` is given explicitly.

*Exit status.* 0 when every run of every present implementation succeeded; 1 when a run
failed (with ``--quick`` a timeout also counts as a failure, since n=1000 must never time
out); 2 on bad arguments. With ``--strict`` a missing or skipped implementation is a
failure too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
REFERENCE_IMPL = "trouper"
DEFAULT_TIMEOUT_S = 180.0
QUICK_N = 1000

Status = Literal["ok", "failed", "timeout", "skipped"]
Availability = Literal["present", "missing", "skipped"]


# --- model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A measured quantity. ``higher_is_better`` decides how ratios are phrased."""

    name: str
    unit: str
    higher_is_better: bool | None  # None: unknown (a metric only some implementation reports)
    better: str = "better"  # word for "the reference is better", e.g. "faster", "smaller"
    worse: str = "worse"

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "extra"
        return "higher is better" if self.higher_is_better else "lower is better"


@dataclass(frozen=True)
class Bench:
    name: str
    description: str
    metrics: tuple[str, ...]
    full_sizes: tuple[int, ...]
    only_impls: frozenset[str] | None = None  # None: every implementation of the suite


@dataclass(frozen=True)
class Target:
    """A goal for the reference implementation, checked on the median."""

    bench: str
    metric: str
    op: Literal[">=", "<="]
    threshold: float
    label: str
    sizes: frozenset[int] | None = None  # only at these n; None: any n >= min_n
    min_n: int = 0

    def applies(self, bench: str, metric: str, n: int) -> bool:
        if (bench, metric) != (self.bench, self.metric):
            return False
        return n in self.sizes if self.sizes is not None else n >= self.min_n

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold


@dataclass(frozen=True)
class Impl:
    """How to invoke one implementation. ``argv`` gets ``<bench> <n>`` appended."""

    name: str
    argv: tuple[str, ...]
    program: Path  # must exist, else the implementation is "missing"
    needs: tuple[str, ...] = ()  # executables that must be on PATH, else "skipped"
    hint: str = ""  # printed when skipped
    env: Mapping[str, str] = field(default_factory=dict)
    # bench -> {row n: n actually run (None: not run)}; absent: row n as is
    sizes: Mapping[str, Mapping[int, int | None]] = field(default_factory=dict)

    def availability(self) -> tuple[Availability, str]:
        if not self.program.exists():
            return "missing", f"{self.program.relative_to(REPO_ROOT)} does not exist"
        for exe in self.needs:
            if shutil.which(exe) is None:
                return "skipped", f"`{exe}` not found on PATH. {self.hint}".strip()
        return "present", ""

    def n_for(self, bench: str, row_n: int) -> int | None:
        return self.sizes.get(bench, {}).get(row_n, row_n)


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    description: str
    metrics: Mapping[str, Metric]
    benches: tuple[Bench, ...]
    impls: tuple[Impl, ...]
    targets: tuple[Target, ...] = ()
    reference: str = REFERENCE_IMPL
    timeout: float = DEFAULT_TIMEOUT_S  # per run, unless --timeout says otherwise
    progress: bool = False  # echo each run's stderr (its progress) as it comes

    def metric(self, name: str, unit: str = "") -> Metric:
        return self.metrics.get(name) or Metric(name, unit, None)

    def bench(self, name: str) -> Bench:
        return next(b for b in self.benches if b.name == name)

    def impls_for(self, bench: Bench, selected: Sequence[str]) -> list[str]:
        return [
            i.name
            for i in self.impls
            if i.name in selected and (bench.only_impls is None or i.name in bench.only_impls)
        ]


# --- the actors suite --------------------------------------------------------------------

RATE = "1/s"


# The usual kinds of metric, so suites declare each by name only.
def seconds(name: str) -> Metric:
    return Metric(name, "s", False, "faster", "slower")


def per_second(name: str) -> Metric:
    return Metric(name, RATE, True, "faster", "slower")


def size(name: str) -> Metric:
    return Metric(name, "B", False, "smaller", "larger")


def cpu_us(name: str) -> Metric:
    return Metric(name, "us", False, "cheaper", "costlier")


# What a BEAM implementation needs on PATH, and what to do when it is missing.
NEEDS_ERL: dict[str, Any] = {
    "needs": ("erl",),
    "hint": "Install Erlang with `bash benchmarks/beam/setup.sh` (or pass --setup).",
}


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        per_second("spawn_rate"),
        size("bytes_per_process"),
        seconds("teardown_s"),
        seconds("fanout_s"),
        per_second("round_trips_per_s"),
        per_second("calls_per_s"),
        per_second("msgs_per_s"),
        # Reported by beam only: erlang:memory(total) growth per process.
        size("erlang_bytes_per_process"),
    )
}

SPAWN_METRICS = ("spawn_rate", "bytes_per_process", "teardown_s")
SPAWN_SIZES = (100_000, 1_000_000, 2_000_000)
MSG_SIZES = (1_000_000,)

PYTHON_ENV = {
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")])
    )
}

ACTORS = Suite(
    name="actors",
    title="Actors",
    description=(
        "Raw actor-runtime costs: spawning, messaging, request/reply. `trouper` is this "
        "project's runtime; `beam` is Erlang/OTP (plain processes and `!`, `gen_server:call` "
        "for `call`); `trio-task` is the naive baseline, one trio task per process with an "
        "unbounded `trio.open_memory_channel` as mailbox, all tasks in one nursery "
        "(`benchmarks/actors_trio.py`)."
    ),
    metrics=METRICS,
    benches=(
        Bench(
            "spawn",
            "Spawn n idle processes; RSS growth per process; kill them all and wait until gone.",
            SPAWN_METRICS,
            SPAWN_SIZES,
        ),
        Bench(
            "spawn_hibernated",
            "As `spawn`, with every process hibernated (BEAM only: its smallest idle process).",
            SPAWN_METRICS,
            SPAWN_SIZES,
            only_impls=frozenset({"beam"}),
        ),
        Bench(
            "fanout",
            "n idle processes (spawn not timed); one message to each; time until every "
            "handler ran.",
            ("fanout_s",),
            (100_000, 1_000_000),
        ),
        Bench(
            "pingpong",
            "Two processes bounce a message n round trips.",
            ("round_trips_per_s",),
            MSG_SIZES,
        ),
        Bench(
            "call",
            "n sequential request/reply calls from one process to a server process.",
            ("calls_per_s",),
            MSG_SIZES,
        ),
        Bench(
            "call_reactive",
            "trouper only: n sequential request/reply round trips from a reactive client to "
            "a reactive server (`send_request`; a reactive callback cannot block in `call`, "
            "so the reply arrives as a message). Compare with `call`.",
            ("calls_per_s",),
            MSG_SIZES,
            only_impls=frozenset({"trouper"}),
        ),
        Bench(
            "send_1to1", "One sender, one receiver counting n messages.", ("msgs_per_s",), MSG_SIZES
        ),
        Bench(
            "send_nto1",
            "100 senders, n/100 messages each, one receiver.",
            ("msgs_per_s",),
            MSG_SIZES,
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "actors_trouper.py")),
            BENCH_DIR / "actors_trouper.py",
            env=PYTHON_ENV,
        ),
        Impl(
            "beam",
            ("bash", str(BENCH_DIR / "beam" / "run_beam.sh")),
            BENCH_DIR / "beam" / "run_beam.sh",
            **NEEDS_ERL,
        ),
        Impl(
            "trio-task",
            (sys.executable, str(BENCH_DIR / "actors_trio.py")),
            BENCH_DIR / "actors_trio.py",
            env=PYTHON_ENV,
            # 1M tasks take ~70 s to spawn and ~60 s to cancel and ~6 GiB at peak here;
            # 2M would only add a timeout and 12 GiB of memory pressure.
            sizes={"spawn": {2_000_000: None}},
        ),
    ),
    targets=(
        Target("spawn", "bytes_per_process", "<=", 1024, "<= 1,024 B", min_n=100_000),
        Target("spawn", "spawn_rate", ">=", 2_000_000 / 6, "2M in <= 6 s", frozenset({2_000_000})),
        Target("spawn", "teardown_s", "<=", 10, "<= 10 s", frozenset({2_000_000})),
        Target("fanout", "fanout_s", "<=", 0.6, "<= 0.6 s", frozenset({1_000_000})),
        Target("pingpong", "round_trips_per_s", ">=", 1_000_000, ">= 1,000,000/s"),
        Target("call", "calls_per_s", ">=", 150_000, ">= 150,000/s"),
    ),
)

# --- the supervision suite ----------------------------------------------------------------

SUPERVISION = Suite(
    name="supervision",
    title="Supervision",
    description=(
        "Supervisors at scale. `sup_children`: a DynamicSupervisor (BEAM: a "
        "simple_one_for_one supervisor) gets n minimal gen_server children, started one "
        "after another with `start_child`; then the supervisor is stopped with `shutdown` "
        "(each child gets `shutdown` and the default 5 s worker timeout). `restart`: one "
        "permanent child killed n times; latency from the kill to the replacement running."
    ),
    metrics={
        m.name: m
        for m in (
            per_second("start_rate"),
            size("bytes_per_child"),
            seconds("shutdown_s"),
            per_second("restarts_per_s"),
            Metric("restart_latency_us", "us", False, "faster", "slower"),
            Metric("restart_latency_p99_us", "us", False, "faster", "slower"),
        )
    },
    benches=(
        Bench(
            "sup_children",
            "n children under one dynamic supervisor: start rate, RSS per child, shutdown.",
            ("start_rate", "bytes_per_child", "shutdown_s"),
            (100_000, 1_000_000),
        ),
        Bench(
            "restart",
            "Kill one permanent child n times; restarts/s and kill-to-running latency.",
            ("restarts_per_s", "restart_latency_us", "restart_latency_p99_us"),
            (20_000,),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "supervision_trouper.py")),
            BENCH_DIR / "supervision_trouper.py",
            env=PYTHON_ENV,
        ),
        Impl(
            "beam",
            ("bash", str(BENCH_DIR / "beam" / "run_beam_supervision.sh")),
            BENCH_DIR / "beam" / "run_beam_supervision.sh",
            **NEEDS_ERL,
        ),
    ),
    targets=(Target("sup_children", "shutdown_s", "<=", 5, "<= 5 s", frozenset({1_000_000})),),
)

# --- the pubsub suite ---------------------------------------------------------------------

PUBSUB_BEAM = BENCH_DIR / "beam" / "run_beam_pubsub.sh"
PUBSUB = Suite(
    name="pubsub",
    title="PubSub",
    description=(
        "Subscriptions and broadcasts on one topic, in one node. `trouper`: "
        "`trouper.pubsub` with 4 shards (`benchmarks/pubsub_trouper.py`). `beam-pg`: OTP's "
        "`pg` (one scope, one group; a broadcast is `pg:get_members/2` and one `!` per "
        "member). `beam-registry`: what Phoenix.PubSub does on one node, Elixir's Registry "
        "with duplicate keys and 4 partitions by pid, written out in plain Erlang "
        "(a public duplicate_bag ETS table per partition, the subscriber links itself to "
        "its partition; a broadcast is an `ets:lookup_element` per partition and one `!` per "
        "entry). Both BEAM sides are `benchmarks/beam/pubsub_bench.erl`. A `pg` join "
        "rewrites the group's whole member list in ETS, so n processes joining one group "
        "cost O(n^2) (20,000 take seconds, 1,000,000 would take hours): `beam-pg` runs "
        "`subscribe` at n=20,000, and its broadcast and fanout setups join all members in "
        "one `pg:join/3` call. `broadcast`: plain subscriber processes (trouper: reactive), "
        "pubsub's default dispatcher; until every subscriber's handler ran. `fanout`: the "
        "fastlane. trouper: each subscriber's value is a channel's fastlane entry whose "
        "outbound is a counting stand-in for a socket; the broadcast goes through "
        "`trouper.channels.dispatcher`, which encodes once and writes the same frame to "
        "every outbound without waking any process. BEAM: the already-encoded frame sent to "
        "every member process (as Phoenix's fastlane sends it to each transport process); "
        "until every one has it."
    ),
    metrics={
        m.name: m
        for m in (
            per_second("subscribe_rate"),
            size("bytes_per_subscription"),
            size("erlang_bytes_per_subscription"),
            seconds("broadcast_s"),
            seconds("broadcast_call_s"),
            size("bytes_per_subscriber"),
            size("erlang_bytes_per_subscriber"),
            seconds("fanout_s"),
        )
    },
    benches=(
        Bench(
            "subscribe",
            "n idle processes (spawn not timed) each told to subscribe itself, in batches of "
            "10,000: subscriptions per second (message and callback included), RSS growth "
            "per subscription.",
            ("subscribe_rate", "bytes_per_subscription"),
            (1_000_000,),
        ),
        Bench(
            "broadcast",
            "n subscribed processes; one broadcast; until every handler ran "
            "(`broadcast_call_s`: until the broadcast call returned).",
            ("broadcast_s", "broadcast_call_s"),
            (100_000, 1_000_000),
        ),
        Bench(
            "fanout",
            "n subscribers (process and subscription; trouper: plus fastlane entry and "
            "outbound stand-in), RSS growth per subscriber; one broadcast of an encoded "
            "frame; until every subscriber holds it.",
            ("bytes_per_subscriber", "fanout_s"),
            (100_000, 1_000_000),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "pubsub_trouper.py")),
            BENCH_DIR / "pubsub_trouper.py",
            env=PYTHON_ENV,
        ),
        Impl(
            "beam-pg",
            ("bash", str(PUBSUB_BEAM)),
            PUBSUB_BEAM,
            **NEEDS_ERL,
            env={"PUBSUB_BENCH_BACKEND": "pg"},
            sizes={"subscribe": {1_000_000: 20_000}},  # one by one, pg joins are O(n^2)
        ),
        Impl(
            "beam-registry",
            ("bash", str(PUBSUB_BEAM)),
            PUBSUB_BEAM,
            **NEEDS_ERL,
            env={"PUBSUB_BENCH_BACKEND": "registry"},
        ),
    ),
    targets=(Target("fanout", "bytes_per_subscriber", "<=", 1024, "<= 1 KB", min_n=100_000),),
)

# --- the websocket suite ------------------------------------------------------------------

WEBSOCKET = Suite(
    name="websocket",
    title="WebSockets",
    description=(
        "Real WebSocket connections on loopback against a trouper endpoint running the chat "
        "app of Phoenix's 2015 benchmark (a Socket that accepts everyone, a reactive Channel "
        "for `rooms:lobby` that only joins, one PubSub). One server process; the clients "
        "are separate processes (at most 7,500 sockets each, distinct 127.0.0.x source "
        "addresses) speaking the Phoenix V2 JSON protocol over raw sockets, on the same two "
        "cores as the server. `connections`: connect and join n sockets (connections + "
        "joins per second; the server's VmRSS growth per connection, kernel buffers not "
        "included). `broadcast`: one `new_msg` to the n joined sockets, triggered over HTTP; "
        "time until the last socket has the frame (clients timestamp arrivals with "
        "CLOCK_MONOTONIC). trouper only: there is no BEAM/Phoenix side in this suite "
        "(Phoenix's 2015 figures are in shared/reference/phoenix.md). "
        "`benchmarks/websocket_trouper.py` describes the shape."
    ),
    metrics={
        m.name: m
        for m in (
            per_second("connect_rate"),
            size("server_bytes_per_connection"),
            cpu_us("server_cpu_us_per_connection"),
            seconds("broadcast_s"),
            seconds("broadcast_p50_s"),
            seconds("broadcast_p99_s"),
            seconds("broadcast_server_s"),
        )
    },
    benches=(
        Bench(
            "connections",
            "n clients connect (HTTP upgrade) and join `rooms:lobby`; rate and server RSS.",
            ("connect_rate", "server_bytes_per_connection"),
            (15_000,),
        ),
        Bench(
            "broadcast",
            "n joined clients; one broadcast to the topic; until every client has the frame.",
            ("broadcast_s", "broadcast_p50_s", "broadcast_p99_s"),
            (15_000,),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "websocket_trouper.py")),
            BENCH_DIR / "websocket_trouper.py",
            env=PYTHON_ENV,
        ),
    ),
    targets=(
        Target(
            "connections",
            "server_bytes_per_connection",
            "<=",
            12_000,
            "<= 12 KB",
            frozenset({15_000}),
        ),
        Target("connections", "connect_rate", ">=", 5_000, ">= 5,000/s", frozenset({15_000})),
        Target("broadcast", "broadcast_s", "<=", 0.2, "<= 0.2 s", frozenset({15_000})),
    ),
)

# --- the cluster suite --------------------------------------------------------------------

CLUSTER = Suite(
    name="cluster",
    title="Cluster (two nodes over Redis)",
    description=(
        "Two trouper nodes (OS processes, one per core) linked by a private redis-server "
        "on loopback through `trouper.pubsub.RedisAdapter`; `benchmarks/cluster_trouper.py` "
        "describes the shape. `fanout`: n reactive subscribers of one topic, half on each "
        "node; one broadcast from node A; time until every subscriber on both nodes has run "
        "its handler (the broadcast crosses to B once, as one Redis message, and fans out "
        "there). `latency`: n small broadcasts from A to one subscriber on B, one at a time; "
        "one-way latency percentiles. Beside the fan-out, in the same run, BEAM: one VM with "
        "2 schedulers (both cores), n processes subscribed through OTP's `pg` "
        "(`benchmarks/beam/pubsub_bench.erl fanout`), one message to each, until every "
        "process has received it."
    ),
    metrics={
        m.name: m
        for m in (
            seconds("fanout_s"),
            seconds("fanout_local_s"),
            seconds("fanout_remote_s"),
            Metric("latency_p50_us", "us", False, "faster", "slower"),
            Metric("latency_p99_us", "us", False, "faster", "slower"),
            Metric("rtt_p50_us", "us", False, "faster", "slower"),
        )
    },
    benches=(
        Bench(
            "fanout",
            "n subscribers, n/2 per node; one broadcast from A; until all handlers ran "
            "(trouper also reports each node's part: fanout_local_s, fanout_remote_s).",
            ("fanout_s",),
            (2_000_000,),
        ),
        Bench(
            "fastlane",
            "As fanout, with the channels' fastlane shape: a dispatcher appends the frame to "
            "each subscriber's queue, no process woken (each node runs its own).",
            ("fanout_s", "fanout_local_s", "fanout_remote_s"),
            (2_000_000,),
            only_impls=frozenset({"trouper"}),
        ),
        Bench(
            "latency",
            "n broadcasts A -> one subscriber on B, one at a time; one-way latency.",
            ("latency_p50_us", "latency_p99_us", "rtt_p50_us"),
            (10_000,),
            only_impls=frozenset({"trouper"}),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "cluster_trouper.py")),
            BENCH_DIR / "cluster_trouper.py",
            needs=("redis-server",),
            hint="Install Redis with `apt-get install redis-server` (scripts/test does).",
            env=PYTHON_ENV,
        ),
        Impl(
            "beam-pg",
            ("bash", str(PUBSUB_BEAM)),
            PUBSUB_BEAM,
            **NEEDS_ERL,
            env={"PUBSUB_BENCH_BACKEND": "pg"},
        ),
    ),
)

FANOUT = Suite(
    name="fanout",
    title="Fan-out to N channel subscribers (the 2M headline)",
    description=(
        "Phoenix's 2015 experiment on one node: n subscribers of `rooms:lobby`, one "
        "broadcast. Each subscriber is a supervised connection process (a "
        "`VirtualConnection` under the endpoint's connections supervisor, whose transport "
        "only counts bytes) that joined through the real path: a V2 JSON `phx_join` frame "
        "decoded, the socket rules, a reactive channel process started linked to the "
        "connection, its `join`, a pubsub subscription with a fastlane entry, the reply "
        "encoded and written. `join_s`: until all n have their join reply; "
        "`bytes_per_subscriber`: VmRSS growth over n (two processes, the session, the "
        "channel state, the subscription); `broadcast_s`: one broadcast through the fastlane "
        "until every connection holds the encoded frame (every counter is checked). "
        "`benchmarks/fanout_trouper.py`. Beside it, the same shape on BEAM "
        "(`benchmarks/beam/pubsub_bench.erl fanout`): n processes, each a socket's "
        "transport process, subscribed through OTP's `pg` or an Elixir-Registry-style table "
        "(what Phoenix.PubSub uses on one node); one broadcast of an encoded frame; until "
        "every process has received it. BEAM's side has one process per subscriber where "
        "trouper's has two (connection and channel), and its subscribers join directly, "
        "not through a socket's protocol, so it reports no join figures."
    ),
    metrics={
        m.name: m
        for m in (
            seconds("join_s"),
            per_second("joins_per_s"),
            size("bytes_per_subscriber"),
            seconds("fanout_s"),
            # Reported by beam only: erlang:memory(total) growth per subscriber.
            size("erlang_bytes_per_subscriber"),
        )
    },
    benches=(
        Bench(
            "fanout",
            "n virtual connections join `rooms:lobby`; one broadcast reaches all of them.",
            # trouper also reports join_s and joins_per_s (BEAM's subscribers join directly).
            ("bytes_per_subscriber", "fanout_s"),
            (10_000, 100_000, 1_000_000, 2_000_000),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "fanout_trouper.py")),
            BENCH_DIR / "fanout_trouper.py",
            env=PYTHON_ENV,
        ),
        Impl(
            "beam-pg",
            ("bash", str(PUBSUB_BEAM)),
            PUBSUB_BEAM,
            **NEEDS_ERL,
            env={"PUBSUB_BENCH_BACKEND": "pg"},
        ),
        Impl(
            "beam-registry",
            ("bash", str(PUBSUB_BEAM)),
            PUBSUB_BEAM,
            **NEEDS_ERL,
            env={"PUBSUB_BENCH_BACKEND": "registry"},
        ),
    ),
    targets=(
        Target("fanout", "fanout_s", "<=", 2.0, "<= 2 s", frozenset({2_000_000})),
        Target("fanout", "join_s", "<=", 30.0, "<= 30 s", frozenset({2_000_000})),
        Target("fanout", "bytes_per_subscriber", "<=", 1_000, "<= 1 KB", min_n=100_000),
    ),
)

# --- the transports suite -----------------------------------------------------------------

TRANSPORTS = replace(
    WEBSOCKET,
    name="transports",
    title="WebSocket transports",
    description=(
        "DESIGN.md section 4's question: which WebSocket transport should the endpoint use? "
        "The websocket suite's load (same client processes, same Phoenix V2 frames, same "
        "metrics) against servers that differ only in the transport. `trouper`: "
        "`trouper.channels`' endpoint as configured by default, which drives wsproto "
        "directly on non-blocking sockets from *reactive* connection processes woken by one "
        "edge-triggered epoll poller (frames built once and written with `send` by the "
        'fastlane). `trouper-task`: the same endpoint with `transport="task"`, a trio '
        "task per connection process waiting on its socket. `trio-websocket`: the same node, app, "
        "supervised connection processes, `Channel` processes and pubsub, with each "
        "connection's socket handed to trio-websocket (`wrap_server_stream`: a reader task "
        "per connection, an `await send_message` per frame; a broadcast is encoded once by "
        "the serializer and started as one send task per subscriber, so it waits for no "
        "client). `benchmarks/websocket_trio_websocket.py` describes it; for "
        "trio-websocket, `broadcast_server_s` is only the time to start the send tasks."
    ),
    impls=(
        *WEBSOCKET.impls,
        Impl(
            "trouper-task",
            (sys.executable, str(BENCH_DIR / "websocket_trouper.py")),
            BENCH_DIR / "websocket_trouper.py",
            env={**PYTHON_ENV, "WS_BENCH_TRANSPORT": "task", "WS_BENCH_IMPL": "trouper-task"},
        ),
        Impl(
            "trio-websocket",
            (sys.executable, str(BENCH_DIR / "websocket_trio_websocket.py")),
            BENCH_DIR / "websocket_trio_websocket.py",
            env=PYTHON_ENV,
        ),
    ),
)

# --- the scale suite ----------------------------------------------------------------------

SCALE = Suite(
    name="scale",
    title="Scale: 100,000 WebSockets over a cluster, and crash isolation under load",
    description=(
        "Issue #5's runs 2 and 3, `benchmarks/scale_trouper.py` (which describes the shape). A "
        "private redis-server; S = max(2, ceil(n / 15,000)) trouper nodes (OS processes: PubSub "
        "with a RedisAdapter, Cluster, Presence, and the websocket suite's chat endpoint, all "
        "bound to ONE port with SO_REUSEPORT, the kernel spreading the connections); as many "
        "client processes (raw WebSocket + Phoenix V2 JSON from distinct 127.0.0.x addresses, each "
        "socket heartbeating every 30 s, spread over the 30 s); everything on the machine's 2 "
        "cores. `hold`: all n connect and join `rooms:lobby` at once (connections + joins per "
        "second, and the CPU each side spent per connection), are held 10 s (`connections_held`: "
        "still joined and never closed; the servers' summed VmRSS growth per connection; the "
        "servers' CPU per heartbeat), then 5 numbered broadcasts, each triggered over HTTP on node "
        "0 1 s after the previous one reached every socket, crossing Redis to the other nodes: "
        "latency from the trigger until each socket has it, p50 / p99 / last socket, the median "
        "over the 5 (`broadcast_worst_s`: the slowest one's last socket), and the CPU the servers "
        "and the clients spent per frame delivered. `chaos`: n joined as in `hold`; every node "
        "kills 4 random channel processes and 2 random connection processes a second while node 0 "
        "makes 25 numbered broadcasts 1 s apart; clients rejoin on `phx_error`, reconnect and "
        "rejoin when closed, and count every broadcast. `violations` (must be 0, the run fails "
        "otherwise) counts client slots that were never touched and did not get every broadcast "
        "exactly once, slots not joined at the end, touched slots with a duplicate, lost "
        "connections or phx_errors the kills do not account for, restarts of any supervised child "
        "other than connections, errors logged beyond the reports of the kills, and nodes "
        "down."
    ),
    metrics={
        m.name: m
        for m in (
            per_second("connect_rate"),
            cpu_us("server_cpu_us_per_connection"),
            cpu_us("client_cpu_us_per_connection"),
            Metric("connections_held", "conns", True, "more", "fewer"),
            size("server_bytes_per_connection"),
            cpu_us("server_cpu_us_per_heartbeat"),
            seconds("broadcast_p50_s"),
            seconds("broadcast_p99_s"),
            seconds("broadcast_s"),
            seconds("broadcast_worst_s"),
            seconds("broadcast_local_p99_s"),
            seconds("broadcast_remote_p99_s"),
            cpu_us("server_cpu_us_per_delivery"),
            cpu_us("client_cpu_us_per_delivery"),
            Metric("killed_channels", "kills", None),
            Metric("killed_connections", "kills", None),
            Metric("rejoined", "conns", None),
            Metric("untouched", "conns", None),
            Metric("violations", "count", False, "fewer", "more"),
            seconds("rejoin_p50_s"),
            seconds("rejoin_p99_s"),
        )
    },
    benches=(
        Bench(
            "hold",
            "n sockets over the nodes: connect and join, hold 10 s, 5 broadcasts across Redis "
            "(one at a time).",
            (
                "connect_rate",
                "connections_held",
                "server_bytes_per_connection",
                "broadcast_p50_s",
                "broadcast_p99_s",
                "broadcast_s",
            ),
            (100_000,),
        ),
        Bench(
            "chaos",
            "n sockets; channels and connections killed at a steady rate under 25 broadcasts.",
            ("killed_channels", "killed_connections", "rejoined", "untouched", "violations"),
            (20_000,),
        ),
    ),
    impls=(
        Impl(
            "trouper",
            (sys.executable, str(BENCH_DIR / "scale_trouper.py")),
            BENCH_DIR / "scale_trouper.py",
            needs=("redis-server",),
            hint="Install Redis with `apt-get install redis-server` (scripts/test does).",
            env=PYTHON_ENV,
        ),
    ),
    targets=(
        Target("hold", "connections_held", ">=", 100_000, ">= 100,000"),
        Target("hold", "server_bytes_per_connection", "<=", 12_000, "<= 12 KB"),
        Target("hold", "connect_rate", ">=", 5_000, ">= 5,000/s"),
        Target("hold", "broadcast_p99_s", "<=", 1.0, "<= 1 s"),
        Target("chaos", "violations", "<=", 0, "0"),
    ),
    timeout=1200.0,
    progress=True,
)

SUITES: dict[str, Suite] = {
    s.name: s for s in (ACTORS, SUPERVISION, PUBSUB, WEBSOCKET, TRANSPORTS, FANOUT, CLUSTER, SCALE)
}


# --- running -----------------------------------------------------------------------------


@dataclass
class Run:
    """One invocation of one implementation."""

    suite: str
    impl: str
    bench: str
    row_n: int  # the table row
    n: int  # the n actually run
    repeat: int
    status: Status
    wall_s: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    error: str = ""
    # Cores' worth of CPU that *other* processes on the machine used during this run (the
    # machine is shared): all busy CPU time minus this run's own, over the wall time.
    others_cores: float | None = None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the child's whole process group (e.g. bash and the erl under it)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def parse_output(
    stdout: str, suite: Suite, impl: str, bench: Bench, n: int
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Collect metric values from JSON lines; return (values, units, problems)."""
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    problems: list[str] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"unparseable line: {line[:200]}")
            continue
        if not isinstance(record, dict) or "metric" not in record:
            continue
        got = (record.get("impl"), record.get("bench"), record.get("n"))
        if got != (impl, bench.name, n):
            problems.append(f"line for {got}, expected {(impl, bench.name, n)}: {line[:200]}")
            continue
        value = record.get("value")
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            problems.append(f"bad value: {line[:200]}")
            continue
        metric, unit = str(record["metric"]), str(record.get("unit", ""))
        expected_unit = suite.metric(metric, unit).unit
        if unit != expected_unit:
            problems.append(f"unit {unit!r}, expected {expected_unit!r}: {line[:200]}")
            continue
        values[metric], units[metric] = float(value), unit
    missing = [m for m in bench.metrics if m not in values]
    if missing:
        problems.append(f"missing metrics: {', '.join(missing)}")
    return values, units, problems


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has been busy (not idle or waiting), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(f) for f in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this runner and of its children that have been waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_once(
    suite: Suite, impl: Impl, bench: Bench, row_n: int, n: int, repeat: int, timeout: float
) -> Run:
    busy, own = _busy_cpu_s(), _own_cpu_s()
    run = _run_once(suite, impl, bench, row_n, n, repeat, timeout)
    busy_after, own_after = _busy_cpu_s(), _own_cpu_s()
    if busy is not None and busy_after is not None and run.wall_s > 0:
        others = (busy_after - busy) - (own_after - own)
        run.others_cores = max(0.0, others / run.wall_s)
    return run


def _run_once(
    suite: Suite, impl: Impl, bench: Bench, row_n: int, n: int, repeat: int, timeout: float
) -> Run:
    cmd = [*impl.argv, bench.name, str(n)]
    env = {**os.environ, **impl.env}
    run = Run(suite.name, impl.name, bench.name, row_n, n, repeat, "failed")
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        run.error = f"cannot start {shlex.join(cmd)}: {exc}"
        return run
    try:
        stdout, stderr, timed_out = _communicate(proc, timeout, suite.progress)
    except BaseException:  # e.g. Ctrl-C: do not leave a multi-GiB child behind
        _kill_group(proc)
        proc.wait()
        raise
    if timed_out:
        run.wall_s = time.perf_counter() - start
        run.status = "timeout"
        # Keep the metrics printed before the limit (e.g. spawn_rate before teardown_s).
        run.values, run.units, _ = parse_output(stdout, suite, impl.name, bench, n)
        run.error = f"not finished within {timeout:g} s"
        return run
    run.wall_s = time.perf_counter() - start
    run.values, run.units, problems = parse_output(stdout, suite, impl.name, bench, n)
    if proc.returncode != 0:
        problems.insert(0, f"exit status {proc.returncode}")
    if problems:
        run.error = "; ".join(problems) + (f"\nstderr:\n{_tail(stderr)}" if stderr.strip() else "")
    else:
        run.status = "ok"
    return run


def _communicate(proc: subprocess.Popen[str], timeout: float, echo: bool) -> tuple[str, str, bool]:
    """The child's stdout and stderr once it exits, and whether it was killed at the time
    limit (its whole process group). With ``echo``, each stderr line is also shown as it
    comes (indented): the progress of a run that takes minutes."""
    if not echo:
        try:
            return (*proc.communicate(timeout=timeout), False)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return (*proc.communicate(), True)
    collected: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream: Any, key: str) -> None:
        for line in stream:
            collected[key].append(line)
            if key == "err":
                print(f"    {line}", end="", file=sys.stderr, flush=True)

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    try:
        proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        timed_out = True
    for thread in pumps:
        thread.join(timeout=10)  # a grandchild may hold the pipes a moment longer
    return "".join(collected["out"]), "".join(collected["err"]), timed_out


@dataclass(frozen=True)
class Plan:
    suite: Suite
    benches: list[Bench]
    impls: list[Impl]
    sizes: Mapping[str, tuple[int, ...]]  # bench -> row sizes
    repeats: int
    timeout: float


def schedule(plan: Plan, repeat: int) -> Iterable[tuple[Bench, int, Impl]]:
    """One repeat's jobs: every (bench, n), all implementations in an order rotated per repeat."""
    for bench in plan.benches:
        impls = [i for i in plan.impls if bench.only_impls is None or i.name in bench.only_impls]
        if not impls:
            continue
        shift = repeat % len(impls)
        for row_n in plan.sizes[bench.name]:
            for impl in impls[shift:] + impls[:shift]:
                yield bench, row_n, impl


def execute(plan: Plan, log: Callable[[str], None]) -> list[Run]:
    """Run the plan, strictly sequentially, repeats outermost."""
    runs: list[Run] = []
    timed_out: dict[tuple[str, str], int] = {}  # (impl, bench) -> smallest n that timed out
    total = sum(1 for _ in schedule(plan, 0)) * plan.repeats
    for repeat in range(plan.repeats):
        for bench, row_n, impl in schedule(plan, repeat):
            label = f"[{len(runs) + 1}/{total}] repeat {repeat + 1} {bench.name} n={row_n:,}"
            label += f" {impl.name}"
            n = impl.n_for(bench.name, row_n)
            limit = timed_out.get((impl.name, bench.name), math.inf)
            if n is None or n >= limit:
                run = Run(
                    plan.suite.name, impl.name, bench.name, row_n, n or row_n, repeat, "skipped"
                )
                run.error = "not run at this n for this implementation"
                if n is not None:
                    run.status, run.error = "timeout", f"not attempted: n={limit:,} timed out"
                runs.append(run)
                log(f"{label}: {run.status} ({run.error})")
                continue
            run = run_once(plan.suite, impl, bench, row_n, n, repeat, plan.timeout)
            runs.append(run)
            if run.status == "timeout":
                timed_out[(impl.name, bench.name)] = n
            detail = ", ".join(
                f"{m}={fmt_value(v, plan.suite.metric(m))}" for m, v in run.values.items()
            )
            log(f"{label}: {run.status} in {run.wall_s:.1f}s" + (f" ({detail})" if detail else ""))
            if run.status != "ok":
                log("    " + run.error.replace("\n", "\n    "))
    return runs


# --- aggregation -------------------------------------------------------------------------


@dataclass
class Cell:
    """One implementation's result for one (bench, row n, metric)."""

    status: Status | Availability
    n: int
    median: float | None = None
    min: float | None = None
    max: float | None = None
    values: list[float] = field(default_factory=list)
    ok_runs: int = 0
    runs: int = 0


def metric_names(bench: Bench, runs: Iterable[Run]) -> list[str]:
    """The bench's metrics, then any extra metric some implementation reported."""
    names = list(bench.metrics)
    for run in runs:
        if run.bench == bench.name:
            names += [m for m in run.values if m not in names]
    return names


def aggregate(runs: Iterable[Run], suite: Suite) -> dict[tuple[str, int, str, str], Cell]:
    """Return {(bench, row_n, metric, impl): Cell} over the runs of the present implementations."""
    grouped: dict[tuple[str, int, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.bench, run.row_n, run.impl), []).append(run)
    cells: dict[tuple[str, int, str, str], Cell] = {}
    for (bench_name, row_n, impl), group in grouped.items():
        for metric in metric_names(suite.bench(bench_name), group):
            # Values of a timed-out run are kept: they were printed before the limit.
            values = [
                r.values[metric] for r in group if r.status != "failed" and metric in r.values
            ]
            cell = Cell("ok", group[0].n, values=values, ok_runs=len(values), runs=len(group))
            if values:
                cell.median, cell.min, cell.max = (
                    statistics.median(values),
                    min(values),
                    max(values),
                )
            else:
                statuses = {r.status for r in group}
                cell.status = next(s for s in ("failed", "timeout", "skipped") if s in statuses)
            cells[(bench_name, row_n, metric, impl)] = cell
    return cells


def ratio_text(ref: Cell | None, other: Cell | None, metric: Metric) -> str:
    """``trouper/other`` medians, phrased so the better direction is unambiguous."""
    if ref is None or other is None or ref.median is None or other.median is None:
        return ""
    if metric.higher_is_better is None:
        return ""
    if other.median == 0 or ref.median == 0:
        return "n/a"
    ratio = ref.median / other.median
    better = ratio >= 1 if metric.higher_is_better else ratio <= 1
    factor = max(ratio, 1 / ratio)
    return f"{ratio:.3g} ({factor:.1f}x {metric.better if better else metric.worse})"


def fmt_value(value: float, metric: Metric | None) -> str:
    unit = metric.unit if metric else ""
    if unit == "s":
        return f"{value:#.3g}".rstrip(".") if abs(value) < 100 else f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_cell(cell: Cell | None, metric: Metric, row_n: int) -> str:
    if cell is None:
        return "-"
    if cell.median is None or cell.min is None or cell.max is None:
        return "not run" if cell.status == "skipped" else cell.status
    text = fmt_value(cell.median, metric)
    if cell.ok_runs > 1:
        text += f" ({fmt_value(cell.min, metric)}-{fmt_value(cell.max, metric)})"
    notes = []
    if cell.n != row_n:
        notes.append(f"n={cell.n:,}")
    if cell.ok_runs < cell.runs:
        notes.append(f"{cell.ok_runs} of {cell.runs} runs")
    return text + (f" [{'; '.join(notes)}]" if notes else "")


def target_for(suite: Suite, bench: str, row_n: int, metric: str) -> Target | None:
    return next((t for t in suite.targets if t.applies(bench, metric, row_n)), None)


def verdict(target: Target, ref: Cell | None) -> bool | None:
    """Whether the reference's median meets the target; None if there is no median."""
    return None if ref is None or ref.median is None else target.met(ref.median)


def verdict_text(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "NOT met")


# --- reporting ---------------------------------------------------------------------------


@dataclass
class SuiteReport:
    suite: Suite
    plan: Plan
    runs: list[Run]
    cells: dict[tuple[str, int, str, str], Cell]
    availability: dict[str, tuple[Availability, str]]
    machine: dict[str, str]
    command: str
    date: str

    def rows(self) -> Iterable[tuple[Bench, int, Metric, list[str]]]:
        """(bench, row n, metric, implementations shown) in table order."""
        shown_all = [i.name for i in self.suite.impls if i.name in self.availability]
        units = {m: u for r in self.runs for m, u in r.units.items()}
        for bench in self.plan.benches:
            shown = self.suite.impls_for(bench, shown_all)
            if not shown:
                continue
            for row_n in self.plan.sizes[bench.name]:
                for name in metric_names(bench, self.runs):
                    yield bench, row_n, self.suite.metric(name, units.get(name, "")), shown

    def cell(self, bench: str, row_n: int, metric: str, impl: str) -> Cell | None:
        cell = self.cells.get((bench, row_n, metric, impl))
        if cell is None and impl in self.availability and self.availability[impl][0] != "present":
            return Cell(self.availability[impl][0], row_n)
        return cell


def bench_rows(report: SuiteReport, bench: Bench) -> tuple[list[str], list[list[str]]]:
    """Header and body of one bench's table (shared by the text and markdown output)."""
    ref = report.suite.reference
    header: list[str] = []
    body: list[list[str]] = []
    for b, row_n, metric, shown in report.rows():
        if b is not bench:
            continue
        comparisons = [i for i in shown if i != ref] if ref in shown else []
        has_target = any(t.bench == bench.name for t in report.suite.targets) and ref in shown
        header = ["n", "metric", *shown, *(f"{ref}/{c}" for c in comparisons)]
        if has_target:
            header.append(f"target ({ref})")
        ref_cell = report.cell(bench.name, row_n, metric.name, ref)
        row = [f"{row_n:,}", f"{metric.name} ({metric.unit}, {metric.direction})"]
        row += [
            fmt_cell(report.cell(bench.name, row_n, metric.name, i), metric, row_n) for i in shown
        ]
        row += [
            ratio_text(ref_cell, report.cell(bench.name, row_n, metric.name, c), metric)
            for c in comparisons
        ]
        if has_target:
            target = target_for(report.suite, bench.name, row_n, metric.name)
            if target is None:
                row.append("")
            else:
                row.append(f"{target.label}: {verdict_text(verdict(target, ref_cell))}")
        body.append(row)
    return header, body


def other_load_text(runs: Sequence[Run]) -> str | None:
    """How busy the rest of the machine was during the runs, or None if unknown."""
    loads = sorted(r.others_cores for r in runs if r.others_cores is not None)
    if not loads:
        return None
    median = statistics.median(loads)
    return (
        f"CPU used by other processes during each run, in cores (of {os.cpu_count()}): "
        f"median {median:.2f} ({loads[0]:.2f}-{loads[-1]:.2f})"
    )


def render_text(report: SuiteReport) -> str:
    """Plain-text tables for stdout."""
    out = [f"== suite {report.suite.name}: {report.plan.repeats} repeat(s), median (min-max) =="]
    if (load := other_load_text(report.runs)) is not None:
        out.append(f"   other load: {load}")
    for name, (state, why) in report.availability.items():
        if state != "present":
            out.append(f"   {name}: {state} ({why})")
    for bench in report.plan.benches:
        header, body = bench_rows(report, bench)
        if not body:
            continue
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        out.append("")
        out.append(f"-- {bench.name}")
        for row in [header, *body]:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: SuiteReport) -> str:
    """The suite's section of BENCHMARKS.md, including its delimiting comments."""
    suite, machine = report.suite, report.machine
    ref = suite.reference
    lines = [
        f"<!-- suite:{suite.name} -->",
        f"## {suite.title}",
        "",
        suite.description,
        "",
        f"- **Machine:** {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, "
        f"Linux {machine['kernel']}",
        f"- **Software:** Python {machine['python']}, trio {machine['trio']}, "
        f"Erlang/OTP {machine['otp']}",
        f"- **Date:** {report.date}",
        f"- **Command:** `{report.command}`",
        f"- **Method:** every cell is the median of {report.plan.repeats} run(s), "
        "(min-max) in parentheses; each run is a fresh OS process; implementations are "
        "interleaved within each repeat; per-run time limit "
        f"{report.plan.timeout:g} s (`timeout`: exceeded, larger n then not attempted; "
        "metrics printed before the limit are kept). `[2 of 3 runs]`: only that many runs "
        "gave the value; `[n=...]`: that implementation ran a different n; `not run`: "
        "size deliberately not run for that implementation. "
        f"Ratios are {ref}'s median divided by the other's, with the verdict spelled out "
        f"(`2.0x faster` means {ref} is better by that factor).",
    ]
    if (load := other_load_text(report.runs)) is not None:
        lines.append(f"- **Other load:** {load}.")
    for name, (state, why) in report.availability.items():
        if state != "present":
            lines.append(f"- **{name}:** {state} ({why})")
    checked = [
        (bench, row_n, metric, target)
        for bench, row_n, metric, shown in report.rows()
        if ref in shown and (target := target_for(suite, bench.name, row_n, metric.name))
    ]
    if checked:
        lines += [
            "",
            f"### Targets ({ref})",
            "",
            "| bench | n | metric | target | measured | status |",
            "|---|---|---|---|---|---|",
        ]
        for bench, row_n, metric, target in checked:
            ref_cell = report.cell(bench.name, row_n, metric.name, ref)
            met = verdict(target, ref_cell)
            measured = (
                fmt_value(ref_cell.median, metric)
                if ref_cell and ref_cell.median is not None
                else (ref_cell.status if ref_cell else "-")
            )
            status = "**NOT met**" if met is False else verdict_text(met)
            cells = [bench.name, f"{row_n:,}", f"{metric.name} ({metric.unit})", target.label]
            lines.append("| " + " | ".join([*cells, measured, status]) + " |")
    for bench in report.plan.benches:
        header, body = bench_rows(report, bench)
        if not body:
            continue
        lines += ["", f"### {bench.name}", "", bench.description, ""]
        lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in body]
    lines += ["", f"<!-- /suite:{suite.name} -->"]
    return "\n".join(lines)


FILE_HEADER = """# Benchmarks

Generated by `benchmarks/run.py` (see its docstring for the method). Each suite's section
is regenerated when that suite is run; the other sections are left as they were.
"""


def update_markdown(path: Path, suite_name: str, section: str) -> None:
    """Replace (or append) the suite's delimited section, leaving everything else untouched."""
    text = path.read_text() if path.exists() else FILE_HEADER
    pattern = re.compile(
        rf"<!-- suite:{re.escape(suite_name)} -->.*?<!-- /suite:{re.escape(suite_name)} -->",
        re.DOTALL,
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def report_json(report: SuiteReport) -> dict[str, Any]:
    results = []
    for bench, row_n, metric, shown in report.rows():
        for impl in shown:
            cell = report.cell(bench.name, row_n, metric.name, impl)
            if cell is None:
                continue
            results.append(
                {
                    "bench": bench.name,
                    "n": row_n,
                    "n_run": cell.n,
                    "metric": metric.name,
                    "unit": metric.unit,
                    "higher_is_better": metric.higher_is_better,
                    "impl": impl,
                    "status": cell.status,
                    "median": cell.median,
                    "min": cell.min,
                    "max": cell.max,
                    "values": cell.values,
                }
            )
    targets = []
    for bench, row_n, metric, _ in report.rows():
        target = target_for(report.suite, bench.name, row_n, metric.name)
        if target is not None:
            ref_cell = report.cell(bench.name, row_n, metric.name, report.suite.reference)
            targets.append(
                {
                    "bench": bench.name,
                    "n": row_n,
                    "metric": metric.name,
                    "target": target.label,
                    "met": verdict(target, ref_cell),
                    "median": ref_cell.median if ref_cell else None,
                }
            )
    plan = report.plan
    return {
        "plan": {
            "benches": [b.name for b in plan.benches],
            "impls": [i.name for i in plan.impls],
            "sizes": {b: list(ns) for b, ns in plan.sizes.items()},
        },
        "availability": {k: {"status": s, "why": w} for k, (s, w) in report.availability.items()},
        "repeats": report.plan.repeats,
        "timeout_s": report.plan.timeout,
        "results": results,
        "targets": targets,
        "runs": [asdict(r) for r in report.runs],
    }


# --- environment -------------------------------------------------------------------------


def _read_first(path: str, key: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def otp_version() -> str:
    if shutil.which("erl") is None:
        return "not installed"
    expr = (
        'io:format("~s (erts ~s)",'
        "[erlang:system_info(otp_release),erlang:system_info(version)]),halt()."
    )
    try:
        out = subprocess.run(
            ["erl", "-noshell", "-eval", expr],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info() -> dict[str, str]:
    mem = _read_first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem.split()[0]) / 2**20:.1f} GiB" if mem else "unknown"
    try:
        trio_version = importlib.metadata.version("trio")
    except importlib.metadata.PackageNotFoundError:
        trio_version = "not installed"
    return {
        "cpu": _read_first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "ram": ram,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "trio": trio_version,
        "otp": otp_version(),
    }


def command_line(argv: Sequence[str]) -> str:
    def rel(p: str) -> str:
        try:
            return str(Path(p).resolve().relative_to(REPO_ROOT))
        except ValueError:
            return p

    exe = sys.executable
    if Path(exe).is_relative_to(REPO_ROOT):  # keep the venv's symlinked path readable
        exe = str(Path(exe).relative_to(REPO_ROOT))
    script = "benchmarks/run.py" if Path(argv[0]).name == "run.py" else rel(argv[0])
    return shlex.join([exe, script, *argv[1:]])


# --- command line ------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    all_benches = sorted({b.name for s in SUITES.values() for b in s.benches})
    all_impls = sorted({i.name for s in SUITES.values() for i in s.impls})
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help=f"n={QUICK_N} for every bench, 1 repeat, no markdown"
    )
    p.add_argument(
        "--repeats", type=int, help="runs per measurement (default 3, or 1 with --quick)"
    )
    p.add_argument(
        "--suite",
        default=",".join(SUITES),
        help=f"suites to run (default: all: {','.join(SUITES)})",
    )
    p.add_argument("--only", help=f"benches to run (default: all): {','.join(all_benches)}")
    p.add_argument("--impl", help=f"implementations to run (default: all): {','.join(all_impls)}")
    p.add_argument("--sizes", help="override every bench's sizes, e.g. 1000,10000")
    p.add_argument(
        "--timeout",
        type=float,
        help=f"per-run limit in seconds (default {DEFAULT_TIMEOUT_S:g}, or the suite's own)",
    )
    p.add_argument(
        "--out",
        help="markdown file, '-' for none (default: BENCHMARKS.md at the repository root, "
        "but only for a complete run: with --only/--impl/--sizes pass --out explicitly)",
    )
    p.add_argument(
        "--json",
        help="JSON results, '-' for none "
        "(default benchmarks/results/latest.json, or quick.json with --quick)",
    )
    p.add_argument(
        "--setup", action="store_true", help="run benchmarks/beam/setup.sh first (installs Erlang)"
    )
    p.add_argument(
        "--render",
        metavar="JSON",
        help="do not run anything: re-render the tables and markdown from an earlier --json",
    )
    p.add_argument(
        "--strict", action="store_true", help="a missing or skipped implementation is a failure"
    )
    args = p.parse_args(argv)

    def split(value: str | None, allowed: Sequence[str], what: str) -> list[str] | None:
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in items if v not in allowed]
        if unknown or not items:
            p.error(
                f"unknown {what}: {','.join(unknown) or '(none)'}; choose from {','.join(allowed)}"
            )
        return items

    args.suite = split(args.suite, list(SUITES), "suite")
    args.only = split(args.only, all_benches, "bench")
    args.impl = split(args.impl, all_impls, "implementation")
    if args.sizes is not None:
        try:
            args.sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
        except ValueError:
            p.error("--sizes takes comma-separated integers")
        if not args.sizes or min(args.sizes) < 1:
            p.error("--sizes must be positive")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.json is None:
        args.json = str(BENCH_DIR / "results" / ("quick.json" if args.quick else "latest.json"))
    return args


def run_setup(log: Callable[[str], None]) -> None:
    script = BENCH_DIR / "beam" / "setup.sh"
    if not script.exists():
        log(f"--setup: {script.relative_to(REPO_ROOT)} does not exist; skipping")
        return
    log(f"--setup: running bash {script.relative_to(REPO_ROOT)}")
    result = subprocess.run(["bash", str(script)], cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        log(f"--setup: setup.sh exited with {result.returncode}; beam may be skipped")


def run_suites(
    args: argparse.Namespace, machine: dict[str, str], command: str, date: str
) -> list[SuiteReport]:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    reports: list[SuiteReport] = []
    for suite_name in args.suite:
        suite = SUITES[suite_name]
        benches = [b for b in suite.benches if args.only is None or b.name in args.only]
        if not benches:
            continue
        wanted = [i for i in suite.impls if args.impl is None or i.name in args.impl]
        availability = {i.name: i.availability() for i in wanted}
        for name, (state, why) in availability.items():
            if state != "present":
                log(f"{suite.name}: {name} {state}: {why}")
        present = [i for i in wanted if availability[i.name][0] == "present"]
        sizes = {
            b.name: args.sizes or ((QUICK_N,) if args.quick else b.full_sizes) for b in benches
        }
        timeout = suite.timeout if args.timeout is None else args.timeout
        plan = Plan(suite, benches, present, sizes, args.repeats, timeout)
        runs = execute(plan, log)
        cells = aggregate(runs, suite)
        reports.append(SuiteReport(suite, plan, runs, cells, availability, machine, command, date))
    return reports


def load_reports(path: Path) -> tuple[list[SuiteReport], bool]:
    """Rebuild the reports of an earlier run from its JSON (for --render)."""
    doc = json.loads(path.read_text())
    reports = []
    for suite_name, data in doc["suites"].items():
        suite = SUITES[suite_name]
        saved = data["plan"]
        plan = Plan(
            suite,
            [suite.bench(b) for b in saved["benches"]],
            [i for i in suite.impls if i.name in saved["impls"]],
            {b: tuple(ns) for b, ns in saved["sizes"].items()},
            data["repeats"],
            data["timeout_s"],
        )
        runs = [Run(**r) for r in data["runs"]]
        availability: dict[str, tuple[Availability, str]] = {
            k: (v["status"], v["why"]) for k, v in data["availability"].items()
        }
        cells = aggregate(runs, suite)
        reports.append(
            SuiteReport(
                suite,
                plan,
                runs,
                cells,
                availability,
                doc["machine"],
                doc["command"],
                doc["generated"],
            )
        )
    return reports, bool(doc.get("quick"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = parse_args(argv[1:])

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.render:
        reports, quick = load_reports(Path(args.render))
        command, date, machine = reports[0].command, reports[0].date, reports[0].machine
    else:
        if args.setup:
            run_setup(log)
        machine = machine_info()
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = command_line(argv)
        quick = args.quick
        reports = run_suites(args, machine, command, date)

    for report in reports:
        print(render_text(report))
        print()

    if args.json != "-" and not args.render:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "generated": date,
            "command": command,
            "machine": machine,
            "quick": quick,
            "suites": {r.suite.name: report_json(r) for r in reports},
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {path}")
    partial = args.only is not None or args.impl is not None or args.sizes is not None
    if quick or args.out == "-":
        pass
    elif args.out is None and partial:
        log("partial run (--only/--impl/--sizes): markdown not written; pass --out to write it")
    else:
        path = Path(args.out) if args.out else REPO_ROOT / "BENCHMARKS.md"
        for report in reports:
            update_markdown(path, report.suite.name, render_markdown(report))
        log(f"wrote {path}")

    bad = [
        r
        for rep in reports
        for r in rep.runs
        if r.status == "failed" or (quick and r.status == "timeout")
    ]
    absent = [
        f"{rep.suite.name}/{name}"
        for rep in reports
        for name, (state, _) in rep.availability.items()
        if state != "present"
    ]
    for r in bad:
        first_line = r.error.splitlines()[0] if r.error else ""
        log(f"FAILED: {r.impl} {r.bench} n={r.n} repeat {r.repeat + 1}: {r.status}: {first_line}")
    if args.strict and absent:
        log(f"FAILED (--strict): not run: {', '.join(absent)}")
    return 1 if bad or (args.strict and absent) else 0


if __name__ == "__main__":
    sys.exit(main())
