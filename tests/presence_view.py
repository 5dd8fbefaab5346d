"""A client's view of who is present on a topic, kept as phoenix.js keeps it (by key)."""

from __future__ import annotations

import trio

from trouper.channels.client import JoinedChannel


class PresenceView:
    """Applies a channel's ``presence_state`` and ``presence_diff`` pushes."""

    def __init__(self, channel: JoinedChannel) -> None:
        self.channel = channel
        self.present: set[str] = set()

    async def wait_for(self, keys: set[str], timeout: float = 10) -> None:
        """Apply presence pushes until exactly ``keys`` are present (other events are
        skipped); ``trio.TooSlowError`` after ``timeout`` seconds."""
        with trio.fail_after(timeout):
            while self.present != keys:
                event, payload = await self.channel.receive(timeout=timeout)
                if event == "presence_state":
                    self.present = set(payload)
                elif event == "presence_diff":
                    left = {key for key in payload["leaves"] if key not in payload["joins"]}
                    self.present = (self.present | set(payload["joins"])) - left
