"""Keeping one Redis connection up: reconnect with backoff, log each change of state once.

The adapter's publisher and subscriber each run :func:`keep_connected` with their own
``connect`` and ``serve``. A lost connection is logged (``redis_disconnected``) and
reported through the link's ``on_lost``; reconnection waits an exponential, jittered delay
so that the nodes of a cluster do not reconnect in lockstep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

import structlog
import trio

from ._resp import RedisConnection, RedisError

log = structlog.get_logger("trouper.pubsub")

# What a lost or unusable connection raises; anything else is a bug and crashes the process
# (its supervisor restarts it).
CONNECTION_ERRORS = (
    OSError,
    EOFError,
    RedisError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)


class Link:
    """The up/down state of one connection, logged once per change.

    Args:
        role: ``"publisher"`` or ``"subscriber"`` (in the logs).
        redis: the server, as the logs name it.
        on_lost: called when a connection that was up breaks.
    """

    def __init__(self, role: str, redis: str, on_lost: Callable[[], None]) -> None:
        self.role = role
        self.redis = redis
        self.on_lost = on_lost
        self.up = False
        self.down_since: float | None = None

    def connected(self) -> None:
        outage = None if self.down_since is None else round(time.monotonic() - self.down_since, 3)
        self.up, self.down_since = True, None
        log.info("redis_connected", role=self.role, redis=self.redis, outage_s=outage)

    def failed(self, exc: BaseException) -> None:
        if self.up:
            log.warning("redis_disconnected", role=self.role, redis=self.redis, error=repr(exc))
            self.on_lost()
        elif self.down_since is None:
            log.warning("redis_connect_failed", role=self.role, redis=self.redis, error=repr(exc))
        if self.down_since is None:
            self.down_since = time.monotonic()
        self.up = False


class Backoff:
    """Exponential reconnect delays with jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum = initial, maximum
        self.current = initial

    def next(self) -> float:
        delay = self.current * random.uniform(0.8, 1.2)
        self.current = min(self.current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.current = self.initial


async def keep_connected(
    link: Link,
    backoff: Backoff,
    tried: trio.Event,
    connect: Callable[[], Awaitable[RedisConnection]],
    serve: Callable[[RedisConnection], Awaitable[None]],
) -> NoReturn:
    """Connect, serve until the connection breaks, reconnect after a backoff; forever.

    ``tried`` is set after the first attempt, whatever its outcome.
    """
    while True:
        try:
            conn = await connect()
        except CONNECTION_ERRORS as exc:
            link.failed(exc)
            tried.set()
            await trio.sleep(backoff.next())
            continue
        backoff.reset()
        link.connected()
        tried.set()
        try:
            await serve(conn)
        except CONNECTION_ERRORS as exc:
            link.failed(exc)
        finally:
            await conn.aclose()
