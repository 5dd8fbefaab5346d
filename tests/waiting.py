"""Waiting for a condition in tests that run in real time (Redis, subprocess nodes)."""

from __future__ import annotations

from collections.abc import Callable

import trio


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; ``trio.TooSlowError`` after ``timeout`` seconds.

    For state that other tasks or processes change without an event to wait on (an
    adapter's connection flags); every wait is bounded.
    """
    with trio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.01)
