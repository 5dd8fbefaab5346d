"""The cluster server: node membership, sends to names on other nodes, remote monitors.

How this works
--------------
One server per node (``Cluster.start_link(pubsub)``), registered as ``"trouper.cluster"``.
It speaks to the other nodes' servers through the pubsub's adapter, on the topic
``"trouper.cluster"``: ``broadcast_from`` reaches every other node, ``direct_broadcast``
one node. Nothing here knows Redis; any cluster adapter will do.

* **Membership.** Every ``heartbeat_interval`` the server broadcasts a :class:`Heartbeat`
  carrying its node name, its incarnation (random per start) and the adapter's ``session``
  (which a Redis adapter increments whenever messages may have been lost). The
  :class:`~._peers.Peers` table says who is up. A peer silent for ``down_after`` is down
  (``net_tick_timeout``); one heard with a new incarnation or session went down and came
  back (``connection_closed``), as an Erlang node that reconnects; one that said
  :class:`Goodbye` is down at once. When this node's own session changes, every peer is
  down at once: this node may have missed anything they said.
* **Remote send.** ``send((name, node), message)`` is a direct broadcast of a
  :class:`RemoteSend`; the receiving server sends the message to the name. Per sender, order
  holds (one outbox, one Redis connection, one receiving server).
* **Remote monitors.** ``monitor((name, node))`` asks that node's server to monitor the
  name for us (a token ties the two ends together); it answers :class:`NameDown` when the
  process exits (``noproc`` at once if nothing is registered). When the node goes down,
  every monitor of a process there fires here with ``noconnection``. The owner of a
  monitor is watched: when it exits, its remote monitors are dropped on both ends.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Hashable
from contextlib import suppress
from typing import Any

import structlog
import trio

import trouper
from trouper import pubsub
from trouper.supervision import ChildSpec

from ._messages import (
    TICK,
    TOPIC,
    DemonitorName,
    DemonitorRequest,
    Goodbye,
    Heartbeat,
    MonitorName,
    MonitorRequest,
    NameDown,
    NodeDown,
    NodeMonitorRequest,
    NodeUp,
    RemoteSend,
    Tick,
)
from ._peers import Heard, Peers

log = structlog.get_logger("trouper.cluster")

NAME = "trouper.cluster"
NOCONNECTION = "noconnection"


class ClusterError(trouper.TrouperError, LookupError):
    """No cluster server is running on this node."""


def _wire_reason(reason: Any) -> Any:
    """An exit reason as it can cross nodes: itself if encodable, else its repr."""
    try:
        pubsub.encode_message(reason)
    except pubsub.CodecError:
        return repr(reason)
    return reason


class ClusterServer(trouper.GenServer):
    """The per-node server (see the module docstring). Plain def callbacks: reactive."""

    def init(self, pubsub_name: str, heartbeat_interval: float, down_after: float) -> None:
        trouper.trap_exit(True)  # so terminate runs (and says goodbye) on shutdown
        self.pubsub = pubsub_name
        self.node = pubsub.node_name(pubsub_name)
        self.incarnation = secrets.token_hex(8)
        self.interval = heartbeat_interval
        self.peers = Peers(down_after)
        self.session = self._adapter_session()
        self._tokens = itertools.count(1)
        # Monitors this node's processes hold on other nodes: token -> (ref, owner, name, node).
        self.monitors: dict[int, tuple[trouper.Ref, trouper.Pid, str, str]] = {}
        self.by_ref: dict[trouper.Ref, int] = {}
        self.owners: dict[trouper.Pid, tuple[trouper.Ref, set[int]]] = {}
        # Monitors other nodes hold here: local monitor ref <-> (node, token).
        self.watching: dict[trouper.Ref, tuple[str, int]] = {}
        self.watch_refs: dict[tuple[str, int], trouper.Ref] = {}
        self.node_watchers: dict[trouper.Pid, trouper.Ref] = {}
        pubsub.subscribe(pubsub_name, TOPIC)
        global _server
        _server = self
        self.me = trouper.self()
        self._heartbeat()
        trouper.send_after(self.interval, self.me, TICK)

    def terminate(self, reason: Any) -> None:
        global _server
        if _server is self:
            _server = None
        # The pubsub may be gone already; the peers then time this node out instead.
        with suppress(Exception):
            self._broadcast(Goodbye(self.node, self.incarnation))

    # -- sending ---------------------------------------------------------------------------

    def _adapter_session(self) -> int:
        return int(getattr(pubsub.get_adapter(self.pubsub), "session", 0))

    def _broadcast(self, message: Any) -> None:
        pubsub.broadcast_from(self.pubsub, trouper.self(), TOPIC, message)

    def _to_node(self, node: str, message: Any) -> None:
        if node == self.node:
            self.handle_info(message)  # a monitor of a name on this node: same protocol
        else:
            pubsub.direct_broadcast(node, self.pubsub, TOPIC, message)

    def _heartbeat(self, to: str | None = None) -> None:
        beat = Heartbeat(self.node, self.incarnation, self.session, answer=to is not None)
        if to is None:
            self._broadcast(beat)
        else:
            self._to_node(to, beat)

    # -- requests from this node's processes ---------------------------------------------

    def handle_cast(self, request: Any) -> None:
        match request:
            case MonitorRequest(ref, owner, name, node):
                self._monitor(ref, owner, name, node)
            case DemonitorRequest(ref):
                token = self.by_ref.get(ref)
                if token is not None:
                    _, _, _, node = self._drop_monitor(token)
                    self._to_node(node, DemonitorName(self.node, token))
            case NodeMonitorRequest(owner, on):
                if on and owner not in self.node_watchers:
                    self.node_watchers[owner] = trouper.monitor(owner)
                elif not on and owner in self.node_watchers:
                    trouper.demonitor(self.node_watchers.pop(owner))

    def _monitor(self, ref: trouper.Ref, owner: trouper.Pid, name: str, node: str) -> None:
        if node != self.node and node not in self.peers:
            trouper.send(owner, trouper.Down(ref, (name, node), NOCONNECTION))
            return
        token = next(self._tokens)
        self.monitors[token] = (ref, owner, name, node)
        self.by_ref[ref] = token
        held = self.owners.get(owner)
        if held is None:
            held = self.owners[owner] = (trouper.monitor(owner), set())
        held[1].add(token)
        self._to_node(node, MonitorName(self.node, token, name))

    def _drop_monitor(self, token: int) -> tuple[trouper.Ref, trouper.Pid, str, str]:
        entry = self.monitors.pop(token)
        ref, owner, _, _ = entry
        del self.by_ref[ref]
        owner_ref, tokens = self.owners[owner]
        tokens.discard(token)
        if not tokens:
            del self.owners[owner]
            trouper.demonitor(owner_ref)
        return entry

    def _fire(self, token: int, reason: Any) -> None:
        ref, owner, name, node = self._drop_monitor(token)
        trouper.send(owner, trouper.Down(ref, (name, node), reason))

    # -- messages --------------------------------------------------------------------------

    def handle_info(self, message: Any) -> None:
        match message:
            case Tick():
                self._tick()
            case Heartbeat(node, incarnation, session, answer) if node != self.node:
                self._heard(node, (incarnation, session), answer)
            case Goodbye(node, incarnation):
                identity = self.peers.identity(node)
                if isinstance(identity, tuple) and identity[0] == incarnation:
                    self.peers.forget(node)
                    self._node_down(node, "shutdown")
            case RemoteSend(name, payload):
                if trouper.whereis(name) is not None:
                    trouper.send(name, payload)
            case MonitorName(node, token, name):
                self._watch(node, token, name)
            case DemonitorName(node, token):
                ref = self.watch_refs.pop((node, token), None)
                if ref is not None:
                    del self.watching[ref]
                    trouper.demonitor(ref)
            case NameDown(token, reason):
                if token in self.monitors:
                    self._fire(token, reason)
            case trouper.Down(ref, pid, reason):
                self._down(ref, pid, reason)

    def _tick(self) -> None:
        session = self._adapter_session()
        if session != self.session:
            self.session = session
            for node in self.peers.forget_all():
                self._node_down(node, "connection_closed")
        self._heartbeat()
        for node in self.peers.expire(trio.current_time()):
            self._node_down(node, "net_tick_timeout")
        trouper.send_after(self.interval, self.me, TICK)

    def _heard(self, node: str, identity: Hashable, answer: bool) -> None:
        heard = self.peers.heard(node, identity, trio.current_time())
        if heard is Heard.CHANGED:
            self._node_down(node, "connection_closed")
        if heard is not Heard.SAME:
            self._node_up(node)
            if not answer:
                self._heartbeat(to=node)  # so it learns of us now, not at our next beat

    def _node_up(self, node: str) -> None:
        log.info("nodeup", node=node, this_node=self.node)
        for watcher in self.node_watchers:
            trouper.send(watcher, NodeUp(node))

    def _node_down(self, node: str, reason: str) -> None:
        log.warning("nodedown", node=node, reason=reason, this_node=self.node)
        for token in [t for t, entry in self.monitors.items() if entry[3] == node]:
            self._fire(token, NOCONNECTION)
        for key in [key for key in self.watch_refs if key[0] == node]:
            ref = self.watch_refs.pop(key)
            del self.watching[ref]
            trouper.demonitor(ref)
        for watcher in self.node_watchers:
            trouper.send(watcher, NodeDown(node, reason))

    def _watch(self, node: str, token: int, name: str) -> None:
        pid = trouper.whereis(name)
        if pid is None:
            self._to_node(node, NameDown(token, trouper.NOPROC))
            return
        ref = trouper.monitor(pid)
        self.watching[ref] = (node, token)
        self.watch_refs[(node, token)] = ref

    def _down(self, ref: trouper.Ref, pid: Any, reason: Any) -> None:
        watched = self.watching.pop(ref, None)
        if watched is not None:  # a process other nodes monitor has exited
            del self.watch_refs[watched]
            node, token = watched
            self._to_node(node, NameDown(token, _wire_reason(reason)))
        elif pid in self.owners and self.owners[pid][0] is ref:  # an owner of monitors exited
            for token in list(self.owners[pid][1]):
                _, _, _, node = self._drop_monitor(token)
                self._to_node(node, DemonitorName(self.node, token))
        elif self.node_watchers.get(pid) is ref:
            del self.node_watchers[pid]


# The running server: one per node (a node is an OS process).
_server: ClusterServer | None = None


def _current() -> ClusterServer:
    server = _server
    if server is None or not trouper.is_alive(server.me):
        raise ClusterError("no cluster is running: start one with Cluster.start_link(pubsub)")
    return server


class Cluster:
    """Start this node's cluster server: ``await Cluster.start_link("chat")``."""

    @staticmethod
    async def start_link(
        pubsub: str, *, heartbeat_interval: float = 1.0, down_after: float = 5.0
    ) -> trouper.Pid:
        """Start the server (registered as ``"trouper.cluster"``), linked to the caller.

        Args:
            pubsub: the name of a running pubsub whose adapter links the nodes (a
                :class:`~trouper.pubsub.RedisAdapter`; with the default local adapter
                the node is a cluster of one).
            heartbeat_interval: seconds between heartbeats.
            down_after: seconds without hearing from a node before it is down. Every node
                of a cluster should use the same values.
        """
        if not 0 < heartbeat_interval < down_after:
            raise ValueError("need 0 < heartbeat_interval < down_after")
        pid = await ClusterServer.start_link(pubsub, heartbeat_interval, down_after, name=NAME)
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(
        pubsub: str, *, heartbeat_interval: float = 1.0, down_after: float = 5.0
    ) -> ChildSpec:
        """The cluster server as a child (start it after its pubsub)."""

        async def start() -> trouper.Pid:
            return await Cluster.start_link(
                pubsub, heartbeat_interval=heartbeat_interval, down_after=down_after
            )

        return ChildSpec(NAME, start, shutdown=2.0)


def node_name() -> str:
    """This node's name (its pubsub adapter's)."""
    return _current().node


def nodes() -> list[str]:
    """The other nodes that are up now, sorted (Erlang's ``nodes()``)."""
    return _current().peers.up()


def send(dest: tuple[str, str], message: Any) -> None:
    """Send ``message`` to the process registered as ``name`` on node ``node``.

    ``dest`` is ``(name, node)``, as Erlang's ``{Name, Node} ! Message``. Never blocks. On
    another node, the message crosses as tagged JSON (:class:`~trouper.pubsub.CodecError`
    here if it cannot) and is dropped there if nothing is registered under ``name``, or
    lost if the node is unreachable. On this node it is a local send, which raises
    :class:`~trouper.NameNotRegisteredError` for a free name, as Erlang's does.
    """
    name, node = dest
    server = _current()
    if node == server.node:
        trouper.send(name, message)
    else:
        pubsub.direct_broadcast(node, server.pubsub, TOPIC, RemoteSend(name, message))


def monitor(dest: tuple[str, str]) -> trouper.Ref:
    """Monitor the process registered as ``name`` on node ``node``; returns the ref.

    The caller gets ``Down(ref, (name, node), reason)`` once: with the process's exit
    reason (its ``repr`` if the reason cannot cross nodes), ``"noproc"`` if nothing is
    registered under the name, or ``"noconnection"`` if the node is not up or goes down.
    Works from reactive callbacks: it only sends a message to the cluster server.
    """
    name, node = dest
    server = _current()
    ref = trouper.make_ref()
    trouper.cast(server.me, MonitorRequest(ref, trouper.self(), name, node))
    return ref


def demonitor(ref: trouper.Ref) -> None:
    """Drop a remote monitor. A ``Down`` already sent for it may still be in the mailbox."""
    trouper.cast(_current().me, DemonitorRequest(ref))


def monitor_nodes(on: bool = True) -> None:
    """Have :class:`NodeUp` and :class:`NodeDown` sent to the caller (``on=False`` stops).

    Erlang's ``net_kernel:monitor_nodes/1``. The subscription ends with the caller.
    """
    trouper.cast(_current().me, NodeMonitorRequest(trouper.self(), on))
