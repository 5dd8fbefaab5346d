"""Another node, played by the test with raw Redis connections.

It sees exactly what the node under test publishes (on the broadcast channel and on its
own node channel) and publishes frames as a node named ``name`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from trouper.pubsub._codec import decode_frame, encode_frame
from trouper.pubsub._resp import RedisAddress, RedisConnection, pack_command

Frame = tuple[str, str, str, Any, str]  # channel, sender node, topic, message, dispatcher


class RedisPeer:
    """``async with RedisPeer(url, "b") as b:`` subscribes; leaving closes the connections."""

    def __init__(self, url: str, name: str = "b", pubsub: str = "chat") -> None:
        self.address = RedisAddress.from_url(url)
        self.name = name
        self.broadcast_channel = f"trouper:{pubsub}"
        self.base = self.broadcast_channel

    def node_channel(self, node: str) -> str:
        return f"{self.base}:node:{node}"

    async def __aenter__(self) -> RedisPeer:
        self.sub = await RedisConnection.open(self.address)
        self.pub = await RedisConnection.open(self.address)
        channels = (self.broadcast_channel, self.node_channel(self.name))
        await self.sub.send(pack_command("SUBSCRIBE", *channels))
        for _ in channels:
            await self.sub.read_reply()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.aclose()
        await self.pub.aclose()

    async def publish(self, channel: str, data: bytes) -> int:
        return int(await self.pub.command("PUBLISH", channel, data))

    async def send(
        self, topic: str, message: Any, to: str | None = None, dispatcher: str = "trouper.pubsub"
    ) -> int:
        """Publish ``message`` as this peer: to every node, or to node ``to`` only."""
        channel = self.broadcast_channel if to is None else self.node_channel(to)
        return await self.publish(channel, encode_frame(self.name, topic, message, dispatcher))

    async def next_frame(self, timeout: float = 5.0) -> Frame:
        with trio.fail_after(timeout):
            while True:
                reply = await self.sub.read_reply()
                if reply[0] == b"message":
                    node, topic, message, dispatcher = decode_frame(reply[2])
                    return reply[1].decode(), node, topic, message, dispatcher

    async def frame_where(self, match: Callable[[Any], bool], timeout: float = 5.0) -> Frame:
        """The next frame whose message matches, skipping the others."""
        with trio.fail_after(timeout):
            while True:
                frame = await self.next_frame(timeout)
                if match(frame[3]):
                    return frame
