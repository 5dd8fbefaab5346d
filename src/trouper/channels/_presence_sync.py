"""Presence across nodes: each node owns its entries and replicates them (Phoenix.Tracker's way).

How this works
--------------
Every node's presence server (one per presence name) is a *replica*. It owns the entries
of its own processes; the other replicas hold copies, kept current by messages on the
pubsub topic ``trouper.presence:<name>`` (so any cluster adapter carries them):

* :class:`Delta`: one local change (joins and leaves on one topic), numbered by the
  owner's ``seq``. A replica applies a delta only if it is the next number it expects.
* :class:`Beat`: every ``broadcast_period``, the owner's ``seq``. A replica that is behind
  (it missed deltas: Redis was down, it just joined) sends a :class:`Request` to the owner,
  which answers with its whole :class:`State` (Phoenix's transfer_req / transfer_ack).
  Deltas and states from one owner travel through one Redis connection, in order, so a
  state answers everything numbered before it.
* A replica silent for ``down_period`` (its node died or is cut off) is dropped: its
  entries leave, and local clients get the ``presence_diff``. If it comes back, its state
  is requested again and its entries join again. A replica that restarted has a new
  incarnation: its old entries leave first. :class:`Goodbye` drops a replica at once.

Every node applies every change and broadcasts the resulting ``presence_diff`` to its own
subscribers only (``local_broadcast``): the diff does not cross nodes a second time.
"""

from __future__ import annotations

from typing import Any

import attrs

from trouper.pubsub import register_message_type

Metas = dict[str, Any]
KeyMetas = dict[str, list[Metas]]  # key -> metas
TopicState = dict[str, KeyMetas]  # topic -> key -> metas


def sync_topic(presence: str) -> str:
    """The pubsub topic the replicas of presence ``presence`` talk on."""
    return f"trouper.presence:{presence}"


@attrs.frozen(slots=True)
class Delta:
    node: str
    incarnation: str
    seq: int
    topic: str
    joins: KeyMetas
    leaves: KeyMetas


@attrs.frozen(slots=True)
class Beat:
    node: str
    incarnation: str
    seq: int


@attrs.frozen(slots=True)
class Request:
    node: str  # who asks: the state goes there


@attrs.frozen(slots=True)
class State:
    node: str
    incarnation: str
    seq: int
    state: TopicState


@attrs.frozen(slots=True)
class Goodbye:
    node: str
    incarnation: str


for _cls in (Delta, Beat, Request, State, Goodbye):
    register_message_type(_cls, f"trouper.presence.{_cls.__name__}")


@attrs.define
class Replica:
    """What this node knows of another node's entries."""

    incarnation: str
    seq: int = -1  # the last of its deltas applied here; -1: its state is still to come
    requested_at: float | None = None  # when its state was last asked for (None: not waiting)
    entries: TopicState = attrs.field(factory=dict)


def _refs(metas: list[Metas]) -> set[Any]:
    return {meta.get("phx_ref") for meta in metas}


def state_diff(old: TopicState, new: TopicState) -> dict[str, tuple[KeyMetas, KeyMetas]]:
    """Per topic, ``(joins, leaves)`` that turn ``old`` into ``new`` (metas told apart by
    their ``phx_ref``, as phoenix.js does)."""
    diffs: dict[str, tuple[KeyMetas, KeyMetas]] = {}
    for topic in old.keys() | new.keys():
        before, after = old.get(topic, {}), new.get(topic, {})
        joins: KeyMetas = {}
        leaves: KeyMetas = {}
        for key in before.keys() | after.keys():
            was, now = before.get(key, []), after.get(key, [])
            was_refs, now_refs = _refs(was), _refs(now)
            joined = [meta for meta in now if meta.get("phx_ref") not in was_refs]
            left = [meta for meta in was if meta.get("phx_ref") not in now_refs]
            if joined:
                joins[key] = joined
            if left:
                leaves[key] = left
        if joins or leaves:
            diffs[topic] = (joins, leaves)
    return diffs


def apply_delta(entries: TopicState, topic: str, joins: KeyMetas, leaves: KeyMetas) -> None:
    """Apply one owner's change to the copy of its entries."""
    keys = entries.setdefault(topic, {})
    for key, metas in leaves.items():
        gone = _refs(metas)
        kept = [meta for meta in keys.get(key, []) if meta.get("phx_ref") not in gone]
        if kept:
            keys[key] = kept
        else:
            keys.pop(key, None)
    for key, metas in joins.items():
        keys.setdefault(key, []).extend(metas)
    if not keys:
        del entries[topic]
