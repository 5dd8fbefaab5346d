"""PubSub: a supervisor of shard processes, each owning one shard's subscription table.

How this works
--------------
``PubSub.start_link(name, shards=N)`` builds the running pubsub (an ``_Instance``, found by
name in ``_instances``) with one ``_Slot`` per shard. A slot holds the shard's
:class:`~._table.ShardTable` and watches the shard process. Then a one_for_one
:class:`Supervisor`, registered under ``name``, starts the N shard processes (reactive
GenServers that do nothing on the hot path: they own the tables) and the adapter's
processes, if it has any.

* A shard process's ``init`` attaches it to its slot: the slot becomes an exit hook on the
  shard process, and if an earlier incarnation died, the subscribers it lost are told
  (:class:`ShardRestarted`).
* A shard process's death (any reason: a crash, a kill, its supervisor stopping it) runs
  the slot's hook synchronously: the table is emptied and its hooks are taken out of the
  subscribers, so those subscriptions are lost, as an ETS table dies with its owner. The
  emptied table keeps serving at once: subscribe and broadcast work while the supervisor
  restarts the shard, and the new incarnation owns what was added in between.
* The supervisor's death (the pubsub stops, or gives up after too many shard restarts)
  runs the instance's hook: every table is emptied, the name is forgotten, the adapter's
  ``stop`` runs. Calls on the name then raise :class:`PubSubError` until it is started
  again.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

import attrs
import structlog

import trouper
from trouper.supervision import ChildSpec, Supervisor

from ._adapter import Adapter, LocalAdapter
from ._lowlevel import (
    ExitHook,
    Node,
    add_exit_hook,
    caller,
    current_node,
    pid_number,
    process_of,
)
from ._table import ShardTable

log = structlog.get_logger("trouper")


class PubSubError(trouper.TrouperError, LookupError):
    """No pubsub of that name is running on this node."""


@attrs.frozen(slots=True)
class ShardRestarted:
    """Sent to a subscriber whose subscriptions a shard crash lost, once the shard is back.

    Subscribing again on receipt is safe: the shard is running. Subscriptions made while
    the shard was down are kept and are not listed; neither are topics unsubscribed from
    meanwhile. A subscriber with nothing left to restore gets no message.

    Attributes:
        pubsub: the pubsub's name.
        shard: the shard's index.
        topics: the topics the receiver lost in that shard and has neither subscribed to
            again nor unsubscribed from since, sorted.
    """

    pubsub: str
    shard: int
    topics: tuple[str, ...]


class _Slot(ExitHook):
    """One shard: its table, and the shard process that owns it now (watched by this hook)."""

    def __init__(self, instance: _Instance, index: int) -> None:
        self.instance = instance
        self.index = index
        self.table = ShardTable()
        self.pid: trouper.Pid | None = None
        self.incarnations = 0

    def attach(self) -> None:
        """Called in the shard process's ``init``: it owns the table from now on."""
        proc = caller("a pubsub shard")
        add_exit_hook(proc, self)
        self.incarnations += 1
        self.pid = proc.pid
        name, index = self.instance.name, self.index
        for pid, topics in self.table.take_lost():
            trouper.send(pid, ShardRestarted(name, index, topics))

    def process_exited(self, pid: trouper.Pid, reason: Any) -> None:
        """The shard process died: its subscriptions go with it. Never raises."""
        self.pid = None
        if not self.instance.closed:
            self.table.lose_all()


class _Instance(ExitHook):
    """A running pubsub: what every API call finds by name."""

    def __init__(self, name: str, node: Node, shards: int, adapter: Adapter) -> None:
        self.name = name
        self.node = node
        self.adapter = adapter
        self.slots = [_Slot(self, index) for index in range(shards)]
        # The hot path's view: slot i's table, which stays the same object for good.
        self.tables = [slot.table for slot in self.slots]
        self.shard_count = shards
        self.supervisor: trouper.Pid | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<PubSub {self.name!r} shards={len(self.slots)}>"

    def table_for(self, pid: trouper.Pid) -> ShardTable:
        """The table that holds ``pid``'s subscriptions: shard ``pid.number % shards``."""
        return self.tables[pid_number(pid) % self.shard_count]

    def process_exited(self, pid: trouper.Pid, reason: Any) -> None:
        """The supervisor died: the pubsub is gone."""
        self.close()

    def close(self) -> None:
        """Forget the pubsub and every subscription it held. Never raises."""
        if self.closed:
            return
        self.closed = True
        if _instances.get(self.name) is self:
            del _instances[self.name]
        for table in self.tables:
            table.close()
        try:
            self.adapter.stop()
        except Exception as exc:
            log.error("pubsub_adapter_stop_failed", pubsub=self.name, exc_info=exc)


# name -> the running pubsub. Module-level because a node is an OS process (one at a time);
# an entry left by a node that stopped without running exit hooks is recognised by its node.
_instances: dict[str, _Instance] = {}


def lookup(name: str, node: Node | None = None) -> _Instance:
    """The pubsub running as ``name`` on this node; :class:`PubSubError` if there is none."""
    instance = _instances.get(name)
    if node is None:
        node = current_node()
    if instance is None or instance.closed or instance.node is not node:
        raise PubSubError(f"no pubsub named {name!r} is running")
    return instance


class _Shard(trouper.GenServer):
    """A shard process: owns its slot's table (see the module docstring). Plain def: reactive."""

    def init(self, slot: _Slot) -> None:
        slot.attach()


class PubSub:
    """Start pubsubs: ``await PubSub.start_link("chat", shards=4)``."""

    @staticmethod
    async def start_link(
        name: str, *, shards: int = 1, adapter: Adapter | None = None
    ) -> trouper.Pid:
        """Start a pubsub named ``name``, linked to the caller; returns its supervisor's pid.

        The supervisor (one_for_one, registered as ``name``) starts ``shards`` shard
        processes, then the adapter's processes. Returns once all of them run.

        Args:
            name: how every call addresses the pubsub; also the supervisor's registered
                name.
            shards: how many shards subscriptions are spread over, by subscriber
                (``pid.number % shards``). A shard crash loses only that shard's
                subscriptions.
            adapter: the link to other nodes; ``LocalAdapter()`` (single node) if None.

        Raises:
            AlreadyRegisteredError: a pubsub (or another process) already holds ``name``.
            trouper.InitError: a child failed to start (from :meth:`Supervisor.start_link`).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a pubsub name must be a non-empty str, not {name!r}")
        if type(shards) is not int or shards < 1:
            raise ValueError(f"shards must be a positive int, not {shards!r}")
        node = current_node()
        holder = trouper.whereis(name)
        if holder is not None:
            raise trouper.AlreadyRegisteredError(name, holder)
        existing = _instances.get(name)
        if existing is not None and existing.node is node and not existing.closed:
            raise PubSubError(f"pubsub {name!r} is already starting")
        adapter = LocalAdapter() if adapter is None else adapter
        instance = _Instance(name, node, shards, adapter)
        _instances[name] = instance
        try:
            specs = [ChildSpec(("shard", slot.index), _Shard, (slot,)) for slot in instance.slots]
            specs.extend(adapter.start(name))
            supervisor = await Supervisor.start_link(specs, strategy="one_for_one", name=name)
        except BaseException:
            instance.close()
            raise
        sup = process_of(supervisor)
        if sup is None or not trouper.is_alive(supervisor):
            instance.close()  # it died before we could watch it
        else:
            instance.supervisor = supervisor
            add_exit_hook(sup, instance)
        return supervisor

    @staticmethod
    def child_spec(
        name: str,
        *,
        shards: int = 1,
        adapter: Adapter | None = None,
        id: Hashable | None = None,
    ) -> ChildSpec:
        """A spec that runs the pubsub under a supervisor or an Application.

        The child is a supervisor (shutdown infinity) whose id is ``name`` unless ``id`` is
        given; a restart starts a fresh pubsub (with no subscriptions) and the same adapter.
        """
        start = functools.partial(PubSub.start_link, name, shards=shards, adapter=adapter)
        return ChildSpec(id=name if id is None else id, start=start, type="supervisor")
