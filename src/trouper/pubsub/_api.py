"""The pubsub API: subscribe, unsubscribe, the broadcasts, and introspection.

Everything here runs in the caller, synchronously, as Phoenix.PubSub's functions do (its
``Registry.dispatch`` runs in the broadcaster): no message to a pubsub process, no waiting.
So all of it works from a reactive callback, and a broadcast never waits for a slow
subscriber. A pubsub is addressed by the name it was started with.

=====================================================  ==========================================
function                                               what it does
=====================================================  ==========================================
``subscribe(pubsub, topic, value=None)``               adds a subscription of the calling process
``unsubscribe(pubsub, topic)``                         removes all of the caller's to ``topic``
``broadcast(pubsub, topic, message, dispatcher)``      adapter (other nodes), then this node
``broadcast_from(pubsub, from_pid, ...)``              same; this node skips ``from_pid``
``local_broadcast`` / ``local_broadcast_from``         this node only; the adapter is not used
``direct_broadcast(node_name, pubsub, ...)``           one node, always through the adapter
``subscribers`` / ``subscriber_count`` / ``statistics``  what is subscribed now
=====================================================  ==========================================
"""

from __future__ import annotations

from typing import Any

import attrs

from trouper.actors import Pid

from ._adapter import Adapter
from ._dispatch import Dispatcher, resolve_dispatcher
from ._lowlevel import caller
from ._server import _Instance, lookup

# -- subscriptions ----------------------------------------------------------------------------


def subscribe(pubsub: str, topic: str, value: Any = None) -> None:
    """Subscribe the calling process to ``topic``; O(1).

    Only a process can subscribe, and only itself (as in Phoenix), so a subscription never
    outlives its subscriber: it is removed, synchronously, when the subscriber exits.
    Subscribing again adds a duplicate subscription: a broadcast then delivers once per
    subscription, and :func:`unsubscribe` removes them all.

    Args:
        pubsub: the pubsub's name.
        topic: the topic (a str).
        value: stored with the subscription and handed to dispatchers (a channel puts its
            fastlane object here); the default dispatcher ignores it.

    Raises:
        NotInProcessError: the caller is not a live trouper process.
        PubSubError: no pubsub of that name is running.
    """
    proc = caller("subscribe()")
    if type(topic) is not str:
        raise TypeError(f"a topic must be a str, not {topic!r}")
    lookup(pubsub, proc.node).table_for(proc.pid).subscribe(proc, topic, value)


def unsubscribe(pubsub: str, topic: str) -> None:
    """Remove every subscription of the calling process to ``topic`` (none is no error); O(1)."""
    proc = caller("unsubscribe()")
    lookup(pubsub, proc.node).table_for(proc.pid).unsubscribe(proc.pid, topic)


# -- broadcasts ------------------------------------------------------------------------------


def _dispatch(
    instance: _Instance, topic: str, dispatcher: Dispatcher, from_pid: Pid | None, message: Any
) -> None:
    for table in instance.tables:
        table.dispatch(topic, dispatcher, from_pid, message)


def broadcast(
    pubsub: str, topic: str, message: Any, dispatcher: Dispatcher | str | None = None
) -> None:
    """Deliver ``message`` to every subscriber of ``topic``, on every node.

    The adapter takes it to the other nodes, then this node dispatches it. Runs in the
    caller and never blocks.

    Args:
        pubsub: the pubsub's name.
        topic: the topic.
        message: what subscribers receive (with the default dispatcher, as a message).
        dispatcher: a registered dispatcher or its name; None for the default, which sends
            ``message`` to each subscriber once per subscription.
    """
    instance = lookup(pubsub)
    chosen = resolve_dispatcher(dispatcher)
    instance.adapter.broadcast(topic, message, chosen.name)
    _dispatch(instance, topic, chosen, None, message)


def broadcast_from(
    pubsub: str,
    from_pid: Pid,
    topic: str,
    message: Any,
    dispatcher: Dispatcher | str | None = None,
) -> None:
    """Like :func:`broadcast`, but not to ``from_pid`` (usually the caller itself).

    Other nodes deliver to all their subscribers: ``from_pid`` is local to this one.
    """
    instance = lookup(pubsub)
    chosen = resolve_dispatcher(dispatcher)
    instance.adapter.broadcast(topic, message, chosen.name)
    _dispatch(instance, topic, chosen, from_pid, message)


def local_broadcast(
    pubsub: str, topic: str, message: Any, dispatcher: Dispatcher | str | None = None
) -> None:
    """Like :func:`broadcast`, to this node's subscribers only (the adapter is not used).

    A cluster adapter calls this for the broadcasts it receives from other nodes.
    """
    _dispatch(lookup(pubsub), topic, resolve_dispatcher(dispatcher), None, message)


def local_broadcast_from(
    pubsub: str,
    from_pid: Pid,
    topic: str,
    message: Any,
    dispatcher: Dispatcher | str | None = None,
) -> None:
    """Like :func:`local_broadcast`, but not to ``from_pid``."""
    _dispatch(lookup(pubsub), topic, resolve_dispatcher(dispatcher), from_pid, message)


def direct_broadcast(
    node_name: str,
    pubsub: str,
    topic: str,
    message: Any,
    dispatcher: Dispatcher | str | None = None,
) -> None:
    """Deliver to ``topic``'s subscribers on the node named ``node_name`` only.

    Always goes through the adapter, even when ``node_name`` is this node's own name (as in
    Phoenix). A node that does not exist receives nothing.
    """
    instance = lookup(pubsub)
    chosen = resolve_dispatcher(dispatcher)
    instance.adapter.direct_broadcast(node_name, topic, message, chosen.name)


def get_adapter(pubsub: str) -> Adapter:
    """The adapter the pubsub was started with (to read a cluster adapter's state)."""
    return lookup(pubsub).adapter


def node_name(pubsub: str) -> str:
    """This node's name, as the pubsub's adapter knows it."""
    return lookup(pubsub).adapter.node_name()


# -- introspection ---------------------------------------------------------------------------


def subscribers(pubsub: str, topic: str) -> list[Pid]:
    """The pids subscribed to ``topic`` on this node, once per subscription (unordered)."""
    return [pid for table in lookup(pubsub).tables for pid, _ in table.subscriptions(topic)]


def subscriber_count(pubsub: str, topic: str) -> int:
    """How many subscriptions ``topic`` has on this node: what one broadcast delivers."""
    return sum(table.count_topic(topic) for table in lookup(pubsub).tables)


@attrs.frozen
class ShardStatistics:
    """One shard of a pubsub, now.

    Attributes:
        index: the shard's number; a subscriber's shard is ``pid.number % shards``.
        pid: the shard process, or None while it is being restarted.
        restarts: how many times the shard process has been restarted.
        subscriptions: subscriptions in the shard, duplicates included.
        subscribers: distinct subscribing processes.
        topics: distinct topics with subscribers in this shard.
    """

    index: int
    pid: Pid | None
    restarts: int
    subscriptions: int
    subscribers: int
    topics: int


@attrs.frozen
class PubSubStatistics:
    """A pubsub on this node, now (``statistics(pubsub)``).

    Attributes:
        name: the pubsub's name.
        node_name: this node's name, from the adapter.
        shards: one record per shard, by index.
        subscriptions: every subscription on this node, duplicates included.
        topics: distinct topics with at least one subscriber on this node.
    """

    name: str
    node_name: str
    shards: tuple[ShardStatistics, ...]
    subscriptions: int
    topics: int


def statistics(pubsub: str) -> PubSubStatistics:
    """Counts for one pubsub: subscriptions and topics, per shard and in all."""
    instance = lookup(pubsub)
    shards = tuple(
        ShardStatistics(
            index=slot.index,
            pid=slot.pid,
            restarts=max(0, slot.incarnations - 1),
            subscriptions=slot.table.count,
            subscribers=len(slot.table.owned),
            topics=len(slot.table.topics),
        )
        for slot in instance.slots
    )
    topics: set[str] = set()
    for table in instance.tables:
        topics.update(table.topics)
    return PubSubStatistics(
        name=instance.name,
        node_name=instance.adapter.node_name(),
        shards=shards,
        subscriptions=sum(shard.subscriptions for shard in shards),
        topics=len(topics),
    )
