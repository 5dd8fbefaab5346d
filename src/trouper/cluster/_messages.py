"""What cluster servers say to each other, and what they tell local processes.

The bus messages are registered with pubsub's codec, so they cross nodes as tagged JSON.
The local ones (:class:`NodeUp`, :class:`NodeDown`) never leave their node.
"""

from __future__ import annotations

from typing import Any

import attrs

import trouper
from trouper.pubsub import register_message_type

TOPIC = "trouper.cluster"
"""The pubsub topic every node's cluster server subscribes to."""


# -- on the bus -----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Heartbeat:
    """ "I am up": broadcast every interval; sent directly to a peer heard for the first time."""

    node: str
    incarnation: str
    session: int
    answer: bool = False  # True: a reply to a peer's first heartbeat (not to be answered)


@attrs.frozen(slots=True)
class Goodbye:
    """A node stopping cleanly: its peers take it down at once."""

    node: str
    incarnation: str


@attrs.frozen(slots=True)
class RemoteSend:
    """Deliver ``message`` to the process registered as ``name`` on the receiving node."""

    name: str
    message: Any


@attrs.frozen(slots=True)
class MonitorName:
    """Node ``node`` monitors the process registered as ``name`` here (tag ``token``)."""

    node: str
    token: int
    name: str


@attrs.frozen(slots=True)
class DemonitorName:
    """Node ``node`` no longer monitors (tag ``token``)."""

    node: str
    token: int


@attrs.frozen(slots=True)
class NameDown:
    """The process that monitor ``token`` watched has exited with ``reason``."""

    token: int
    reason: Any


for _cls in (Heartbeat, Goodbye, RemoteSend, MonitorName, DemonitorName, NameDown):
    register_message_type(_cls, f"trouper.cluster.{_cls.__name__}")


# -- local only -----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class NodeUp:
    """Sent to processes that called :func:`~trouper.cluster.monitor_nodes`: ``node`` is up."""

    node: str


@attrs.frozen(slots=True)
class NodeDown:
    """``node`` is down. ``reason``: ``"net_tick_timeout"`` (silent too long),
    ``"connection_closed"`` (it or this node lost messages: the link broke),
    ``"shutdown"`` (it said goodbye)."""

    node: str
    reason: str


@attrs.frozen(slots=True)
class MonitorRequest:
    """API -> server: ``owner`` monitors ``name`` on ``node``, as ``ref``."""

    ref: trouper.Ref
    owner: trouper.Pid
    name: str
    node: str


@attrs.frozen(slots=True)
class DemonitorRequest:
    """API -> server: drop the remote monitor ``ref``."""

    ref: trouper.Ref


@attrs.frozen(slots=True)
class NodeMonitorRequest:
    """API -> server: ``owner`` wants (or no longer wants) NodeUp/NodeDown messages."""

    owner: trouper.Pid
    on: bool


class Tick:
    """Timer -> server: time to heartbeat and to expire silent peers."""

    __slots__ = ()


TICK = Tick()
