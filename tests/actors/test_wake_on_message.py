"""wake_on_message: a task process waits for I/O or for mail in one task."""

from __future__ import annotations

from typing import Any

import trio

import trouper


async def test_a_message_cancels_the_wait(autojump_clock: Any) -> None:
    async with trouper.open_node():
        me = trouper.self()
        trouper.send_after(3, me, "mail")
        start = trio.current_time()
        with trouper.wake_on_message() as scope:
            await trio.sleep_forever()  # stands in for waiting on a socket
        assert scope.cancelled_caught
        assert trio.current_time() == start + 3
        assert trouper.receive_all_nowait() == ["mail"]


async def test_mail_already_queued_cancels_on_entry(autojump_clock: Any) -> None:
    async with trouper.open_node():
        trouper.send(trouper.self(), "early")
        start = trio.current_time()
        with trouper.wake_on_message() as scope:
            await trio.sleep(10)
        assert scope.cancelled_caught
        assert trio.current_time() == start
        assert await trouper.receive(timeout=0) == "early"


async def test_without_mail_the_wait_ends_on_its_own(autojump_clock: Any) -> None:
    async with trouper.open_node():
        start = trio.current_time()
        with trouper.wake_on_message() as scope:
            await trio.sleep(2)
        assert not scope.cancelled_caught
        assert trio.current_time() == start + 2
        # The scope is released: a later message does not cancel anything else.
        trouper.send(trouper.self(), "later")
        await trio.sleep(1)
        assert trio.current_time() == start + 3
        assert await trouper.receive(timeout=0) == "later"
