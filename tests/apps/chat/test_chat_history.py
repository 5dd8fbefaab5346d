"""RoomHistory: the store behind the join reply's history, bounded in messages and rooms."""

from __future__ import annotations

import pytest

from trouper.apps.chat._history import RoomHistory


def test_a_room_keeps_its_last_size_messages_oldest_first() -> None:
    store = RoomHistory(size=3, max_rooms=10)
    for n in range(5):
        store.record("rooms:a", "ann", f"m{n}")

    assert [m["body"] for m in store.recent("rooms:a")] == ["m2", "m3", "m4"]


def test_messages_get_increasing_ids_a_time_in_milliseconds_and_their_node() -> None:
    store = RoomHistory(size=3, max_rooms=10, node="node1")
    first = store.record("rooms:a", "ann", "x")
    second = store.record("rooms:b", "bob", "y")

    assert second["id"] > first["id"]
    assert first["at"] > 1_600_000_000_000
    expected = {"id": first["id"], "user": "ann", "body": "x", "at": first["at"], "node": "node1"}
    assert first == expected


def test_a_new_store_goes_on_numbering_so_a_page_never_sees_an_id_twice() -> None:
    before = RoomHistory(size=3, max_rooms=10).record("rooms:a", "ann", "x")
    after = RoomHistory(size=3, max_rooms=10).record("rooms:a", "ann", "y")  # a restart

    assert after["id"] > before["id"]


def test_a_message_from_another_node_is_kept_as_it_is_and_bounded_alike() -> None:
    store = RoomHistory(size=2, max_rooms=10, node="node1")
    theirs = {"id": 1, "user": "bob", "body": "hi", "at": 1_700_000_000_000, "node": "node2"}
    mine = store.record("rooms:a", "ann", "x")
    store.append("rooms:a", theirs)
    store.append("rooms:a", {**theirs, "id": 2})

    assert store.recent("rooms:a") == [theirs, {**theirs, "id": 2}]
    assert mine not in store.recent("rooms:a")


def test_an_unknown_room_has_no_history() -> None:
    assert RoomHistory(size=3, max_rooms=10).recent("rooms:nowhere") == []


def test_the_room_written_to_least_recently_is_dropped_beyond_max_rooms() -> None:
    store = RoomHistory(size=3, max_rooms=2)
    store.record("rooms:a", "ann", "a1")
    store.record("rooms:b", "ann", "b1")
    store.record("rooms:a", "ann", "a2")  # a is now the most recent
    store.record("rooms:c", "ann", "c1")

    assert store.recent("rooms:b") == []
    assert [m["body"] for m in store.recent("rooms:a")] == ["a1", "a2"]
    assert [m["body"] for m in store.recent("rooms:c")] == ["c1"]
    assert len(store.rooms) == 2


def test_size_zero_keeps_nothing_but_still_numbers_messages() -> None:
    store = RoomHistory(size=0, max_rooms=2)

    assert isinstance(store.record("rooms:a", "ann", "x")["id"], int)
    assert store.recent("rooms:a") == []
    assert store.rooms == {}


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        RoomHistory(size=-1, max_rooms=2)
    with pytest.raises(ValueError):
        RoomHistory(size=1, max_rooms=0)
