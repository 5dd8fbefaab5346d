"""A connection's outbound bytes: written at once when the socket takes them, queued if not.

``write`` is synchronous and never waits: it tries a non-blocking ``send`` first (so a
broadcast to 15,000 sockets is 15,000 system calls, no task switch each), and only if the
kernel buffer is full does it queue the rest and start a writer task. A client that stops
reading fills its queue; past ``max_queued`` bytes it is a *slow consumer*: the queue is
dropped and ``on_overflow`` is called (the connection closes it). A broadcast never waits
for anyone.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable

import trio

DEFAULT_MAX_QUEUED = 1 << 20  # bytes a client may fall behind before it is disconnected


class Outbound:
    """Bytes on their way to one socket."""

    __slots__ = (
        "_max",
        "_on_overflow",
        "_queue",
        "_queued",
        "_sock",
        "_writing",
        "closed",
    )

    def __init__(
        self,
        sock: socket.socket,
        on_overflow: Callable[[], None],
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self._sock = sock
        self._queue: deque[bytes] | None = None
        self._queued = 0
        self._max = max_queued
        self._writing = False
        self._on_overflow = on_overflow
        self.closed = False

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def write(self, data: bytes) -> None:
        """Send ``data`` now if the socket takes it, else queue it. Never blocks."""
        if self.closed:
            return
        if self._queue is None:
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.closed = True
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._queue = deque()
        self._queue.append(data)
        self._queued += len(data)
        if self._queued > self._max:
            self.closed = True
            self._queue = None
            self._on_overflow()
            return
        if not self._writing:
            self._writing = True
            # A system task, not one in a nursery of the connection's: only a client that
            # fell behind needs a writer, and a nursery per connection costs every one ~1 KB.
            # It ends when the queue is empty or the socket closes (notify_closing).
            trio.lowlevel.spawn_system_task(self._drain, name="trouper.channels.outbound")

    async def _drain(self) -> None:
        try:
            while self._queue and not self.closed:
                try:
                    await trio.lowlevel.wait_writable(self._sock)
                except (trio.ClosedResourceError, OSError):
                    self.closed = True
                    return
                queue = self._queue
                while queue:
                    chunk = queue[0]
                    try:
                        sent = self._sock.send(chunk)
                    except BlockingIOError:
                        break
                    except OSError:
                        self.closed = True
                        return
                    self._queued -= sent
                    if sent < len(chunk):
                        queue[0] = chunk[sent:]
                        break
                    queue.popleft()
            self._queue = None
        finally:
            self._writing = False
