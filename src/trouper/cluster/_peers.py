"""The failure detector: which peers are up, from the heartbeats heard of them (sans-I/O).

A peer is *up* from its first heartbeat until it has been silent for ``down_after``
seconds, or it says goodbye. Each heartbeat carries the peer's *identity*: what must stay
the same for the link to be the same one. The cluster uses ``(incarnation, session)``: a
restarted node has a new incarnation, and a node whose messages may have been lost (its
Redis connection broke) a new session. Hearing a known peer with a new identity is a
``CHANGED`` link: the layer above reports it down and up again, as Erlang does when a
node reconnects. Presence uses the same table with its replica identity.

The table is pure: the caller passes the time in, so it is tested without clocks.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable

import attrs


class Heard(enum.Enum):
    """What hearing from a peer means for the link to it."""

    NEW = "new"  # was not up: now it is
    SAME = "same"  # up, same identity: only the deadline moved
    CHANGED = "changed"  # up with another identity: down, then up again


@attrs.define
class _Peer:
    identity: Hashable
    last_heard: float


class Peers:
    """Peers that are up, with the identity and time each was last heard with.

    Args:
        down_after: seconds of silence after which a peer is down.
    """

    def __init__(self, down_after: float) -> None:
        if not down_after > 0:
            raise ValueError(f"down_after must be positive, not {down_after!r}")
        self.down_after = down_after
        self._peers: dict[str, _Peer] = {}

    def __contains__(self, node: object) -> bool:
        return node in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    def up(self) -> list[str]:
        """The peers that are up, sorted."""
        return sorted(self._peers)

    def identity(self, node: str) -> Hashable | None:
        """The identity ``node`` was last heard with, or None if it is not up."""
        peer = self._peers.get(node)
        return None if peer is None else peer.identity

    def heard(self, node: str, identity: Hashable, now: float) -> Heard:
        """``node`` was heard from at ``now`` with ``identity``."""
        peer = self._peers.get(node)
        if peer is None:
            self._peers[node] = _Peer(identity, now)
            return Heard.NEW
        peer.last_heard = max(peer.last_heard, now)
        if peer.identity == identity:
            return Heard.SAME
        peer.identity = identity
        return Heard.CHANGED

    def expire(self, now: float) -> list[str]:
        """Forget and return (sorted) the peers silent for ``down_after`` or longer."""
        limit = now - self.down_after
        gone = sorted(node for node, peer in self._peers.items() if peer.last_heard <= limit)
        for node in gone:
            del self._peers[node]
        return gone

    def forget(self, node: str) -> bool:
        """Forget ``node`` (it said goodbye); returns whether it was up."""
        return self._peers.pop(node, None) is not None

    def forget_all(self) -> list[str]:
        """Forget every peer (this node lost its link to all of them); returns them sorted."""
        gone = sorted(self._peers)
        self._peers.clear()
        return gone
