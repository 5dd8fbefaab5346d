"""Registry: Elixir's unique/duplicate key registry, with entries removed on process exit."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trouper


async def _holder(registry: trouper.Registry, key: Any, value: Any = None) -> trouper.Pid:
    """Spawn a task process that registers ``key`` and then waits for a message to exit."""
    me = trouper.self()

    async def body() -> None:
        registry.register(key, value)
        trouper.send(me, ("registered", trouper.self()))
        await trouper.receive()

    pid = trouper.spawn(body)
    assert await trouper.receive(lambda m: m == ("registered", pid)) == ("registered", pid)
    return pid


async def test_unique_key_maps_to_the_registering_process() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        pid = await _holder(registry, "alice", {"room": 1})
        assert registry.lookup("alice") == [(pid, {"room": 1})]
        assert registry.whereis("alice") == pid
        assert registry.keys(pid) == ["alice"]


async def test_unique_key_taken_raises_already_registered_with_the_holder() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        pid = await _holder(registry, "alice")
        with pytest.raises(trouper.AlreadyRegisteredError) as info:
            registry.register("alice")
        assert info.value.pid == pid


async def test_unique_key_registered_twice_by_the_same_process_is_an_error() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        registry.register("me")
        with pytest.raises(trouper.AlreadyRegisteredError):
            registry.register("me")


async def test_duplicate_keys_allow_many_entries_even_from_one_process() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("duplicate")
        a = await _holder(registry, "topic", 1)
        registry.register("topic", 2)
        registry.register("topic", 3)
        me = trouper.self()
        assert sorted(registry.lookup("topic"), key=lambda e: e[1]) == [(a, 1), (me, 2), (me, 3)]
        assert registry.values("topic", me) == [2, 3]
        assert registry.count_key("topic") == 3
        assert registry.count() == 3


async def test_entries_vanish_when_the_process_exits_before_its_down_arrives() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        pid = await _holder(registry, "alice")
        ref = trouper.monitor(pid)
        trouper.exit(pid, "kill")
        down = await trouper.receive(trouper.Down)
        assert down == trouper.Down(ref, pid, "killed")
        # By the time the watcher hears of the death, the key is free to take.
        assert registry.lookup("alice") == []
        registry.register("alice")
        assert registry.whereis("alice") == trouper.self()


async def test_unregister_removes_only_the_callers_entries() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("duplicate")
        other = await _holder(registry, "topic", "theirs")
        registry.register("topic", "mine")
        registry.unregister("topic")
        assert registry.lookup("topic") == [(other, "theirs")]
        assert registry.keys(trouper.self()) == []


async def test_unregister_match_removes_matching_values() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("duplicate")
        for value in range(5):
            registry.register("n", value)
        registry.unregister_match("n", lambda v: v % 2 == 0)
        assert registry.values("n", trouper.self()) == [1, 3]


async def test_dispatch_calls_back_once_per_partition_with_entries() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("duplicate", partitions=4)
        pids = [await _holder(registry, "topic", n) for n in range(12)]
        batches: list[list[Any]] = []
        registry.dispatch("topic", batches.append)
        assert 0 < len(batches) <= 4
        expected = sorted(zip(pids, range(12), strict=True))
        assert sorted(e for batch in batches for e in batch) == expected
        for batch in batches:  # a partition holds the entries of the pids that hash to it
            assert len({pid.number % 4 for pid, _ in batch}) == 1
        called: list[Any] = []
        registry.dispatch("nobody", called.append)
        assert called == []


async def test_update_value_replaces_the_callers_value() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        registry.register("counter", 1)
        assert registry.update_value("counter", lambda v: v + 1) == (2, 1)
        assert registry.lookup("counter") == [(trouper.self(), 2)]
        assert registry.update_value("missing", lambda v: v) is None


async def test_send_reaches_the_holder_of_a_unique_key_and_fails_for_unknown_keys() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        registry.register("me")
        registry.send("me", "hello")
        assert await trouper.receive(timeout=0) == "hello"
        with pytest.raises(LookupError):
            registry.send("nobody", "hello")


async def test_match_and_count_match_filter_values() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("duplicate")
        for value in ("a1", "b1", "a2"):
            registry.register("k", value)
        me = trouper.self()
        assert registry.match("k", lambda v: v.startswith("a")) == [(me, "a1"), (me, "a2")]
        assert registry.count_match("k", lambda v: v.startswith("b")) == 1


async def test_meta_round_trips_and_missing_meta_is_a_key_error() -> None:
    async with trouper.open_node():
        registry = trouper.Registry("unique")
        registry.put_meta("owner", "chat")
        assert registry.meta("owner") == "chat"
        with pytest.raises(KeyError):
            registry.meta("absent")


async def test_registering_outside_a_process_is_refused() -> None:
    async with trouper.open_node() as _node, trio.open_nursery() as nursery:
        registry = trouper.Registry("unique")
        errors: list[BaseException] = []

        async def plain_task() -> None:
            try:
                registry.register("x")
            except trouper.NotInProcessError as exc:
                errors.append(exc)

        # A plain trio task started outside trouper is not a process.
        nursery.start_soon(plain_task)
    assert len(errors) == 1


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        trouper.Registry("many")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        trouper.Registry("unique", partitions=0)
