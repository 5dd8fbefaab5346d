"""trouper's side of the ``websocket`` benchmark suite: real WebSockets against a trouper endpoint.

Usage (one measurement per invocation; ``benchmarks/run.py`` appends ``<bench> <n>``)::

    PYTHONPATH=src .venv/bin/python benchmarks/websocket_trouper.py connections 15000
    PYTHONPATH=src .venv/bin/python benchmarks/websocket_trouper.py broadcast 15000
    .venv/bin/python benchmarks/run.py --suite websocket             # n=15,000, 3 repeats
    .venv/bin/python benchmarks/run.py --suite websocket --sizes 100 --out -

Prints one JSON line per metric on stdout (the protocol of ``benchmarks/run.py``); diagnostics
go to stderr. Needs only loopback: everything runs on this machine.

Shape
-----
Three kinds of OS process, all started from this file:

* the *driver* (``<bench> <n>``): starts the others with ``subprocess``, talks to each over
  its stdin/stdout (one JSON object per line), reads the server's ``/proc/<pid>/status``,
  prints the metrics and tears everything down (clients first, then the server; whatever is
  still alive after a grace period is killed, and a child whose stdin closes exits, so a
  dead driver takes its children with it).
* one *server* (``_server``): a trouper node running the chat-like app of the 2015 Phoenix
  benchmark: a ``Socket`` that accepts everyone, a reactive ``Channel`` for
  ``"rooms:lobby"`` whose ``join`` returns ``{}`` and does nothing else, a ``PubSub`` with one
  shard, and ``start_endpoint`` on 127.0.0.1, port 0. One extra HTTP route, ``/broadcast``,
  broadcasts ``new_msg`` to ``rooms:lobby`` (through the channels' fastlane, as a channel's
  ``broadcast`` does) and answers with the ``time.monotonic()`` before and after the call.
  One node holds every connection, so ``n`` is at most 19,000 (20,000 open files per
  process).
* ``K = max(2, ceil(n / 7,500))`` *clients* (``_client <index> <count> <port>``; fewer when
  ``n < 2``), each a trio program speaking raw WebSocket and the Phoenix V2 JSON protocol
  (``vsn=2.0.0``) over plain non-blocking sockets: no WebSocket library, so the client costs
  little of the two cores the server shares with it. Client ``k`` binds the source address
  ``127.0.0.(10 + k)``. On ``connect`` it opens its ``count`` sockets with
  ``CONCURRENCY`` handshakes in flight: TCP connect, HTTP upgrade (waits for the 101),
  ``phx_join`` of ``rooms:lobby`` (waits for the ok reply). Then one task watches all its
  sockets through its own ``epoll`` object (itself waited on by trio) and records the
  ``time.monotonic()`` at which the ``new_msg`` frame arrived on each; another, started
  with the connect phase, sends a heartbeat on every joined socket every 30 s (the
  server closes a socket after 60 s without a frame). ``time.monotonic()`` is
  ``CLOCK_MONOTONIC``, one clock for every process on the machine, so the driver compares
  the clients' timestamps with its own.

Benches
-------
``connections n``
    The clients connect and join ``n`` sockets in all, started together. ``connect_rate``:
    ``n`` over the time from the earliest client start to the last join reply (connection
    plus join per second). ``server_bytes_per_connection``: the server's VmRSS once all are
    joined minus its VmRSS before the first connection, over ``n`` (kernel socket buffers are
    not in VmRSS). Extra: ``server_cpu_us_per_connection`` (the server's user + system CPU
    over the connect phase, per connection: when it is close to the wall time per
    connection, the server is the bottleneck).
``broadcast n``
    ``n`` sockets joined as above (not timed); the driver takes ``time.monotonic()`` and
    sends ``GET /broadcast``; ``broadcast_s``: until the last client socket got the frame;
    ``broadcast_p50_s`` / ``broadcast_p99_s``: percentiles of the per-socket latencies.
    Extra: ``broadcast_server_s``, the time the server spent inside ``pubsub.broadcast``
    (encoding the frame once and writing it to every socket).

Time limits: the server and the clients must be up within 30 s, a client gives up connecting
after 120 s (failed connections fail the run), the broadcast must arrive everywhere within
20 s; the runner's ``--timeout`` (180 s) bounds the whole run.

Profiling: ``WS_BENCH_PROFILE=<file>`` runs the server under cProfile (CPU time) and dumps
its stats there on exit (the numbers are then not representative); a sampling profiler can
attach to the server instead: ``py-spy record --pid $(pgrep -f 'websocket_trouper.py _server')``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import queue
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import structlog
import trio

import trouper
from _driver import Emit, make_emit, percentile, rss_bytes
from trouper import pubsub
from trouper.channels import (
    Broadcast,
    Channel,
    Endpoint,
    HttpRequest,
    HttpResponse,
    Socket,
    dispatcher,
    start_endpoint,
)
from trouper.pubsub import PubSub

IMPL = os.environ.get("WS_BENCH_IMPL", "trouper")  # "trouper-task" in the transports suite
TOPIC = "rooms:lobby"
PUBSUB = "chat"
SHARDS = 1
PER_CLIENT = 7_500  # sockets per client process (open-files limit: 20,000 per process)
MAX_N = 19_000  # one server node holds them all
CONCURRENCY = 200  # handshakes in flight per client process
HEARTBEAT_S = 30.0
SERVER_HOST = "127.0.0.1"
WS_PATH = "/socket/websocket?vsn=2.0.0"
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key; the server does not care
WS_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # its Sec-WebSocket-Accept
IP_BIND_ADDRESS_NO_PORT = 24  # Linux: pick the source port at connect time (by 4-tuple)

# Driver time limits (the runner's --timeout, 180 s by default, bounds the whole run).
START_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 120.0  # a client gives up connecting after this
BROADCAST_TIMEOUT_S = 20.0
STOP_GRACE_S = 15.0


def diag(message: str) -> None:
    print(f"[websocket_trouper] {message}", file=sys.stderr, flush=True)


def send_line(record: dict[str, Any]) -> None:
    """A child's message to the driver: one JSON object per line on stdout."""
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- server ------------------------------------------------------------------------------


class Lobby(Channel):
    """The 2015 benchmark's room channel: joining ``rooms:lobby`` is all it does."""

    def join(self, topic: str, payload: Any) -> Any:
        return {}


class ChatSocket(Socket):
    channels = ((TOPIC, Lobby),)

    def connect(self, params: Any, connect_info: Any) -> Any:
        return {}  # everyone is welcome


def broadcast_route(
    via: Any = dispatcher, then: Callable[[], Awaitable[None]] | None = None
) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    """``GET /broadcast``: ``new_msg`` to every member of the lobby through the pubsub
    dispatcher ``via`` (the channels' fastlane by default), timed (``then``, if given, is
    awaited after the broadcast and timed with it)."""

    async def route(request: HttpRequest) -> HttpResponse:
        message = Broadcast(TOPIC, "new_msg", {"user": "bench", "body": "hello everyone"})
        t0 = time.monotonic()
        pubsub.broadcast(PUBSUB, TOPIC, message, dispatcher=via)
        if then is not None:
            await then()
        t1 = time.monotonic()
        return HttpResponse(200, json.dumps({"t0": t0, "t1": t1}).encode(), "application/json")

    return route


async def start_chat_server(host: str = SERVER_HOST, port: int = 0) -> int:
    """Start the pubsub and the endpoint in the current node; return the bound port."""
    await PubSub.start_link(PUBSUB, shards=SHARDS)
    endpoint = Endpoint(
        ChatSocket,
        pubsub=PUBSUB,
        routes={"/broadcast": broadcast_route()},
        # "auto" (reactive connection processes: the Lobby is plain def) or "task"
        transport=os.environ.get("WS_BENCH_TRANSPORT", "auto"),  # type: ignore[arg-type]
    )
    _, bound = await start_endpoint(endpoint, host, port)
    return bound


async def start_endpoint_server() -> dict[str, int]:
    return {"port": await start_chat_server()}


def server_main(start: Callable[[], Awaitable[dict[str, int]]] = start_endpoint_server) -> int:
    """``_server``: start a chat server; print its ports; run until stdin closes.

    ``start`` starts the server in the node and returns ``{"port": ...}`` (plus
    ``"http_port"`` when ``GET /broadcast`` has a port of its own).
    """

    async def serve() -> None:
        ports = await start()
        send_line({"event": "listening", **ports, "pid": os.getpid()})
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():
            pass  # the driver says nothing to the server; EOF means stop

    raise_nofile_limit()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    profile_to = os.environ.get("WS_BENCH_PROFILE")
    if not profile_to:
        trouper.run(serve)
        return 0
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU time: waits do not count
    profiler.enable()
    try:
        trouper.run(serve)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)
    return 0


# --- client ------------------------------------------------------------------------------


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client-to-server frame (masked, as RFC 6455 requires)."""
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + key + masked


class FrameReader:
    """Server-to-client frames (unmasked) out of a byte stream."""

    __slots__ = ("buffer",)

    def __init__(self, data: bytes = b"") -> None:
        self.buffer = bytearray(data)

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Complete frames so far, as (opcode, payload); fragments are not reassembled."""
        buf = self.buffer
        while len(buf) >= 2:
            length = buf[1] & 0x7F
            start = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + length:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            yield opcode, payload


class ClientError(Exception):
    pass


class Commands:
    """The driver's commands to a child process: one per line on stdin."""

    def __init__(self) -> None:
        self.stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        self.pending = b""

    async def next(self) -> str:
        """The next command; ``"quit"`` once stdin is closed (the driver is gone)."""
        while b"\n" not in self.pending:
            chunk = await self.stdin.receive_some()
            if not chunk:
                return "quit"
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode().strip()


class Client:
    """One client process's sockets (see the module docstring)."""

    concurrency = CONCURRENCY

    def __init__(self, index: int, count: int, port: int) -> None:
        self.source = f"127.0.0.{10 + index}"
        self.count = count
        self.port = port
        self.request = (
            f"GET {WS_PATH} HTTP/1.1\r\nHost: {SERVER_HOST}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {WS_KEY.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        join = json.dumps(["1", "1", TOPIC, "phx_join", {}], separators=(",", ":"))
        self.join_frame = mask_frame(join.encode())
        heartbeat = json.dumps([None, "hb", "phoenix", "heartbeat", {}], separators=(",", ":"))
        self.heartbeat_frame = mask_frame(heartbeat.encode())
        self.socks: list[socket.socket] = []
        self.readers: list[FrameReader] = []
        self.errors: dict[str, int] = {}
        self.arrivals: list[float | None] = []
        self.reported = False

    # -- connecting -------------------------------------------------------------------------

    async def open_one(self) -> None:
        sock, reader, _ = await self.dial()
        self.socks.append(sock)
        self.readers.append(reader)

    async def dial(
        self, join_frame: bytes | None = None
    ) -> tuple[socket.socket, FrameReader, bytes]:
        """Connect, upgrade and join (``join_frame``: this client's first join by default);
        return the joined socket, its reader (holding whatever followed the reply) and the
        join reply."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((self.source, 0))
            sock.setblocking(False)
            err = sock.connect_ex((SERVER_HOST, self.port))
            if err == errno.EINPROGRESS:
                await trio.lowlevel.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            if sock.send(self.request) != len(self.request):
                raise ClientError("short write of the upgrade request")
            head = b""
            while b"\r\n\r\n" not in head:
                head += await self.recv(sock)
            head, _, rest = head.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101") or WS_ACCEPT not in head:
                raise ClientError(f"upgrade refused: {head[:60]!r}")
            join_frame = self.join_frame if join_frame is None else join_frame
            if sock.send(join_frame) != len(join_frame):
                raise ClientError("short write of the join")
            reader = FrameReader(rest)
            while True:
                for opcode, payload in reader.frames():
                    if opcode == 0x8:
                        raise ClientError("closed by the server")
                    if b'"phx_reply"' in payload:
                        if b'"status":"ok"' not in payload:
                            raise ClientError(f"join refused: {payload[:80]!r}")
                        return sock, reader, payload
                reader.feed(await self.recv(sock))
        except BaseException:
            sock.close()
            raise

    @staticmethod
    async def recv(sock: socket.socket) -> bytes:
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                raise ClientError("connection closed by the server")
            return data

    async def connect_all(self, timeout: float = CONNECT_TIMEOUT_S) -> dict[str, Any]:
        started = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = usage.ru_utime + usage.ru_stime
        todo = iter(range(self.count))

        async def worker() -> None:
            for _ in todo:
                try:
                    with trio.fail_after(30):
                        await self.open_one()
                except (OSError, ClientError, trio.TooSlowError) as exc:
                    key = f"{type(exc).__name__}: {exc}"[:120]
                    self.errors[key] = self.errors.get(key, 0) + 1

        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                for _ in range(min(self.concurrency, self.count)):
                    nursery.start_soon(worker)
        finished = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.arrivals = [None] * len(self.socks)
        return {
            "event": "joined",
            "ok": len(self.socks),
            "failed": self.count - len(self.socks),
            "errors": self.errors,
            "t_start": started,
            "t_end": finished,
            "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
        }

    # -- after the join ---------------------------------------------------------------------

    async def watch(self) -> None:
        """Record when the broadcast arrives on each socket (one epoll for all of them)."""
        fd_index = {sock.fileno(): i for i, sock in enumerate(self.socks)}
        waiting = len(self.socks)
        with select.epoll() as ep:
            for fd in fd_index:
                ep.register(fd, select.EPOLLIN)
            while fd_index:
                await trio.lowlevel.wait_readable(ep.fileno())
                for fd, _ in ep.poll(0, 4096):
                    i = fd_index[fd]
                    try:
                        data = self.socks[i].recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    now = time.monotonic()
                    if not data:  # closed by the server: counts as missing
                        ep.unregister(fd)
                        del fd_index[fd]
                        continue
                    reader = self.readers[i]
                    reader.feed(data)
                    for _, payload in reader.frames():
                        if self.arrivals[i] is None and b'"new_msg"' in payload:
                            self.arrivals[i] = now
                            waiting -= 1
                            if waiting == 0:
                                self.report()

    async def heartbeats(self) -> None:
        """A heartbeat on every joined socket every 30 s (replies are read by ``watch``)."""
        while True:
            await trio.sleep(HEARTBEAT_S)
            for sock in list(self.socks):
                with contextlib.suppress(OSError):  # a full buffer or a dead socket
                    sock.send(self.heartbeat_frame)

    def report(self) -> None:
        if self.reported:
            return
        self.reported = True
        got = [t for t in self.arrivals if t is not None]
        send_line({"event": "received", "arrivals": got, "missing": len(self.arrivals) - len(got)})

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks = []


def client_main(index: int, count: int, port: int) -> int:
    """``_client <index> <count> <port>``: commands on stdin: connect, report, quit."""
    raise_nofile_limit()
    client = Client(index, count, port)

    async def main() -> None:
        command = Commands().next
        send_line({"event": "ready"})
        if await command() != "connect":
            return
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.heartbeats)  # from the start: the idle timeout is 60 s
                send_line(await client.connect_all())
                nursery.start_soon(client.watch)
                while (cmd := await command()) != "quit":
                    if cmd == "report":
                        client.report()
                nursery.cancel_scope.cancel()
        finally:
            client.close()

    trio.run(main)
    return 0


# --- driver ------------------------------------------------------------------------------


class BenchError(Exception):
    pass


class Child:
    """A child process of the driver, with its JSON-lines stdout read by a thread."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if isinstance(record, dict):
                    self.lines.put(record)
        self.lines.put(None)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise BenchError(f"{self.name} is gone (exit {self.proc.poll()})") from exc

    def expect(self, event: str, deadline: float) -> dict[str, Any]:
        """The next line with this ``event``, before ``deadline`` (time.monotonic())."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.name}: no {event!r} in time")
            try:
                record = self.lines.get(timeout=left)
            except queue.Empty:
                raise BenchError(f"{self.name}: no {event!r} in time") from None
            if record is None:
                code = self.proc.wait()
                raise BenchError(f"{self.name} exited ({code}) before {event!r}")
            if record.get("event") == event:
                return record

    def stop(self, grace: float) -> None:
        """Close stdin (the child's signal to finish), wait, then kill."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            diag(f"{self.name} did not exit within {grace:g} s: killed")
            self.proc.kill()
            self.proc.wait()


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def http_get(port: int, path: str, timeout: float) -> bytes:
    """One plain HTTP/1.1 GET to the server; the body (the server closes the connection)."""
    with socket.create_connection((SERVER_HOST, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {SERVER_HOST}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise BenchError(f"GET {path}: {head[:80]!r}")
    return body


def split(n: int) -> list[int]:
    clients = min(n, max(2, math.ceil(n / PER_CLIENT)))
    return [n // clients + (1 if k < n % clients else 0) for k in range(clients)]


def run_bench(bench: str, n: int, server_argv: list[str], emit: Emit) -> None:
    """Measure ``bench`` at ``n`` against the server that ``server_argv`` starts.

    The server prints ``{"event": "listening", "port": ..., "pid": ...}`` (and
    ``"http_port"`` if ``GET /broadcast`` is served on another port than the socket),
    then runs until its stdin closes.
    """
    me = [sys.executable, os.path.abspath(__file__)]
    children: list[Child] = []
    try:
        server = Child("server", server_argv)
        children.append(server)
        listening = server.expect("listening", time.monotonic() + START_TIMEOUT_S)
        port, server_pid = int(listening["port"]), int(listening["pid"])
        http_port = int(listening.get("http_port", port))
        clients = [
            Child(f"client {k}", [*me, "_client", str(k), str(count), str(port)])
            for k, count in enumerate(split(n))
        ]
        children.extend(clients)
        deadline = time.monotonic() + START_TIMEOUT_S
        for client in clients:
            client.expect("ready", deadline)

        rss_before, cpu_before = rss_bytes(server_pid), proc_cpu_s(server_pid)
        for client in clients:
            client.send("connect")
        deadline = time.monotonic() + CONNECT_TIMEOUT_S + 30
        joined = [client.expect("joined", deadline) for client in clients]
        cpu_after, rss_after = proc_cpu_s(server_pid), rss_bytes(server_pid)
        user_s, system_s = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
        failed = sum(j["failed"] for j in joined)
        if failed:
            errors: dict[str, int] = {}
            for j in joined:
                for key, count in j["errors"].items():
                    errors[key] = errors.get(key, 0) + count
            raise BenchError(f"{failed} of {n} connections failed: {errors}")
        elapsed = max(j["t_end"] for j in joined) - min(j["t_start"] for j in joined)
        diag(
            f"{n} joined in {elapsed:.3f} s over {len(clients)} clients; server CPU "
            f"{user_s:.2f} s user + {system_s:.2f} s system, clients CPU "
            + ", ".join(f"{j['cpu_s']:.2f} s" for j in joined)
            + f"; server RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB"
        )
        if bench == "connections":
            emit(bench, n, "connect_rate", n / elapsed, "1/s")
            emit(bench, n, "server_bytes_per_connection", (rss_after - rss_before) / n, "B")
            per_conn_us = (user_s + system_s) / n * 1e6
            emit(bench, n, "server_cpu_us_per_connection", per_conn_us, "us")
        else:
            broadcast(n, http_port, clients, emit)

        for client in clients:
            client.send("quit")
    finally:
        for child in reversed(children):  # clients first, then the server
            child.stop(STOP_GRACE_S)


def broadcast(n: int, port: int, clients: list[Child], emit: Emit) -> None:
    time.sleep(0.2)  # let the clients' watchers start
    t_trigger = time.monotonic()
    server_times = json.loads(http_get(port, "/broadcast", BROADCAST_TIMEOUT_S))
    deadline = t_trigger + BROADCAST_TIMEOUT_S
    arrivals: list[float] = []
    missing = 0
    for client in clients:
        try:
            received = client.expect("received", deadline)
        except BenchError:
            client.send("report")
            received = client.expect("received", time.monotonic() + 5)
        arrivals.extend(received["arrivals"])
        missing += received["missing"]
    if missing:
        raise BenchError(f"{missing} of {n} sockets never got the broadcast")
    latencies = sorted(t - t_trigger for t in arrivals)
    emit("broadcast", n, "broadcast_s", latencies[-1], "s")
    emit("broadcast", n, "broadcast_p50_s", percentile(latencies, 0.50), "s")
    emit("broadcast", n, "broadcast_p99_s", percentile(latencies, 0.99), "s")
    server_s = server_times["t1"] - server_times["t0"]
    emit("broadcast", n, "broadcast_server_s", server_s, "s")
    diag(
        f"broadcast: trigger -> server start {server_times['t0'] - t_trigger:.4f} s, "
        f"in pubsub.broadcast {server_s:.4f} s, first arrival {latencies[0]:.4f} s, "
        f"last {latencies[-1]:.4f} s"
    )


BENCHES = ("connections", "broadcast")


def drive(argv: list[str], server_argv: list[str], emit: Emit) -> int:
    """The driver's command line (``<bench> <n>``), against the server ``server_argv`` starts."""
    if len(argv) != 3 or argv[1] not in BENCHES:
        print(f"usage: {argv[0]} {{{'|'.join(BENCHES)}}} <n>", file=sys.stderr)
        return 2
    n = int(argv[2])
    if not 1 <= n <= MAX_N:
        print(f"n must be within 1..{MAX_N} (one server node holds them all)", file=sys.stderr)
        return 2
    try:
        run_bench(argv[1], n, server_argv, emit)
    except BenchError as exc:
        diag(f"FAILED: {exc}")
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "_server":
        return server_main()
    if len(argv) == 5 and argv[1] == "_client":
        return client_main(int(argv[2]), int(argv[3]), int(argv[4]))
    return drive(argv, [sys.executable, os.path.abspath(__file__), "_server"], make_emit(IMPL))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
