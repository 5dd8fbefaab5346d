"""One shard's subscription table: the data structure subscribe, unsubscribe and broadcast touch.

How this works
--------------
A pubsub has N shards; a subscriber's subscriptions all live in shard
``pid.number % N``. Each shard is a supervised process that *owns* a :class:`ShardTable`,
the way an Elixir Registry partition owns its ETS table: the process does no work on the
hot path. ``subscribe`` and ``unsubscribe`` update the table directly, in the calling
process, with no message and no waiting, so a reactive callback can use them. When the
shard process dies, its table dies with it (see ``_server``).

The table holds, per topic, ``topics[topic]``: a dict ``pid -> value`` with each
subscriber's first subscription. This is the mapping a dispatcher iterates, as it is:
nothing is built per subscriber per broadcast. Duplicate subscriptions (the same process,
the same topic, again) go to ``extra[topic]``, a list of further "layers": layer k maps
the pids with at least k + 2 subscriptions to the value of their (k + 2)-th. A pid in
layer k is in every layer before it, so adding is "the first layer without me" and
removing stops at the first layer without the pid: O(1) for the usual single subscription,
O(own duplicates) otherwise. Most topics have no ``extra`` at all.

For exits, ``owned[pid]`` says which topics ``pid`` has in this shard: the topic itself
(a str) while it has one, a set once it has several, so a subscriber to one topic costs
no container. The table is an :class:`ExitHook` placed once in each subscriber's monitor
table (one hook per subscriber per shard, however many subscriptions): when the subscriber
exits, the runtime calls :meth:`ShardTable.process_exited` synchronously, before the
subscriber's links and monitors fire, and its entries are gone before anyone can hear of
its death. This is how "dead subscribers are removed through monitors" is implemented.

A dispatcher iterates the live dicts, so a mutation during a dispatch (a dispatcher that
kills a subscriber, whose hook then removes it) would break the iteration. Dispatches
therefore *pin* their topic (``dispatching``); the first mutation of a pinned topic
replaces its dicts with copies (copy-on-write, once per pin: ``fresh``), and the running
dispatch keeps iterating the old ones. Outside dispatches, that check is one falsy
attribute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trouper.actors import Pid

from ._dispatch import Dispatcher
from ._lowlevel import ExitHook, Process, add_exit_hook, remove_exit_hook

# A subscriber's topics in one shard: one topic as it is, several as a set.
Held = str | set[str]


def held_topics(held: Held) -> Iterator[str]:
    """The topics in an ``owned`` entry."""
    if isinstance(held, str):
        yield held
    else:
        yield from held


class ShardTable(ExitHook):
    """The subscriptions of one shard (see the module docstring for the layout)."""

    __slots__ = ("count", "dispatching", "extra", "fresh", "lost", "owned", "topics")

    def __init__(self) -> None:
        self.topics: dict[str, dict[Pid, Any]] = {}
        self.extra: dict[str, list[dict[Pid, Any]]] = {}
        self.owned: dict[Pid, Held] = {}
        self.count = 0  # subscriptions, duplicates included
        # topic -> dispatches in progress; topics already copied since their pin.
        self.dispatching: dict[str, int] = {}
        self.fresh: set[str] = set()
        # Subscriptions lost with a dead owner, until its successor tells their subscribers.
        self.lost: dict[Pid, Held] = {}

    def __repr__(self) -> str:
        return f"<ShardTable subscriptions={self.count} topics={len(self.topics)}>"

    # -- writing (from the subscriber itself) -----------------------------------------------

    def subscribe(self, proc: Process, topic: str, value: Any) -> None:
        """Add one subscription of ``proc`` to ``topic``."""
        if self.dispatching:
            self._unshare(topic)
        pid = proc.pid
        subscribers = self.topics.get(topic)
        if subscribers is None:
            self.topics[topic] = {pid: value}
        elif pid not in subscribers:
            subscribers[pid] = value
        else:
            self._add_duplicate(topic, pid, value)
        self.count += 1
        owned = self.owned
        held = owned.get(pid)
        if held is None:
            owned[pid] = topic
            add_exit_hook(proc, self)  # its first subscription in this shard: one hook
        elif isinstance(held, str):
            if held != topic:
                owned[pid] = {held, topic}
        else:
            held.add(topic)

    def _add_duplicate(self, topic: str, pid: Pid, value: Any) -> None:
        layers = self.extra.get(topic)
        if layers is None:
            self.extra[topic] = [{pid: value}]
            return
        for layer in layers:
            if pid not in layer:
                layer[pid] = value
                return
        layers.append({pid: value})

    def unsubscribe(self, pid: Pid, topic: str) -> None:
        """Remove every subscription of ``pid`` to ``topic`` (nothing if it has none)."""
        if self.lost:
            self._forget_lost(pid, topic)  # no notice for a topic given up meanwhile
        held = self.owned.get(pid)
        if held is None:
            return
        if isinstance(held, str):
            if held != topic:
                return
            del self.owned[pid]
            remove_exit_hook(pid, self)  # its last topic here: no reason to hear of its exit
        else:
            if topic not in held:
                return
            held.discard(topic)
            if len(held) == 1:
                self.owned[pid] = next(iter(held))
        self._remove(pid, topic)

    def process_exited(self, pid: Pid, reason: Any) -> None:
        """The runtime's exit hook: drop every subscription of ``pid``. Never raises."""
        held = self.owned.pop(pid, None)
        if held is not None:
            for topic in held_topics(held):
                self._remove(pid, topic)
        if self.lost:
            self.lost.pop(pid, None)

    def _remove(self, pid: Pid, topic: str) -> None:
        if self.dispatching:
            self._unshare(topic)
        subscribers = self.topics.get(topic)
        if subscribers is None or subscribers.pop(pid, self) is self:
            return
        removed = 1
        layers = self.extra.get(topic)
        if layers is not None:
            for layer in layers:
                if layer.pop(pid, self) is self:
                    break  # layers nest: no later layer holds it either
                removed += 1
            while layers and not layers[-1]:
                layers.pop()
            if not layers:
                del self.extra[topic]
        if not subscribers:
            del self.topics[topic]
        self.count -= removed

    def _unshare(self, topic: str) -> None:
        """Copy ``topic``'s dicts if a dispatch is iterating them (once per pin)."""
        if topic not in self.dispatching or topic in self.fresh:
            return
        self.fresh.add(topic)
        subscribers = self.topics.get(topic)
        if subscribers is not None:
            self.topics[topic] = dict(subscribers)
        layers = self.extra.get(topic)
        if layers is not None:
            self.extra[topic] = [dict(layer) for layer in layers]

    # -- broadcasting (from the broadcaster) ------------------------------------------------

    def dispatch(
        self, topic: str, dispatcher: Dispatcher, from_pid: Pid | None, message: Any
    ) -> None:
        """Run ``dispatcher`` over this shard's subscriptions to ``topic``, if any."""
        subscribers = self.topics.get(topic)
        if subscribers is None:
            return
        layers = self.extra.get(topic)
        dispatching = self.dispatching
        dispatching[topic] = dispatching.get(topic, 0) + 1
        # These dicts are being iterated from now on: the next mutation must copy them,
        # even if an outer dispatch of the same topic already made a copy.
        self.fresh.discard(topic)
        try:
            dispatcher.dispatch(subscribers, from_pid, message)
            if layers is not None:
                for layer in layers:  # never mutated while pinned: see _unshare
                    dispatcher.dispatch(layer, from_pid, message)
        finally:
            depth = dispatching[topic] - 1
            if depth:
                dispatching[topic] = depth
            else:
                del dispatching[topic]
                self.fresh.discard(topic)

    # -- reading ----------------------------------------------------------------------------

    def subscriptions(self, topic: str) -> Iterator[tuple[Pid, Any]]:
        """``(pid, value)`` for each subscription to ``topic`` (introspection, not broadcasts)."""
        subscribers = self.topics.get(topic)
        if subscribers is None:
            return
        yield from subscribers.items()
        for layer in self.extra.get(topic, ()):
            yield from layer.items()

    def count_topic(self, topic: str) -> int:
        """Subscriptions to ``topic`` in this shard, duplicates included."""
        subscribers = self.topics.get(topic)
        if subscribers is None:
            return 0
        return len(subscribers) + sum(len(layer) for layer in self.extra.get(topic, ()))

    def topics_of(self, pid: Pid) -> tuple[str, ...]:
        """The topics ``pid`` subscribes to in this shard, sorted."""
        held = self.owned.get(pid)
        return () if held is None else tuple(sorted(held_topics(held)))

    def has(self, pid: Pid, topic: str) -> bool:
        """True if ``pid`` has at least one subscription to ``topic`` here."""
        subscribers = self.topics.get(topic)
        return subscribers is not None and pid in subscribers

    # -- the owner's death ------------------------------------------------------------------

    def lose_all(self) -> None:
        """The owning shard process died: every subscription is lost (moved to ``lost``).

        The subscribers' hooks are taken out, so none calls back into this table for a
        subscription it no longer has; the table itself keeps serving, empty.
        """
        owned = self._clear()
        lost = self.lost
        if not lost:
            self.lost = owned  # no copy: at a million subscribers this dict is large
            return
        for pid, held in owned.items():
            before = lost.get(pid)
            lost[pid] = held if before is None else {*held_topics(before), *held_topics(held)}

    def take_lost(self) -> list[tuple[Pid, tuple[str, ...]]]:
        """Who lost what, for the new owner's notices: topics subscribed again are left out."""
        lost, self.lost = self.lost, {}
        notices = []
        for pid, held in lost.items():
            topics = tuple(sorted(t for t in held_topics(held) if not self.has(pid, t)))
            if topics:
                notices.append((pid, topics))
        return notices

    def close(self) -> None:
        """The pubsub is gone: forget everything, lost subscriptions included."""
        self._clear()
        self.lost = {}

    def _clear(self) -> dict[Pid, Held]:
        owned = self.owned
        for pid in owned:
            remove_exit_hook(pid, self)
        self.owned = {}
        self.topics = {}
        self.extra = {}
        self.count = 0
        return owned

    def _forget_lost(self, pid: Pid, topic: str) -> None:
        held = self.lost.get(pid)
        if held is None:
            return
        if isinstance(held, str):
            if held == topic:
                del self.lost[pid]
        else:
            held.discard(topic)
            if not held:
                del self.lost[pid]
