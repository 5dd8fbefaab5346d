"""The failure detector on its own: pure, the time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trouper.cluster import Heard, Peers


def test_a_peer_is_up_from_its_first_heartbeat_until_it_is_silent_for_down_after() -> None:
    peers = Peers(down_after=5.0)
    assert peers.heard("b", ("i1", 0), now=10.0) is Heard.NEW
    assert peers.heard("b", ("i1", 0), now=12.0) is Heard.SAME
    assert peers.expire(now=16.9) == []
    assert peers.up() == ["b"]
    assert peers.expire(now=17.0) == ["b"]
    assert peers.up() == [] and "b" not in peers


def test_a_new_identity_is_a_changed_link_not_a_new_peer() -> None:
    peers = Peers(down_after=5.0)
    peers.heard("b", ("i1", 0), now=0.0)
    assert peers.heard("b", ("i1", 1), now=1.0) is Heard.CHANGED
    assert peers.identity("b") == ("i1", 1)
    assert peers.heard("b", ("i2", 0), now=2.0) is Heard.CHANGED


def test_goodbye_and_losing_everyone() -> None:
    peers = Peers(down_after=5.0)
    for node in ("c", "b", "d"):
        peers.heard(node, 1, now=0.0)
    assert peers.forget("c") and not peers.forget("c")
    assert peers.forget_all() == ["b", "d"]
    assert len(peers) == 0


def test_down_after_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Peers(down_after=0)


@given(st.lists(st.tuples(st.sampled_from("bcd"), st.floats(0, 100)), max_size=30))
def test_expire_keeps_exactly_the_peers_heard_within_down_after(
    beats: list[tuple[str, float]],
) -> None:
    peers = Peers(down_after=5.0)
    last: dict[str, float] = {}
    for node, when in beats:
        peers.heard(node, 0, now=when)
        last[node] = max(last.get(node, when), when)
    gone = peers.expire(now=50.0)
    assert gone == sorted(node for node, t in last.items() if t <= 45.0)
    assert peers.up() == sorted(node for node, t in last.items() if t > 45.0)
