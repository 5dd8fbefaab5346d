"""The ``scale`` suite's client process: many Phoenix sockets that count numbered broadcasts,
and rejoin or reconnect when the server kills their channel or their connection.

Started by ``scale_trouper.py`` as ``_client <index> <count> <port> <broadcasts>
<connect_timeout_s>``. It is ``websocket_trouper``'s client (raw WebSocket and Phoenix V2
JSON over non-blocking sockets, one ``epoll`` for all of them, source address
``127.0.0.(10 + index)``, a heartbeat on every socket every 30 s, here spread over the
30 s), with what the scale runs add:

* *slots*. Slot ``i`` is one logical client; its socket is replaced when the server closes
  it. Per slot: how many times each numbered broadcast (``new_msg`` with ``{"seq": k}``,
  ``k`` in ``1..broadcasts``) arrived, when it first arrived, whether the slot is joined now,
  and whether it was *touched* (its channel crashed or its socket was closed).
* *rejoin*: on ``phx_error`` for ``rooms:lobby`` the slot sends a new ``phx_join`` (a new
  join_ref) on the same socket, as phoenix.js does.
* *reconnect*: when the server closes the socket (EOF, reset, a close frame) the slot
  connects, upgrades and joins again on a new socket (a few attempts, short backoff).

Commands on stdin, answers as JSON lines on stdout: ``connect`` (then ``progress`` every
second and ``joined`` at the end; later ``complete`` once every slot has broadcast ``k``),
``status`` (slots joined and never touched, heartbeats sent), ``report <timeout_s>
<arrivals 0|1>`` (waits until every slot is joined and every untouched slot has
every broadcast, or the timeout, then sends the tally, the counters and, if asked, the
first-arrival times), ``quit``.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import re
import select
import socket
import time
from typing import Any

import attrs
import trio

from _scale import tally
from websocket_trouper import (
    HEARTBEAT_S,
    TOPIC,
    Client,
    ClientError,
    Commands,
    FrameReader,
    mask_frame,
    raise_nofile_limit,
    send_line,
)

SEQ = re.compile(rb'"seq":\s*(\d+)')
NODE = re.compile(rb'"node":\s*(\d+)')
RECONNECT_ATTEMPTS = 5
RECONNECT_BACKOFF_S = 0.05  # doubled per failed attempt
DIAL_TIMEOUT_S = 10.0
PROGRESS_S = 1.0
MAX_EVENTS = 4096
CONCURRENCY = 50  # handshakes in flight per client process
HEARTBEAT_TICK_S = 1.0


def node_of(join_reply: bytes) -> int:
    """The server node a join reply came from (the scale nodes' Lobby says), or -1."""
    match = NODE.search(join_reply)
    return int(match.group(1)) if match else -1


class ScaleClient(Client):
    """One client process's slots (see the module docstring)."""

    # Fewer handshakes in flight than the websocket suite's 200: with 7 client processes on
    # 2 cores, 1,400 at once made some wait longer than the 30 s a handshake may take.
    concurrency = CONCURRENCY

    def __init__(
        self, index: int, count: int, port: int, broadcasts: int, connect_timeout: float
    ) -> None:
        super().__init__(index, count, port)
        self.broadcasts = broadcasts
        self.connect_timeout = connect_timeout
        self.epoll = select.epoll()
        self.fd_slot: dict[int, int] = {}
        # Per slot, filled once the connect phase is over.
        self.joined = bytearray()
        self.live = bytearray()  # the slot's current socket is open (not being replaced)
        self.touched = bytearray()
        self.got = array.array("i")  # distinct broadcasts received
        self.counts: list[bytearray] = []  # [slot][seq - 1], saturating at 255
        self.join_refs = array.array("i")
        self.touched_at = array.array("d")
        # Per broadcast: the first arrival on each slot (nan: not yet).
        self.first: list[array.array[float]] = []
        self.received: list[int] = []
        self.node_of = array.array("b")  # per slot: the server node its socket is on
        self.heartbeats_sent = 0
        self.phx_errors = 0
        self.disconnects = 0
        self.rejoin_s: list[float] = []
        self.unexpected: dict[str, int] = {}
        self.nursery: trio.Nursery | None = None

    # -- connecting ---------------------------------------------------------------------------

    async def connect_slots(self) -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._progress)
            joined = await self.connect_all(self.connect_timeout)
            nursery.cancel_scope.cancel()
        slots = len(self.socks)
        self.joined = bytearray(b"\x01" * slots)
        self.live = bytearray(b"\x01" * slots)
        self.touched = bytearray(slots)
        self.got = array.array("i", bytes(4 * slots))
        self.counts = [bytearray(self.broadcasts) for _ in range(slots)]
        self.join_refs = array.array("i", [1] * slots)
        self.touched_at = array.array("d", [math.nan] * slots)
        self.first = [array.array("d", [math.nan] * slots) for _ in range(self.broadcasts)]
        self.received = [0] * self.broadcasts  # slots that have each broadcast
        for i, sock in enumerate(self.socks):
            self._register(i, sock)
        return {**joined, "heartbeats": self.heartbeats_sent}

    async def _progress(self) -> None:
        while True:
            await trio.sleep(PROGRESS_S)
            failed = sum(self.errors.values())
            send_line({"event": "progress", "joined": len(self.socks), "failed": failed})

    def _register(self, i: int, sock: socket.socket) -> None:
        self.fd_slot[sock.fileno()] = i
        self.epoll.register(sock.fileno(), select.EPOLLIN)

    async def open_one(self) -> None:
        sock, reader, reply = await self.dial()
        self.socks.append(sock)
        self.readers.append(reader)
        self.node_of.append(node_of(reply))

    async def heartbeats(self) -> None:
        """A heartbeat on every socket every 30 s, spread evenly over the 30 s (one slice
        of the sockets a second), as phoenix.js clients each run their own timer: all at
        once would stall the servers every 30 s."""
        slices = round(HEARTBEAT_S / HEARTBEAT_TICK_S)
        for tick in range(1 << 62):
            await trio.sleep(HEARTBEAT_TICK_S)
            for sock in self.socks[tick % slices :: slices]:
                with contextlib.suppress(OSError):  # a full buffer, or being replaced
                    sock.send(self.heartbeat_frame)
                self.heartbeats_sent += 1

    # -- after the join -----------------------------------------------------------------------

    async def watch(self) -> None:
        """Read every slot's socket through one epoll: count broadcasts, rejoin, reconnect."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            epoll = self.epoll
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, _ in epoll.poll(0, MAX_EVENTS):
                    i = self.fd_slot.get(fd)
                    if i is None:
                        continue
                    try:
                        data = self.socks[i].recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._lost(i, time.monotonic())
                        continue
                    reader = self.readers[i]
                    reader.feed(data)
                    self._frames(i, reader, time.monotonic())

    def _frames(self, i: int, reader: FrameReader, now: float) -> None:
        for opcode, payload in reader.frames():
            if not self.live[i]:
                return  # lost while reading these frames: the rest went with the socket
            if opcode == 0x8:  # close frame: the server ends this socket
                self._lost(i, now)
                return
            if b'"new_msg"' in payload:
                self._broadcast(i, payload, now)
            elif b'"phx_error"' in payload:
                self.phx_errors += 1
                self._touch(i, now)
                self._rejoin(i, now)
            elif b'"phx_reply"' in payload:
                self._reply(i, payload, now)
            else:
                self._unexpected(payload[:60].decode(errors="replace"))

    def _broadcast(self, i: int, payload: bytes, now: float) -> None:
        match = SEQ.search(payload)
        seq = int(match.group(1)) if match else 0
        if not 1 <= seq <= self.broadcasts:
            self._unexpected(f"broadcast seq {seq}")
            return
        counts = self.counts[i]
        count = counts[seq - 1]
        if count == 0:
            self.first[seq - 1][i] = now
            self.got[i] += 1
            self.received[seq - 1] += 1
            if self.received[seq - 1] == len(self.socks):
                send_line({"event": "complete", "seq": seq})
        if count < 255:
            counts[seq - 1] = count + 1

    def _reply(self, i: int, payload: bytes, now: float) -> None:
        if b'"hb"' in payload:
            return  # a heartbeat's reply
        join_ref, _, topic, _, body = json.loads(payload)
        if topic != TOPIC:
            return  # a heartbeat's reply
        if join_ref != str(self.join_refs[i]) or body.get("status") != "ok":
            self._unexpected(f"join reply {payload[:80]!r}")
            return
        self.joined[i] = 1
        self.rejoin_s.append(now - self.touched_at[i])

    def _touch(self, i: int, now: float) -> None:
        self.touched[i] = 1
        self.joined[i] = 0
        self.touched_at[i] = now

    def _join_frame(self, i: int) -> bytes:
        self.join_refs[i] += 1
        ref = str(self.join_refs[i])
        return mask_frame(json.dumps([ref, ref, TOPIC, "phx_join", {}]).encode())

    def _rejoin(self, i: int, now: float) -> None:
        frame = self._join_frame(i)
        try:
            sent = self.socks[i].send(frame)
        except OSError:
            sent = 0
        if sent != len(frame):  # a fresh, tiny frame: only a dead socket refuses it
            self._lost(i, now)

    def _lost(self, i: int, now: float) -> None:
        """The server closed slot ``i``'s socket: reconnect it (a task of its own)."""
        self.disconnects += 1
        self._touch(i, now)
        self.live[i] = 0
        sock = self.socks[i]
        with contextlib.suppress(KeyError, OSError, ValueError):
            del self.fd_slot[sock.fileno()]
            self.epoll.unregister(sock.fileno())
        sock.close()
        assert self.nursery is not None
        self.nursery.start_soon(self._reconnect, i)

    async def _reconnect(self, i: int) -> None:
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                with trio.fail_after(DIAL_TIMEOUT_S):
                    sock, reader, reply = await self.dial(self._join_frame(i))
            except (OSError, ClientError, trio.TooSlowError) as exc:
                self.disconnects += 1  # counted like a loss once joined: the server did it
                self._unexpected(f"reconnect: {type(exc).__name__}: {exc}"[:100])
                await trio.sleep(RECONNECT_BACKOFF_S * 2**attempt)
                continue
            now = time.monotonic()
            self.socks[i], self.readers[i] = sock, reader
            self.node_of[i] = node_of(reply)
            self.joined[i] = self.live[i] = 1
            self.rejoin_s.append(now - self.touched_at[i])
            self._register(i, sock)
            self._frames(i, reader, now)  # whatever arrived right behind the join reply
            return
        self._unexpected("gave up reconnecting")

    def _unexpected(self, what: str) -> None:
        self.unexpected[what] = self.unexpected.get(what, 0) + 1

    # -- reports ------------------------------------------------------------------------------

    def held(self) -> int:
        """Slots joined on their first socket, never touched."""
        return sum(1 for j, t in zip(self.joined, self.touched, strict=True) if j and not t)

    def settled(self) -> bool:
        """Every slot joined, and every untouched slot has every broadcast."""
        everything = self.broadcasts
        return all(self.joined) and all(
            t or g == everything for t, g in zip(self.touched, self.got, strict=True)
        )

    async def send_report(self, timeout: float, arrivals: bool) -> None:
        with trio.move_on_after(timeout):
            # Polled: the condition changes on every frame, too often to signal each change.
            while not self.settled():  # noqa: ASYNC110
                await trio.sleep(0.05)
        slots = zip(self.touched, self.joined, self.counts, strict=True)
        record: dict[str, Any] = {
            "event": "report",
            "settled": self.settled(),
            "tally": attrs.asdict(tally((bool(t), bool(j), c) for t, j, c in slots)),
            "phx_errors": self.phx_errors,
            "disconnects": self.disconnects,
            "rejoin_s": self.rejoin_s,
            "unexpected": self.unexpected,
        }
        if arrivals:  # per broadcast, per slot (NaN: never arrived)
            record["arrivals"] = [first.tolist() for first in self.first]
            record["nodes"] = self.node_of.tolist()
        send_line(record)


def client_main(index: int, count: int, port: int, broadcasts: int, timeout: float) -> int:
    raise_nofile_limit()
    client = ScaleClient(index, count, port, broadcasts, timeout)

    async def main() -> None:
        command = Commands().next
        send_line({"event": "ready"})
        if await command() != "connect":
            return
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.heartbeats)  # from the start: the idle timeout is 60 s
                send_line(await client.connect_slots())
                nursery.start_soon(client.watch)
                while (cmd := (await command()).split())[:1] != ["quit"]:
                    if cmd[:1] == ["status"]:
                        send_line(
                            {
                                "event": "status",
                                "held": client.held(),
                                "heartbeats": client.heartbeats_sent,
                            }
                        )
                    elif cmd[:1] == ["report"]:
                        nursery.start_soon(client.send_report, float(cmd[1]), cmd[2] == "1")
                nursery.cancel_scope.cancel()
        finally:
            client.close()

    trio.run(main)
    return 0
