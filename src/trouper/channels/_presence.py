"""Presence: who is on each topic, in exactly the format phoenix.js's Presence expects.

``track`` (called by a channel, usually right after join) records a key (a user id) with
metadata for a process; every subscriber of the topic gets a ``presence_diff`` broadcast
(``{"joins": {key: {"metas": [...]}}, "leaves": {...}}``), and a joining client is sent
``list`` as ``presence_state``. Each meta carries a ``phx_ref`` (and ``phx_ref_prev`` after an
``update``), which phoenix.js uses to tell entries apart. When a tracked process exits, its
entries leave (the presence server monitors it) and the diff goes out.

The table lives in this node and is owned by the presence server process. It holds this
node's entries and copies of the other nodes' (``_presence_sync`` replicates them through
the pubsub's cluster adapter, as Phoenix.Tracker does). ``track``, ``untrack`` and
``update`` run in the caller, change the table at once and send one delta to the other
nodes; each node tells its own subscribers.
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
from collections.abc import Mapping
from typing import Any

import structlog
import trio

import trouper
from trouper import pubsub
from trouper.cluster import Heard, Peers
from trouper.supervision import ChildSpec

from ._fastlane import Broadcast, dispatcher
from ._presence_sync import (
    Beat,
    Delta,
    Goodbye,
    KeyMetas,
    Metas,
    Replica,
    Request,
    State,
    TopicState,
    apply_delta,
    state_diff,
    sync_topic,
)

log = structlog.get_logger("trouper.channels")

_refs = itertools.count(1)
# phx_refs must be unique across the cluster: 6 random bytes per OS process (a node), then
# a counter; 12 bytes, 16 characters, the size of Phoenix's.
_REF_PREFIX = os.urandom(6)


def _new_ref() -> str:
    raw = _REF_PREFIX + (next(_refs) % (1 << 48)).to_bytes(6, "big")
    return base64.urlsafe_b64encode(raw).decode()


class _Table:
    """topic -> key -> [(owner, meta)], and pid -> {(topic, key)} for cleanup.

    An owner is a local pid, or the name of the node whose replica the entry came from.
    """

    def __init__(self, name: str, pubsub_name: str) -> None:
        self.name = name
        self.pubsub = pubsub_name
        self.topics: dict[str, dict[str, list[tuple[trouper.Pid | str, Metas]]]] = {}
        self.by_pid: dict[trouper.Pid, set[tuple[str, str]]] = {}
        self.server: trouper.Pid | None = None
        self.node = pubsub.node_name(pubsub_name)
        self.incarnation = secrets.token_hex(8)
        self.seq = 0  # numbers this node's deltas

    def add(self, pid: trouper.Pid, topic: str, key: str, meta: Metas) -> None:
        self.topics.setdefault(topic, {}).setdefault(key, []).append((pid, meta))
        first = pid not in self.by_pid
        self.by_pid.setdefault(pid, set()).add((topic, key))
        if first and self.server is not None:
            trouper.cast(self.server, ("monitor", pid))

    def _keep(self, topic: str, key: str, kept: list[tuple[trouper.Pid | str, Metas]]) -> None:
        if kept:
            self.topics[topic][key] = kept
        elif key in self.topics.get(topic, {}):
            del self.topics[topic][key]
            if not self.topics[topic]:
                del self.topics[topic]

    def remove(self, pid: trouper.Pid, topic: str, key: str) -> list[Metas]:
        entries = self.topics.get(topic, {}).get(key, [])
        gone = [meta for owner, meta in entries if owner == pid]
        self._keep(topic, key, [(owner, meta) for owner, meta in entries if owner != pid])
        held = self.by_pid.get(pid)
        if held is not None:
            held.discard((topic, key))
            if not held:
                del self.by_pid[pid]
        return gone

    def local_state(self) -> TopicState:
        """This node's own entries (what another node asks for)."""
        state: TopicState = {}
        for pid, held in self.by_pid.items():
            for topic, key in held:
                metas = [meta for owner, meta in self.topics[topic][key] if owner == pid]
                state.setdefault(topic, {}).setdefault(key, []).extend(metas)
        return state

    def replicate(self, topic: str, joins: KeyMetas, leaves: KeyMetas) -> None:
        """Send a local change to the other nodes. Called before the table changes: a meta
        that cannot cross nodes raises here (CodecError), and nothing has changed."""
        if self.server is not None and (joins or leaves):
            delta = Delta(self.node, self.incarnation, self.seq + 1, topic, joins, leaves)
            pubsub.broadcast_from(self.pubsub, self.server, sync_topic(self.name), delta)
            self.seq += 1

    def diff(
        self, topic: str, joins: Mapping[str, list[Metas]], leaves: Mapping[str, list[Metas]]
    ) -> None:
        """Tell this node's subscribers of ``topic``."""
        payload = {
            "joins": {key: {"metas": metas} for key, metas in joins.items() if metas},
            "leaves": {key: {"metas": metas} for key, metas in leaves.items() if metas},
        }
        if payload["joins"] or payload["leaves"]:
            message = Broadcast(topic, "presence_diff", payload)
            pubsub.local_broadcast(self.pubsub, topic, message, dispatcher=dispatcher)

    def apply_remote(self, node: str, topic: str, joins: KeyMetas, leaves: KeyMetas) -> None:
        """Another node's change: into the table, then to the subscribers here."""
        keys = self.topics.setdefault(topic, {})
        for key, metas in leaves.items():
            gone = {meta.get("phx_ref") for meta in metas}
            entries = keys.get(key, [])
            kept = [(o, m) for o, m in entries if o != node or m.get("phx_ref") not in gone]
            self._keep(topic, key, kept)
        for key, metas in joins.items():
            self.topics.setdefault(topic, {}).setdefault(key, []).extend((node, m) for m in metas)
        if topic in self.topics and not self.topics[topic]:
            del self.topics[topic]
        self.diff(topic, joins, leaves)


_tables: dict[str, _Table] = {}


def _table(presence: str) -> _Table:
    table = _tables.get(presence)
    if table is None or table.server is None or not trouper.is_alive(table.server):
        raise LookupError(f"no presence server named {presence!r} is running")
    return table


class _Tick:
    __slots__ = ()


_TICK = _Tick()


class PresenceServer(trouper.GenServer):
    """Owns a presence table: watches tracked processes (untracking them when they exit)
    and keeps the copies of the other nodes' entries (see ``_presence_sync``)."""

    def init(
        self, name: str, pubsub_name: str, broadcast_period: float, down_period: float
    ) -> None:
        trouper.trap_exit(True)  # so terminate runs (and says goodbye) on shutdown
        self.table = _Table(name, pubsub_name)
        self.table.server = trouper.self()
        self.watched: set[trouper.Pid] = set()
        self.period = broadcast_period
        self.peers = Peers(down_period)
        self.replicas: dict[str, Replica] = {}
        _tables[name] = self.table
        pubsub.subscribe(pubsub_name, sync_topic(name))
        self._beat()
        trouper.send_after(self.period, trouper.self(), _TICK)

    def handle_cast(self, request: Any) -> None:
        if isinstance(request, tuple) and request[0] == "monitor":
            pid = request[1]
            if pid not in self.watched:  # `update` re-adds a pid: one monitor is enough
                self.watched.add(pid)
                trouper.monitor(pid)

    def handle_info(self, message: Any) -> None:
        table = self.table
        match message:
            case trouper.Down(pid=trouper.Pid() as pid):
                self.watched.discard(pid)
                for topic, key in sorted(table.by_pid.get(pid, set())):
                    leaves = {key: table.remove(pid, topic, key)}
                    table.replicate(topic, {}, leaves)
                    table.diff(topic, {}, leaves)
            case _Tick():
                self._beat()
                for node in self.peers.expire(trio.current_time()):
                    self._drop(node, "down")
                trouper.send_after(self.period, trouper.self(), _TICK)
            case Beat(node, incarnation, seq) if node != table.node:
                replica = self._heard(node, incarnation)
                if seq > replica.seq:
                    self._request(node, replica)
            case Delta(node, incarnation, seq, topic, joins, leaves) if node != table.node:
                replica = self._heard(node, incarnation)
                if replica.requested_at is None and seq == replica.seq + 1:
                    replica.seq = seq
                    apply_delta(replica.entries, topic, joins, leaves)
                    table.apply_remote(node, topic, joins, leaves)
                elif seq > replica.seq:
                    self._request(node, replica)  # a gap: deltas were lost
            case Request(node):
                state = State(table.node, table.incarnation, table.seq, table.local_state())
                pubsub.direct_broadcast(node, table.pubsub, sync_topic(table.name), state)
            case State(node, incarnation, seq, state) if node != table.node:
                replica = self._heard(node, incarnation)
                if seq >= replica.seq:
                    self._replace(node, replica, state)
                    replica.seq, replica.requested_at = seq, None
            case Goodbye(node, incarnation):
                if node in self.replicas and self.replicas[node].incarnation == incarnation:
                    self.peers.forget(node)
                    self._drop(node, "goodbye")

    def terminate(self, reason: Any) -> None:
        table = self.table
        if _tables.get(table.name) is table:
            del _tables[table.name]
        goodbye = Goodbye(table.node, table.incarnation)
        try:
            pubsub.broadcast_from(table.pubsub, trouper.self(), sync_topic(table.name), goodbye)
        except Exception:  # the pubsub may be gone already: the others time us out
            log.debug("presence_goodbye_not_sent", presence=table.name)

    # -- replicas --------------------------------------------------------------------------

    def _beat(self) -> None:
        table = self.table
        beat = Beat(table.node, table.incarnation, table.seq)
        pubsub.broadcast_from(table.pubsub, trouper.self(), sync_topic(table.name), beat)

    def _heard(self, node: str, incarnation: str) -> Replica:
        heard = self.peers.heard(node, incarnation, trio.current_time())
        replica = self.replicas.get(node)
        if heard is Heard.CHANGED and replica is not None:
            self._drop(node, "restarted")  # its old entries leave; its new state is asked for
            replica = None
        if replica is None:
            replica = self.replicas[node] = Replica(incarnation)
        return replica

    def _request(self, node: str, replica: Replica) -> None:
        now = trio.current_time()
        if replica.requested_at is not None and now - replica.requested_at < 2 * self.period:
            return  # asked recently: the answer may be on its way
        replica.requested_at = now
        table = self.table
        pubsub.direct_broadcast(node, table.pubsub, sync_topic(table.name), Request(table.node))

    def _replace(self, node: str, replica: Replica, state: TopicState) -> None:
        for topic, (joins, leaves) in sorted(state_diff(replica.entries, state).items()):
            self.table.apply_remote(node, topic, joins, leaves)
        replica.entries = state

    def _drop(self, node: str, why: str) -> None:
        replica = self.replicas.pop(node, None)
        if replica is None:
            return
        log.warning("presence_replica_down", presence=self.table.name, node=node, reason=why)
        for topic, keys in sorted(replica.entries.items()):
            self.table.apply_remote(node, topic, {}, keys)


class Presence:
    """``await Presence.start_link("presence", pubsub="chat")``, or ``Presence.child_spec``.

    One presence server per node, after its pubsub. In a cluster, every node runs one under
    the same name; ``broadcast_period`` (how often each tells the others its state's
    number) and ``down_period`` (silence after which a node's entries leave) should match
    across nodes.
    """

    @staticmethod
    async def start_link(
        name: str, pubsub: str, *, broadcast_period: float = 1.5, down_period: float = 15.0
    ) -> trouper.Pid:
        if not 0 < broadcast_period < down_period:
            raise ValueError("need 0 < broadcast_period < down_period")
        pid = await PresenceServer.start_link(
            name, pubsub, broadcast_period, down_period, name=name
        )
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(
        name: str, pubsub: str, *, broadcast_period: float = 1.5, down_period: float = 15.0
    ) -> ChildSpec:
        async def start() -> trouper.Pid:
            return await Presence.start_link(
                name, pubsub, broadcast_period=broadcast_period, down_period=down_period
            )

        return ChildSpec(name, start)


def track(presence: str, topic: str, key: str, meta: Mapping[str, Any] | None = None) -> str:
    """Record the calling process under ``key`` on ``topic``; returns the entry's phx_ref.

    In a cluster the meta crosses nodes: it must be JSON data (``CodecError`` otherwise,
    and nothing is tracked).
    """
    table = _table(presence)
    ref = _new_ref()
    entry = {**(meta or {}), "phx_ref": ref}
    table.replicate(topic, {key: [entry]}, {})
    table.add(trouper.self(), topic, key, entry)
    table.diff(topic, {key: [entry]}, {})
    return ref


def untrack(presence: str, topic: str, key: str) -> None:
    """Remove the calling process's entries under ``key`` on ``topic``."""
    table = _table(presence)
    leaves = {key: table.remove(trouper.self(), topic, key)}
    table.replicate(topic, {}, leaves)
    table.diff(topic, {}, leaves)


def update(presence: str, topic: str, key: str, meta: Mapping[str, Any]) -> str:
    """Replace the calling process's meta under ``key``; phoenix.js sees a leave and a join."""
    table = _table(presence)
    pid = trouper.self()
    old = [m for owner, m in table.topics.get(topic, {}).get(key, []) if owner == pid]
    ref = _new_ref()
    entry = {**meta, "phx_ref": ref}
    if old:
        entry["phx_ref_prev"] = old[-1]["phx_ref"]
    table.replicate(topic, {key: [entry]}, {key: old})
    table.remove(pid, topic, key)
    table.add(pid, topic, key, entry)
    table.diff(topic, {key: [entry]}, {key: old})
    return ref


def list_presences(presence: str, topic: str) -> dict[str, dict[str, list[Metas]]]:
    """``{key: {"metas": [meta, ...]}}`` for the topic: the ``presence_state`` payload."""
    table = _table(presence)
    return {
        key: {"metas": [meta for _, meta in entries]}
        for key, entries in table.topics.get(topic, {}).items()
    }
