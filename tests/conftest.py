"""Fixtures shared by every test package: a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from redis_server import RedisServer, start_redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session, for tests that leave it running."""
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server for this test alone, which the test may stop and start again."""
    server = start_redis()
    yield server
    server.stop()
