"""A Redis connection on trio: commands encoded here, replies parsed by hiredis's ``Reader``.

Why not a full client library: redis-py's async client runs on asyncio only (under trio it
fails with "no running event loop"); coredis runs under trio through anyio, but measured
here at about 2k sequential requests/s and it reconnects its pubsub silently, so the layer
above could not log an outage or learn that messages were lost. The cluster adapter needs
three commands (AUTH, PUBLISH, SUBSCRIBE, plus PING), pipelining under its own control, and
to see every disconnect. hiredis (the parser maintained by the Redis project, a C
extension) parses the replies; writing a command is a few lines. docs/cluster.md has the
measurements.

hiredis is an optional dependency (``pip install trouper[redis]``): it is imported when a
connection is opened, so ``import trouper.pubsub`` does not need it.
"""

from __future__ import annotations

import os
import socket as stdlib_socket
import urllib.parse
from typing import Any

import attrs
import trio

READ_SIZE = 1 << 16


class RedisError(Exception):
    """The Redis server answered with an error, or the connection is unusable."""


def _hiredis() -> Any:
    try:
        import hiredis
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError(
            "the Redis cluster adapter needs hiredis: pip install 'trouper[redis]'"
        ) from exc
    return hiredis


@attrs.frozen
class RedisAddress:
    """Where a Redis server is, from a ``redis://[[user]:password@]host[:port]`` URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        """Parse a ``redis://`` URL; the database number is accepted and ignored.

        Pub/sub channels are global to a Redis server, whatever the database. TLS
        (``rediss://``) and Unix sockets are not supported.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"a Redis URL must start with redis://, not {url!r}")
        try:
            port = parts.port or 6379
        except ValueError as exc:
            raise ValueError(f"bad port in Redis URL {url!r}") from exc
        unquote = urllib.parse.unquote
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __str__(self) -> str:
        return f"redis://{self.host}:{self.port}"


def pack_command(*args: bytes | str | int) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


class RedisConnection:
    """One TCP connection to Redis: write commands, read replies (no pooling, no retries).

    Any failure (the server went away, a timeout) surfaces as an exception from the call:
    the owner decides whether to reconnect.
    """

    def __init__(self, stream: trio.SocketStream, address: RedisAddress) -> None:
        self.address = address
        self._stream = stream
        # The same socket (a duplicate descriptor, non-blocking as trio made it), for
        # send_nowait: a write from synchronous code, without a task switch.
        self._raw = stdlib_socket.socket(fileno=os.dup(stream.socket.fileno()))
        hiredis = _hiredis()
        self._reader = hiredis.Reader()
        self._reply_error = hiredis.ReplyError

    @classmethod
    async def open(cls, address: RedisAddress, *, timeout: float = 5.0) -> RedisConnection:
        """Connect (and AUTH if the address has a password), within ``timeout`` seconds."""
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(address.host, address.port)
            conn = cls(stream, address)
            try:
                if address.password is not None:
                    auth: tuple[str, ...] = (address.password,)
                    if address.username is not None:
                        auth = (address.username, address.password)
                    await conn.command("AUTH", *auth)
                await conn.command("PING")
            except BaseException:
                await conn.aclose()
                raise
        return conn

    async def send(self, data: bytes) -> None:
        """Write already-packed commands (one or many: pipelining is the caller's choice)."""
        await self._stream.send_all(data)

    def send_nowait(self, data: bytes) -> int:
        """Write what the socket takes now, without waiting; returns how many bytes.

        Only while no :meth:`send` is in progress: the caller keeps writes in order.
        Raises OSError if the connection is broken.
        """
        try:
            return self._raw.send(data)
        except BlockingIOError:
            return 0

    def _check(self, reply: Any) -> Any:
        if isinstance(reply, self._reply_error):
            raise RedisError(str(reply))
        return reply

    async def read_reply(self) -> Any:
        """The next reply; :class:`RedisError` for an error reply, EOFError if closed."""
        while True:
            reply = self._reader.gets()
            if reply is not False:
                return self._check(reply)
            await self._fill()

    async def read_replies(self) -> list[Any]:
        """Every complete reply that has arrived, waiting for at least one."""
        first = await self.read_reply()
        replies = [first]
        gets = self._reader.gets
        while (reply := gets()) is not False:
            replies.append(reply)
        return replies

    async def _fill(self) -> None:
        data = await self._stream.receive_some(READ_SIZE)
        if not data:
            raise EOFError(f"{self.address} closed the connection")
        self._reader.feed(data)

    async def command(self, *args: bytes | str | int) -> Any:
        """Send one command and return its reply."""
        await self.send(pack_command(*args))
        return await self.read_reply()

    async def aclose(self) -> None:
        """Close the connection (no error if it is already closed)."""
        self._raw.close()
        with trio.CancelScope(shield=True):
            await self._stream.aclose()
