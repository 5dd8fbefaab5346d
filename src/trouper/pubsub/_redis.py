"""The Redis cluster adapter: a broadcast crosses to each node once and fans out there.

How this works
--------------
Phoenix's Redis adapter (phoenix_pubsub_redis), on trio. Every node of a pubsub named
``chat`` subscribes to two Redis channels: ``trouper:chat`` (broadcasts, every node
receives them) and ``trouper:chat:node:<node name>`` (``direct_broadcast`` to this node).

* ``broadcast`` (in the broadcaster, never blocking) encodes the message once
  (``_codec``: JSON, no pickle) and appends ``(channel, frame)`` to the adapter's outbox.
* The **publisher**, a task process with its own connection, takes everything queued and
  writes it as one pipeline of PUBLISH commands, then reads the replies. When it is idle,
  the first broadcast is written at once by the broadcaster itself (a non-blocking send),
  so the other nodes start fanning out while this node does its own. One connection, and
  writes in queue order, keep every broadcaster's order, and Redis keeps it per
  connection: each node receives a node's broadcasts in the order they were made.
* The **subscriber**, a task process with a second connection, decodes each frame, skips
  the node's own broadcasts (they were dispatched locally already) and calls
  ``local_broadcast(pubsub, topic, message, dispatcher=<name>)``.

When Redis goes away, both processes log it, keep the node serving its own subscribers,
and reconnect with exponential backoff. Cross-node delivery is at most once: a broadcast
made while the publisher is disconnected, or while its outbox is over
``max_pending_bytes``, is dropped and counted. Every disconnect, and every start of a run of
drops, increments the adapter's ``session``: the cluster layer carries it in its heartbeats,
so other nodes learn that messages between them may have been lost (as a broken Erlang
distribution connection does) and resynchronise.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import attrs
import structlog
import trio

import trouper
from trouper.supervision import ChildSpec

from ._adapter import Adapter
from ._api import local_broadcast
from ._codec import CodecError, decode_frame, encode_frame
from ._reconnect import CONNECTION_ERRORS, Backoff, Link, keep_connected
from ._resp import RedisAddress, RedisConnection, RedisError, _hiredis, pack_command

log = structlog.get_logger("trouper.pubsub")


@attrs.frozen
class RedisStatistics:
    """The adapter's counters (``adapter.statistics()``).

    Attributes:
        publisher_connected: the publishing connection is up.
        subscriber_connected: the subscribing connection is up.
        session: how many times cross-node messages may have been lost (disconnects and
            runs of drops); other nodes see it in the cluster's heartbeats.
        published: frames written to Redis.
        dropped: broadcasts not sent (Redis down, or the outbox over its limit).
        received: frames received from other nodes (and direct ones from this node).
        bad_frames: received frames that could not be decoded (logged, then skipped).
        pending_bytes: bytes queued for the publisher now.
    """

    publisher_connected: bool
    subscriber_connected: bool
    session: int
    published: int
    dropped: int
    received: int
    bad_frames: int
    pending_bytes: int


class RedisAdapter(Adapter):
    """Carry a pubsub's broadcasts between nodes through Redis pub/sub.

    ``await PubSub.start_link("chat", adapter=RedisAdapter("redis://127.0.0.1:6379",
    node_name="node1"))`` on every node. One adapter object serves one pubsub.

    Args:
        url: ``redis://[[user]:password@]host[:port]``.
        node_name: unique in the cluster; defaults to ``<hostname>.<os pid>``.
        namespace: prefix of the Redis channel names (``<namespace>:<pubsub>``), so that
            several clusters can share one Redis.
        max_pending_bytes: how far the publisher may fall behind before broadcasts to other
            nodes are dropped (never blocked).
        connect_timeout: seconds for a connection attempt (connect, AUTH, PING).
        reconnect_backoff: first and largest delay between reconnection attempts.
        ping_interval: a subscriber connection silent this long is PINGed; one silent for
            twice as long is treated as lost. Also the publisher's reply timeout.

    Raises:
        ImportError: hiredis is not installed (``pip install 'trouper[redis]'``).
        ValueError: a bad URL.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        node_name: str | None = None,
        namespace: str = "trouper",
        max_pending_bytes: int = 64 << 20,
        connect_timeout: float = 5.0,
        reconnect_backoff: tuple[float, float] = (0.1, 5.0),
        ping_interval: float = 5.0,
    ) -> None:
        _hiredis()
        self.address = RedisAddress.from_url(url)
        name = f"{socket.gethostname()}.{os.getpid()}" if node_name is None else node_name
        if not isinstance(name, str) or not name:
            raise ValueError(f"node_name must be a non-empty str, not {node_name!r}")
        self._node = name
        self._namespace = namespace
        self._max_pending = max_pending_bytes
        self._connect_timeout = connect_timeout
        self._backoff = reconnect_backoff
        self._ping_interval = ping_interval
        self._pubsub: str | None = None
        self._publisher = Link("publisher", str(self.address), self._lost)
        self._subscriber = Link("subscriber", str(self.address), self._lost)
        self._reset()

    def _reset(self) -> None:
        self._outbox: list[tuple[bytes, bytes]] = []
        self._pending_bytes = 0
        # A direct write (see _enqueue): allowed while the publisher is idle.
        self._direct: RedisConnection | None = None
        self._unread = 0  # PUBLISH replies the publisher has yet to read
        self._unsent = b""  # what a direct write could not write at once
        self._wake: trio.Event | None = None
        self._session = 0
        self._lossy = False
        self._published = self._dropped = self._received = self._bad_frames = 0

    def __repr__(self) -> str:
        return f"<RedisAdapter {self._node!r} {self.address} pubsub={self._pubsub!r}>"

    # -- the Adapter protocol ---------------------------------------------------------------

    def node_name(self) -> str:
        """This node's name."""
        return self._node

    def channel(self, node: str | None = None) -> bytes:
        """The Redis channel of all broadcasts, or of direct broadcasts to ``node``."""
        base = f"{self._namespace}:{self._pubsub}"
        return (base if node is None else f"{base}:node:{node}").encode("utf-8")

    def start(self, pubsub: str) -> Sequence[ChildSpec]:
        """Learn the pubsub's name; return the publisher's and the subscriber's specs."""
        self._pubsub = pubsub
        self._reset()
        self._broadcast_channel = self.channel()
        self._publisher = Link("publisher", str(self.address), self._lost)
        self._subscriber = Link("subscriber", str(self.address), self._lost)
        return (
            ChildSpec("redis_publisher", self._start, (self._run_publisher,), shutdown=2.0),
            ChildSpec("redis_subscriber", self._start, (self._run_subscriber,), shutdown=1.0),
        )

    def stop(self) -> None:
        """The pubsub stopped: forget what was queued."""
        self._outbox = []
        self._pending_bytes = 0
        self._direct = None

    def broadcast(self, topic: str, message: Any, dispatcher: str) -> None:
        """Queue ``message`` for every other node; :class:`CodecError` if it cannot cross."""
        frame = encode_frame(self._node, topic, message, dispatcher)
        self._enqueue(self._broadcast_channel, frame)

    def direct_broadcast(self, node_name: str, topic: str, message: Any, dispatcher: str) -> None:
        """Queue ``message`` for node ``node_name`` only (through Redis, this node too)."""
        frame = encode_frame(self._node, topic, message, dispatcher)
        self._enqueue(self.channel(node_name), frame)

    @property
    def session(self) -> int:
        """Increments whenever messages between this node and others may have been lost."""
        return self._session

    def statistics(self) -> RedisStatistics:
        """The adapter's counters, now."""
        return RedisStatistics(
            publisher_connected=self._publisher.up,
            subscriber_connected=self._subscriber.up,
            session=self._session,
            published=self._published,
            dropped=self._dropped,
            received=self._received,
            bad_frames=self._bad_frames,
            pending_bytes=self._pending_bytes,
        )

    # -- the outbox -------------------------------------------------------------------------

    def _enqueue(self, channel: bytes, frame: bytes) -> None:
        if not self._publisher.up or self._pending_bytes + len(frame) > self._max_pending:
            self._drop(1)
            return
        conn = self._direct
        if conn is not None:
            # The publisher is idle: write now, in the broadcaster, so that the other
            # nodes start their fan-out while this one does its own (the publisher task
            # would only run after it). Only the first message after idle: what follows
            # is batched by the publisher, which also reads the reply.
            self._direct = None
            data = pack_command(b"PUBLISH", channel, frame)
            try:
                sent = conn.send_nowait(data)
            except OSError:
                sent = -1  # broken: queue it; the publisher finds out and reconnects
            if sent >= 0:
                self._unread += 1
                self._unsent = data[sent:]
                assert self._wake is not None
                self._wake.set()
                return
        self._outbox.append((channel, frame))
        self._pending_bytes += len(frame)
        wake = self._wake
        if wake is not None:
            wake.set()

    def _drop(self, count: int) -> None:
        if not count:
            return
        self._dropped += count
        if not self._lossy:
            self._lossy = True
            self._session += 1
            log.warning("redis_broadcasts_dropped", redis=str(self.address), first=count)

    def _lost(self) -> None:
        """A connection broke: messages in either direction may be lost."""
        self._lossy = True  # the drops that follow belong to this loss
        self._session += 1

    # -- the processes ----------------------------------------------------------------------

    async def _start(self, body: Any) -> trouper.Pid:
        """Spawn ``body`` linked to the supervisor; return once its first connection attempt
        is over, so that a node started with Redis up is connected when its pubsub is."""
        tried = trio.Event()
        pid = trouper.spawn_link(body, tried)
        with trio.move_on_after(self._connect_timeout + 1.0):
            await tried.wait()
        return pid

    async def _run_publisher(self, tried: trio.Event) -> None:
        connect = functools.partial(
            RedisConnection.open, self.address, timeout=self._connect_timeout
        )
        backoff = Backoff(*self._backoff)
        await keep_connected(self._publisher, backoff, tried, connect, self._publish)

    async def _run_subscriber(self, tried: trio.Event) -> None:
        backoff = Backoff(*self._backoff)
        await keep_connected(self._subscriber, backoff, tried, self._subscribe, self._receive)

    async def _publish(self, conn: RedisConnection) -> None:
        try:
            while True:
                if self._outbox or self._unread:
                    await self._write(conn)
                    continue
                self._wake = wake = trio.Event()
                self._direct = conn  # idle: the next broadcast may write at once
                try:
                    with trio.move_on_after(self._ping_interval):
                        await wake.wait()
                finally:
                    self._direct = None
                if not (self._outbox or self._unread):  # still idle: is the link alive?
                    with trio.fail_after(self._ping_interval):
                        await conn.command(b"PING")
        except trio.Cancelled:
            await self._flush_on_exit(conn)
            raise
        except CONNECTION_ERRORS:
            # What was queued behind the broken connection cannot be sent.
            self._drop(len(self._outbox) + self._unread)
            self._outbox, self._pending_bytes, self._unread, self._unsent = [], 0, 0, b""
            raise

    async def _write(self, conn: RedisConnection) -> None:
        """Finish a broadcaster's direct write, write the outbox as one batch, and read
        every reply."""
        unsent, self._unsent = self._unsent, b""
        batch, self._outbox, self._pending_bytes = self._outbox, [], 0
        replies, self._unread = self._unread + len(batch), 0
        data = unsent + b"".join(pack_command(b"PUBLISH", ch, frame) for ch, frame in batch)
        try:
            # A batch is written whole or not at all: cancelling half-way would leave a
            # partial command on the connection, and lose what the batch held. Shielded,
            # but bounded: a shutdown waits for one batch at most ``ping_interval``.
            with trio.CancelScope(shield=True), trio.fail_after(self._ping_interval):
                if data:
                    await conn.send(data)
                for _ in range(replies):
                    await conn.read_reply()
        except BaseException:
            self._drop(replies)
            raise
        self._published += replies
        self._lossy = False

    async def _flush_on_exit(self, conn: RedisConnection) -> None:
        """On shutdown (cancelled), still send what is queued: a node's last words (its
        goodbye heartbeat) then reach the others."""
        if self._outbox or self._unread:
            with suppress(*CONNECTION_ERRORS):
                await self._write(conn)

    async def _subscribe(self) -> RedisConnection:
        conn = await RedisConnection.open(self.address, timeout=self._connect_timeout)
        try:
            with trio.fail_after(self._connect_timeout):
                channels = (self._broadcast_channel, self.channel(self._node))
                await conn.send(pack_command(b"SUBSCRIBE", *channels))
                confirmed = 0
                while confirmed < len(channels):
                    reply = await conn.read_reply()
                    if type(reply) is list and reply and reply[0] == b"subscribe":
                        confirmed += 1
        except BaseException:
            await conn.aclose()
            raise
        return conn

    async def _receive(self, conn: RedisConnection) -> None:
        pinged = False
        while True:
            replies = None
            with trio.move_on_after(self._ping_interval):
                replies = await conn.read_replies()
            if replies is None:
                if pinged:
                    raise RedisError(f"no answer to PING in {2 * self._ping_interval} s")
                await conn.send(pack_command(b"PING"))
                pinged = True
                continue
            pinged = False
            for reply in replies:
                if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
                    self._deliver(reply[1], reply[2])

    def _deliver(self, channel: bytes, data: bytes) -> None:
        try:
            node, topic, message, dispatcher = decode_frame(data)
        except CodecError as exc:
            self._bad_frames += 1
            log.warning("redis_bad_frame", error=str(exc), frame=data[:200])
            return
        if node == self._node and channel == self._broadcast_channel:
            return  # our own broadcast: dispatched locally when it was made
        self._received += 1
        assert self._pubsub is not None
        try:
            local_broadcast(self._pubsub, topic, message, dispatcher=dispatcher)
        except Exception as exc:
            # An unknown dispatcher name, a crashing dispatcher, the pubsub stopping: this
            # message is lost, the next ones are not.
            log.error("redis_dispatch_failed", topic=topic, dispatcher=dispatcher, exc_info=exc)
