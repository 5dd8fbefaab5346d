"""Dispatchers: how a broadcast reaches the subscribers of one shard (Phoenix's fastlane hook).

A broadcast runs in the caller. For each shard that has subscribers for the topic, pubsub
calls ``dispatcher.dispatch(subscribers, from_pid, message)`` with that shard's live table
for the topic: a mapping ``pid -> value`` (the value given to ``subscribe``). No list of
``(pid, value)`` pairs is built per broadcast: with millions of subscribers that allocation
alone would cost more than the sends.

A process that subscribed to the topic more than once in a shard appears once in the first
mapping, with the value of its first subscription; pubsub then calls ``dispatch`` once
more per further level of duplicates, with the mapping of each subscriber's second
subscription, then third, and so on. So every call sees each subscription exactly once, and
a dispatcher never has to know about duplicates.

Dispatchers have a stable **name** because a cluster adapter carries "which dispatcher" to
other nodes as a string (Phoenix carries the module name); the receiving node looks the
name up in its own registry. Register a dispatcher once per node, at import time of the
module that defines it, under a name that is the same on every node::

    FASTLANE = register_dispatcher(FastlaneDispatcher())   # name "myapp.fastlane"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from trouper.actors import Pid

from ._lowlevel import send_each


class Dispatcher(Protocol):
    """What pubsub needs of a dispatcher: a stable ``name`` and a ``dispatch`` method.

    Any object with these two members is a dispatcher (structural typing); register it with
    :func:`register_dispatcher` before broadcasting through it.
    """

    @property
    def name(self) -> str:
        """The name the dispatcher is registered under, identical on every node."""
        ...

    def dispatch(self, subscribers: Mapping[Pid, Any], from_pid: Pid | None, message: Any) -> None:
        """Deliver ``message`` to the subscriptions of one shard (and one duplicate level).

        Runs in the broadcaster, so it must not block or wait: it may send, append to
        queues, or cast. An exception propagates to the broadcaster; the shards already
        dispatched keep their deliveries, the others get none.

        Args:
            subscribers: the shard's live table for the topic, ``pid -> subscription
                value``. Read it; never mutate it, and do not keep it after returning.
                Subscriptions changed while it runs (a subscriber killed by the dispatcher
                itself, say) do not change the mapping being iterated.
            from_pid: the process to skip (``broadcast_from``), or None.
            message: what was broadcast.
        """
        ...


class DefaultDispatcher:
    """Sends ``message`` to every subscriber except ``from_pid`` (Phoenix's default).

    Registered as ``"trouper.pubsub"``; :data:`DEFAULT_DISPATCHER` is the instance.
    """

    name = "trouper.pubsub"

    def dispatch(self, subscribers: Mapping[Pid, Any], from_pid: Pid | None, message: Any) -> None:
        """Send ``message`` to each pid in ``subscribers`` but ``from_pid``."""
        send_each(subscribers, message, from_pid)


# name -> dispatcher. Module-level, like Erlang's module table: a name means the same code
# on every node and in every pubsub of this OS process.
_dispatchers: dict[str, Dispatcher] = {}

D = TypeVar("D", bound=Dispatcher)


def register_dispatcher(dispatcher: D) -> D:
    """Make ``dispatcher`` usable in broadcasts, under its ``name``; returns it.

    Registering the same object again is a no-op. Raises ``ValueError`` if the name is
    empty or already taken by another object (two dispatchers cannot share a name: a remote
    node could not tell which one a broadcast meant).
    """
    name = dispatcher.name
    if not isinstance(name, str) or not name:
        raise ValueError(f"a dispatcher's name must be a non-empty str, not {name!r}")
    if not callable(getattr(dispatcher, "dispatch", None)):
        raise TypeError(f"{dispatcher!r} has no dispatch method")
    held = _dispatchers.get(name)
    if held is not None and held is not dispatcher:
        raise ValueError(f"dispatcher name {name!r} is already registered to {held!r}")
    _dispatchers[name] = dispatcher
    return dispatcher


def unregister_dispatcher(name: str) -> None:
    """Forget the dispatcher registered as ``name`` (no error if there is none)."""
    if name != DefaultDispatcher.name:
        _dispatchers.pop(name, None)


def get_dispatcher(name: str) -> Dispatcher:
    """The dispatcher registered as ``name``; ``LookupError`` if there is none."""
    dispatcher = _dispatchers.get(name)
    if dispatcher is None:
        raise LookupError(f"no dispatcher is registered as {name!r}")
    return dispatcher


def resolve_dispatcher(dispatcher: Dispatcher | str | None) -> Dispatcher:
    """A broadcast's ``dispatcher=`` argument as a registered dispatcher.

    None is the default dispatcher, a str is looked up by name, and an object must be the
    one registered under its name (so that what runs here is what a remote node runs).
    """
    if dispatcher is None:
        return DEFAULT_DISPATCHER
    if isinstance(dispatcher, str):
        return get_dispatcher(dispatcher)
    if _dispatchers.get(dispatcher.name) is not dispatcher:
        raise ValueError(
            f"{dispatcher!r} is not registered: call "
            f"trouper.pubsub.register_dispatcher() on it once, at import time"
        )
    return dispatcher


DEFAULT_DISPATCHER: DefaultDispatcher = register_dispatcher(DefaultDispatcher())
"""The dispatcher broadcasts use when none is given."""
