"""The Socket behaviour: who may connect, and which channel serves which topic."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._channel import Channel


class Socket:
    """Subclass to authenticate connections and route topics to channels.

    ========================================  ==============================================
    when                                      callback
    ========================================  ==============================================
    a client connects                         ``connect(params, connect_info)`` -> assigns
                                              (a dict) to accept, None to refuse (HTTP 403)
    after connect                             ``id(assigns)`` -> an id or None; broadcasting
                                              ``"disconnect"`` on ``"socket_id:" + id``
                                              closes every socket with that id
    a client joins ``topic``                  the first ``channels`` pattern that matches
    ========================================  ==============================================

    ``channels`` holds ``(pattern, ChannelClass)`` pairs; a pattern is a topic or ends in
    ``*`` (``"rooms:*"``), as Phoenix's ``channel "rooms:*", RoomChannel``.
    """

    channels: ClassVar[Sequence[tuple[str, type[Channel]]]] = ()

    def connect(self, params: Mapping[str, str], connect_info: Mapping[str, Any]) -> Any:
        return {}

    def id(self, assigns: Any) -> str | None:
        return None

    @classmethod
    def has_route(cls, topic: str) -> bool:
        """True if some ``channels`` pattern matches ``topic``."""
        return cls.route(topic) is not None

    @classmethod
    def route(cls, topic: str) -> type[Channel] | None:
        """The channel class for ``topic``, or None if no pattern matches."""
        for pattern, channel in cls.channels:
            if pattern.endswith("*"):
                if topic.startswith(pattern[:-1]):
                    return channel
            elif fnmatch.fnmatchcase(topic, pattern) and "*" not in topic:
                return channel
        return None
