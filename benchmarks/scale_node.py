"""The ``scale`` suite's server node: one trouper node of a cluster holding WebSockets.

Started by ``scale_trouper.py`` as ``_server <index> <port> <redis_url>``. The node
runs an Application as docs/cluster.md shows one: ``PubSub`` ``chat`` with a
``RedisAdapter`` (node name ``node<index + 1>``), the ``Cluster`` server, ``Presence``, and
the endpoint of ``websocket_trouper``'s chat app (``ChatSocket``, the reactive ``Lobby``
channel) bound with ``reuse_port`` on the port every node shares, so the kernel spreads
the connections over the nodes. Node 0 also serves ``GET /broadcast?seq=<k>`` on a port of
its own (the ``control`` endpoint, outside the Application): it broadcasts ``new_msg``
``{"seq": k}`` to ``rooms:lobby`` through the channels' fastlane, which crosses Redis to
the other nodes once.

The node takes commands on stdin and answers with JSON lines on stdout (``listening`` first):

``peers``
    the other nodes its cluster server sees up.
``status``
    connection processes under the endpoint's connections supervisor.
``chaos <channels_per_s> <connections_per_s>``
    start the chaos process: at that steady rate it picks a random connection process that
    has a joined channel and kills (``exit(pid, "kill")``) the channel or the connection.
``stop_chaos``
    stop it (at its next tick, so that every kill it made is counted); answers what it
    killed.
``health``
    the restart count of every non-temporary child in the Application's tree (pubsub
    shards and adapter, cluster, presence, endpoint's poller, connections supervisor and
    listener: all must be 0), the peers, and the log events seen, by name.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, MutableMapping
from typing import Any

import attrs
import structlog
import trio

import trouper
from trouper import cluster, pubsub
from trouper.channels import (
    Broadcast,
    Endpoint,
    HttpRequest,
    HttpResponse,
    Presence,
    dispatcher,
    endpoint_spec,
    start_endpoint,
)
from trouper.cluster import Cluster
from trouper.pubsub import PubSub, RedisAdapter
from trouper.supervision import Application, count_children, tree, which_children
from websocket_trouper import (
    PUBSUB,
    SERVER_HOST,
    TOPIC,
    ChatSocket,
    Commands,
    Lobby,
    raise_nofile_limit,
    send_line,
)

APP = "scale"
CONNECTIONS = "endpoint.connections"  # the endpoint's DynamicSupervisor of connections
POOL_REFRESH_S = 1.0  # how often the chaos process re-reads the list of connections
PICK_TRIES = 20


async def numbered_broadcast(request: HttpRequest) -> HttpResponse:
    """``GET /broadcast?seq=<k>``: ``new_msg`` ``{"seq": k}`` to the lobby on every node."""
    seq = int(request.query.get("seq", "0"))
    message = Broadcast(TOPIC, "new_msg", {"seq": seq, "body": "hello everyone"})
    t0 = time.monotonic()
    pubsub.broadcast(PUBSUB, TOPIC, message, dispatcher=dispatcher)
    t1 = time.monotonic()
    return HttpResponse(200, f'{{"t0": {t0}, "t1": {t1}}}'.encode(), "application/json")


class NodeLobby(Lobby):
    """The chat's lobby, whose join reply says which node the socket is on (so the clients
    can tell the broadcaster's own sockets from those reached across Redis)."""

    node = 0

    def join(self, topic: str, payload: Any) -> Any:
        return {"node": self.node}


class NodeSocket(ChatSocket):
    channels = ((TOPIC, NodeLobby),)


def node_app(index: int, port: int, redis_url: str) -> Application:
    NodeLobby.node = index
    endpoint = Endpoint(NodeSocket, pubsub=PUBSUB)
    return Application(
        APP,
        [
            PubSub.child_spec(
                PUBSUB, adapter=RedisAdapter(redis_url, node_name=f"node{index + 1}")
            ),
            Cluster.child_spec(PUBSUB),
            Presence.child_spec("presence", PUBSUB),
            endpoint_spec(endpoint, SERVER_HOST, port, reuse_port=True),
        ],
    )


# --- chaos -----------------------------------------------------------------------------------


@attrs.define
class ChaosStats:
    channels: int = 0  # channel processes killed
    connections: int = 0  # connection processes killed
    misses: int = 0  # ticks that found no joined connection to kill
    error: str | None = None  # the chaos process crashed: the run is void
    stop: bool = False  # set by the node: the chaos process returns at its next tick


def joined_channel(pid: trouper.Pid) -> trouper.Pid | None:
    """The channel process a connection started and is linked to, if it has one now."""
    info = trouper.process_info(pid)
    if info is None:
        return None
    for peer in info.links:
        if peer == info.parent:
            continue
        peer_info = trouper.process_info(peer)
        # A channel is a behaviour (a page's HTTP task would be a plain function).
        if peer_info is not None and peer_info.parent == pid and peer_info.behaviour:
            return peer
    return None


async def run_chaos(channels_per_s: float, connections_per_s: float, stats: ChaosStats) -> None:
    """Kill channels and connections at a steady rate, interleaved in proportion."""
    try:
        rate = channels_per_s + connections_per_s
        if rate <= 0:
            return
        rng = random.Random()
        pool: list[trouper.Pid] = []
        refreshed = -math.inf
        start = trio.current_time()
        channel_ticks = 0
        for tick in range(1 << 62):
            if stats.stop:
                return
            now = trio.current_time()
            if now - refreshed >= POOL_REFRESH_S:
                children = await which_children(CONNECTIONS)
                pool = [c.pid for c in children if isinstance(c.pid, trouper.Pid)]
                refreshed = now
            # Channel ticks due by now, rounded down: the two kinds stay in proportion.
            kill_channel = channel_ticks < math.floor((tick + 1) * channels_per_s / rate)
            channel_ticks += kill_channel
            for _ in range(PICK_TRIES if pool else 0):
                connection = rng.choice(pool)
                channel = joined_channel(connection)
                if channel is not None:
                    if kill_channel:
                        trouper.exit(channel, trouper.KILL)
                        stats.channels += 1
                    else:
                        trouper.exit(connection, trouper.KILL)
                        stats.connections += 1
                    break
            else:
                stats.misses += 1
            await trio.sleep_until(start + (tick + 1) / rate)
    except BaseException as exc:
        if not isinstance(exc, trio.Cancelled | trouper.ProcessExit):
            stats.error = repr(exc)
        raise


# --- health ----------------------------------------------------------------------------------


def restarts(node: Mapping[str, Any], path: str = APP) -> dict[str, int]:
    """``tree()``'s restart count of every non-temporary child, by path."""
    found: dict[str, int] = {}
    for child in node.get("children", ()):
        child_path = f"{path}/{child['id']}"
        if child.get("restart") != "temporary":
            found[child_path] = child["restarts"]
        found.update(restarts(child, child_path))
    return found


class CountEvents:
    """A structlog processor counting log events by name and dropping them: a chaos run
    logs every kill (``child_terminated``), and the counts are what the driver wants. The
    first few of each name are kept, to show when something went wrong."""

    SAMPLES = 3

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        key = f"{method}:{event.get('event')}"
        self.counts[key] += 1
        if self.counts[key] <= self.SAMPLES:
            fields = {k: v for k, v in event.items() if k != "exc_info"}
            self.samples.setdefault(key, []).append(repr(fields)[:400])
        raise structlog.DropEvent


# --- the node --------------------------------------------------------------------------------


def node_main(index: int, port: int, redis_url: str) -> int:
    raise_nofile_limit()
    events = CountEvents()
    structlog.configure(
        processors=[events],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )

    async def serve() -> None:
        await node_app(index, port, redis_url).start()
        control = 0
        if index == 0:
            control_endpoint = Endpoint(
                ChatSocket, PUBSUB, routes={"/broadcast": numbered_broadcast}
            )
            _, control = await start_endpoint(control_endpoint, SERVER_HOST, 0, name="control")
        send_line({"event": "listening", "pid": os.getpid(), "http_port": control})
        stats = ChaosStats()
        chaos: trouper.Pid | None = None
        command = Commands().next
        while (cmd := (await command()).split())[:1] != ["quit"]:
            match cmd:
                case ["peers"]:
                    send_line({"event": "peers", "nodes": cluster.nodes()})
                case ["status"]:
                    counts = await count_children(CONNECTIONS)
                    send_line({"event": "status", "connections": counts.active})
                case ["chaos", channels_per_s, connections_per_s]:
                    stats = ChaosStats()
                    args = (float(channels_per_s), float(connections_per_s), stats)
                    chaos = trouper.spawn(run_chaos, *args)
                case ["stop_chaos"]:
                    if chaos is not None:  # stopped between kills, so every kill is counted
                        ref = trouper.monitor(chaos)
                        stats.stop = True
                        await trouper.receive(
                            lambda m, ref=ref: type(m) is trouper.Down and m.ref == ref
                        )
                    send_line({"event": "chaos_stopped", **attrs.asdict(stats)})
                case ["health"]:
                    shape = await tree(APP, max_children=8)
                    send_line(
                        {
                            "event": "health",
                            "restarts": restarts(shape),
                            "nodes": cluster.nodes(),
                            "log_events": dict(events.counts),
                            "log_samples": events.samples,
                        }
                    )
                case _:
                    print(f"[scale node {index}] unknown command {cmd!r}", file=sys.stderr)

    trouper.run(serve)
    return 0
