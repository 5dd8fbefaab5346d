"""The observer: the live supervision tree of the chat application, for the /observer page.

``snapshot(config)`` describes the application as plain data: its supervision tree
(supervisors, children, restart counts, mailbox lengths, execution modes, and the channel
processes each connection started), the node's process counts, the node's name and, in a
cluster, the other nodes that are up. Its cost is bounded whatever the load: at most
``observer_children`` children per supervisor and channels per connection are listed, with
counts of all of them, so a DynamicSupervisor of 100,000 connections costs what 20 do.

Pages watch it through the channel topic ``observer:tree``. The ``ObserverServer`` (one per
application) sends a new watcher the current snapshot at once, then, while anyone watches,
takes a snapshot every ``observer_interval`` seconds and broadcasts it on the topic if it
changed. Nobody watching: no work at all. The broadcast is local: in a cluster each node's
observer shows that node's tree to the pages it serves.
"""

from __future__ import annotations

from typing import Any

import attrs

import trouper
from trouper import cluster, pubsub
from trouper.channels import Broadcast, Channel, dispatcher
from trouper.supervision import ChildSpec, tree

from ._config import ChatConfig, Session

TOPIC = "observer:tree"


async def snapshot(config: ChatConfig) -> dict[str, Any]:
    """The application's tree and the node's statistics, as JSON-ready data.

    ``node`` is this node's name, ``nodes`` the other nodes up now (``trouper.cluster``'s
    ``nodes()``; empty on a single node, which runs no cluster server).
    """
    try:
        node: str | None = pubsub.node_name(config.pubsub)
    except trouper.TrouperError:  # the pubsub is restarting
        node = None
    try:
        nodes = cluster.nodes()
    except cluster.ClusterError:  # a single node, or the cluster server is restarting
        nodes = []
    return {
        "application": config.name,
        "node": node,
        "nodes": nodes,
        "statistics": attrs.asdict(trouper.statistics()),
        "max_children": config.observer_children,
        "tree": await tree(config.name, max_children=config.observer_children, linked=True),
    }


@attrs.frozen(slots=True)
class Snapshot:
    """ObserverServer -> a new watcher: the tree as it is now."""

    data: dict[str, Any]


class _Tick:
    __slots__ = ()


TICK = _Tick()


class ObserverServer(trouper.GenServer):
    """Takes snapshots while anyone watches; a task process, since ``tree`` calls others."""

    async def init(self, config: ChatConfig) -> None:
        self.config = config
        self.watchers: dict[trouper.Pid, trouper.Ref] = {}
        self.last: dict[str, Any] | None = None
        self.ticking = False

    async def handle_cast(self, request: Any) -> None:
        match request:
            case ("watch", trouper.Pid() as watcher) if watcher not in self.watchers:
                self.watchers[watcher] = trouper.monitor(watcher)
                data = await self._snapshot()
                if data is not None:
                    trouper.send(watcher, Snapshot(data))
                self._tick_later()

    async def handle_info(self, message: Any) -> None:
        if message is TICK:
            self.ticking = False
            if not self.watchers:
                return
            data = await self._snapshot()
            if data is not None and data != self.last:
                self.last = data
                pubsub.local_broadcast(  # this node's tree, for the pages this node serves
                    self.config.pubsub, TOPIC, Broadcast(TOPIC, "tree", data), dispatcher=dispatcher
                )
            self._tick_later()
        elif type(message) is trouper.Down:
            self.watchers.pop(message.pid, None)  # type: ignore[arg-type]

    async def _snapshot(self) -> dict[str, Any] | None:
        try:
            return await snapshot(self.config)
        except trouper.TrouperError:  # a supervisor is stopping: skip this one
            return None

    def _tick_later(self) -> None:
        if self.watchers and not self.ticking:
            self.ticking = True
            trouper.send_after(self.config.observer_interval, trouper.self(), TICK)


def observer_spec(config: ChatConfig) -> ChildSpec:
    async def start() -> trouper.Pid | None:
        return await ObserverServer.start_link(config, name=config.observer)

    return ChildSpec(config.observer, start)


class ObserverChannel(Channel):
    """A page watching the tree: joins ``observer:tree``, gets ``tree`` events."""

    def join(self, topic: str, payload: Any) -> Any:
        session: Session = self.socket.assigns
        trouper.cast(session.config.observer, ("watch", trouper.self()))
        return {"application": session.config.name}

    def handle_info(self, message: Any) -> Any:
        if type(message) is Snapshot:
            self.socket.push("tree", message.data)
            return None
        return super().handle_info(message)
