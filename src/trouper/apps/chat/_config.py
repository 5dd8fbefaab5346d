"""What every part of one chat application shares: the names of its processes and limits."""

from __future__ import annotations

import re

import attrs

ROOM = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NAME = 24


@attrs.frozen
class ChatConfig:
    """One chat application's settings; the process names derive from ``name``.

    Attributes:
        name: the application's name (its top supervisor's registered name) and the prefix
            of every other name it registers, so two applications can share a node.
        history: messages kept per room and sent in the join reply.
        max_rooms: rooms whose history is kept (the least recently written is dropped).
        max_body: characters of a message body; longer bodies are cut.
        observer_children: children listed per supervisor on the observer page.
        observer_interval: seconds between two observer updates while someone watches.
    """

    name: str = "chat"
    history: int = 50
    max_rooms: int = 1000
    max_body: int = 2000
    observer_children: int = 20
    observer_interval: float = 1.0

    @property
    def pubsub(self) -> str:
        return f"{self.name}.pubsub"

    @property
    def presence(self) -> str:
        return f"{self.name}.presence"

    @property
    def history_store(self) -> str:
        return f"{self.name}.history"

    @property
    def observer(self) -> str:
        return f"{self.name}.observer"

    @property
    def endpoint(self) -> str:
        return f"{self.name}.endpoint"


@attrs.define
class Session:
    """A connection's assigns: its application and the name it connected with, if any."""

    config: ChatConfig
    user: str | None


def clean_name(value: object) -> str | None:
    """A display name: printable, single spaces, at most ``MAX_NAME`` characters; or None."""
    if not isinstance(value, str):
        return None
    name = " ".join("".join(ch for ch in value if ch.isprintable()).split())[:MAX_NAME]
    return name or None
