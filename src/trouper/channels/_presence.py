"""Presence: who is on each topic, in exactly the format phoenix.js's Presence expects.

``track`` (called by a channel, usually right after join) records a key (a user id) with
metadata for a process; every subscriber of the topic gets a ``presence_diff`` broadcast
(``{"joins": {key: {"metas": [...]}}, "leaves": {...}}``), and a joining client is sent
``list`` as ``presence_state``. Each meta carries a ``phx_ref`` (and ``phx_ref_prev`` after an
``update``), which phoenix.js uses to tell entries apart. When a tracked process exits, its
entries leave (the presence server monitors it) and the diff goes out.

The table lives in this node and is owned by the presence server process: per node now,
built so that a cluster adapter can carry diffs between nodes later (each node owns the
entries of its own processes, as Phoenix.Tracker does).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping
from typing import Any

import trouper
from trouper import pubsub
from trouper.supervision import ChildSpec

from ._fastlane import Broadcast, dispatcher

Metas = dict[str, Any]
_refs = itertools.count(1)


def _new_ref() -> str:
    return base64.urlsafe_b64encode(next(_refs).to_bytes(8, "big")).decode().rstrip("=")


class _Table:
    """topic -> key -> [(pid, meta)], and pid -> {(topic, key)} for cleanup."""

    def __init__(self, name: str, pubsub_name: str) -> None:
        self.name = name
        self.pubsub = pubsub_name
        self.topics: dict[str, dict[str, list[tuple[trouper.Pid, Metas]]]] = {}
        self.by_pid: dict[trouper.Pid, set[tuple[str, str]]] = {}
        self.server: trouper.Pid | None = None

    def add(self, pid: trouper.Pid, topic: str, key: str, meta: Metas) -> None:
        self.topics.setdefault(topic, {}).setdefault(key, []).append((pid, meta))
        first = pid not in self.by_pid
        self.by_pid.setdefault(pid, set()).add((topic, key))
        if first and self.server is not None:
            trouper.cast(self.server, ("monitor", pid))

    def remove(self, pid: trouper.Pid, topic: str, key: str) -> list[Metas]:
        entries = self.topics.get(topic, {}).get(key, [])
        gone = [meta for owner, meta in entries if owner == pid]
        kept = [(owner, meta) for owner, meta in entries if owner != pid]
        if kept:
            self.topics[topic][key] = kept
        elif key in self.topics.get(topic, {}):
            del self.topics[topic][key]
            if not self.topics[topic]:
                del self.topics[topic]
        held = self.by_pid.get(pid)
        if held is not None:
            held.discard((topic, key))
            if not held:
                del self.by_pid[pid]
        return gone

    def diff(
        self, topic: str, joins: Mapping[str, list[Metas]], leaves: Mapping[str, list[Metas]]
    ) -> None:
        payload = {
            "joins": {key: {"metas": metas} for key, metas in joins.items() if metas},
            "leaves": {key: {"metas": metas} for key, metas in leaves.items() if metas},
        }
        if payload["joins"] or payload["leaves"]:
            pubsub.broadcast(
                self.pubsub,
                topic,
                Broadcast(topic, "presence_diff", payload),
                dispatcher=dispatcher,
            )


_tables: dict[str, _Table] = {}


def _table(presence: str) -> _Table:
    table = _tables.get(presence)
    if table is None or table.server is None or not trouper.is_alive(table.server):
        raise LookupError(f"no presence server named {presence!r} is running")
    return table


class PresenceServer(trouper.GenServer):
    """Owns a presence table: watches tracked processes and untracks them when they exit."""

    def init(self, name: str, pubsub_name: str) -> None:
        self.table = _Table(name, pubsub_name)
        self.table.server = trouper.self()
        self.watched: set[trouper.Pid] = set()
        _tables[name] = self.table

    def handle_cast(self, request: Any) -> None:
        if isinstance(request, tuple) and request[0] == "monitor":
            pid = request[1]
            if pid not in self.watched:  # `update` re-adds a pid: one monitor is enough
                self.watched.add(pid)
                trouper.monitor(pid)

    def handle_info(self, message: Any) -> None:
        if type(message) is not trouper.Down or not isinstance(message.pid, trouper.Pid):
            return
        pid = message.pid
        self.watched.discard(pid)
        for topic, key in sorted(self.table.by_pid.get(pid, set())):
            self.table.diff(topic, {}, {key: self.table.remove(pid, topic, key)})

    def terminate(self, reason: Any) -> None:
        if _tables.get(self.table.name) is self.table:
            del _tables[self.table.name]


class Presence:
    """``await Presence.start_link("presence", pubsub="chat")``, or ``Presence.child_spec``."""

    @staticmethod
    async def start_link(name: str, pubsub: str) -> trouper.Pid:
        pid = await PresenceServer.start_link(name, pubsub, name=name)
        assert pid is not None
        return pid

    @staticmethod
    def child_spec(name: str, pubsub: str) -> ChildSpec:
        return ChildSpec(name, Presence.start_link, (name, pubsub))


def track(presence: str, topic: str, key: str, meta: Mapping[str, Any] | None = None) -> str:
    """Record the calling process under ``key`` on ``topic``; returns the entry's phx_ref."""
    table = _table(presence)
    ref = _new_ref()
    entry = {**(meta or {}), "phx_ref": ref}
    table.add(trouper.self(), topic, key, entry)
    table.diff(topic, {key: [entry]}, {})
    return ref


def untrack(presence: str, topic: str, key: str) -> None:
    """Remove the calling process's entries under ``key`` on ``topic``."""
    table = _table(presence)
    table.diff(topic, {}, {key: table.remove(trouper.self(), topic, key)})


def update(presence: str, topic: str, key: str, meta: Mapping[str, Any]) -> str:
    """Replace the calling process's meta under ``key``; phoenix.js sees a leave and a join."""
    table = _table(presence)
    pid = trouper.self()
    old = table.remove(pid, topic, key)
    ref = _new_ref()
    entry = {**meta, "phx_ref": ref}
    if old:
        entry["phx_ref_prev"] = old[-1]["phx_ref"]
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
