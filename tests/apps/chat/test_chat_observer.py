"""The observer's data: the application's live tree, bounded, and its live channel topic."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import trio
from chat_helpers import WAIT, child, running_chat, walk

import trouper
from trouper.apps.chat import ChatConfig, snapshot
from trouper.apps.chat._observer import Snapshot
from trouper.channels.client import open_client

APP_CHILDREN = ["chat.pubsub", "chat.presence", "chat.history", "chat.observer", "chat.endpoint"]


async def test_the_snapshot_shows_the_applications_tree_and_the_nodes_process_counts() -> None:
    async with running_chat() as chat:
        data = await snapshot(chat.config)

        assert (data["application"], data["node"]) == ("chat", "nonode@nohost")
        assert data["nodes"] == []  # a single node runs no cluster server
        assert set(data["statistics"]) == {
            "processes",
            "reactive",
            "task",
            "runnable",
            "registered_names",
            "timers",
        }
        stats = data["statistics"]
        assert stats["processes"] == stats["reactive"] + stats["task"] > 0
        top = data["tree"]
        assert (top["name"], top["behaviour"]) == ("chat", "SupervisorServer")
        assert [entry["id"] for entry in top["children"]] == APP_CHILDREN
        assert child(top, "chat.history")["behaviour"] == "HistoryServer"
        endpoint = child(top, "chat.endpoint")
        assert [entry["id"] for entry in endpoint["children"]] == [
            "poller",
            "connections",
            "listener",
        ]
        assert json.loads(json.dumps(data)) == data  # plain data, ready for the page


async def test_each_connection_shows_the_channel_processes_it_started() -> None:
    async with (
        running_chat() as chat,
        open_client(chat.socket_url, {"user": "ann"}) as client,
    ):
        await client.join("rooms:lobby")
        await client.join("rooms:kitchen")

        data = await snapshot(chat.config)

        connections = child(child(data["tree"], "chat.endpoint"), "connections")
        [connection] = connections["children"]
        assert (connection["mode"], connection["restart"]) == ("reactive", "temporary")
        assert connection["linked_count"] == 2
        assert [entry["behaviour"] for entry in connection["linked"]] == ["RoomChannel"] * 2
        assert {entry["mode"] for entry in connection["linked"]} == {"reactive"}


async def test_a_large_supervisor_is_summarised_with_a_count_and_its_first_children() -> None:
    async with running_chat(ChatConfig(observer_children=5)) as chat, AsyncExitStack() as stack:
        for n in range(7):
            client = await stack.enter_async_context(open_client(chat.socket_url))
            await client.join("rooms:lobby", {"user": f"u{n}"})

        data = await snapshot(chat.config)

        connections = child(child(data["tree"], "chat.endpoint"), "connections")
        assert connections["child_count"] == 7
        assert len(connections["children"]) == 5
        assert (data["tree"]["child_count"], len(data["tree"]["children"])) == (5, 5)


async def test_a_page_on_observer_tree_gets_the_tree_at_once_and_again_as_it_changes() -> None:
    config = ChatConfig(observer_interval=0.05)
    async with (
        running_chat(config) as chat,
        open_client(chat.socket_url, {"user": "watcher"}) as watcher,
    ):
        observer = await watcher.join("observer:tree")
        assert observer.response == {"application": "chat"}
        _, first = await observer.receive("tree", timeout=WAIT)
        channels = [e for e in walk(first["tree"]) if e.get("behaviour") == "ObserverChannel"]
        assert len(channels) == 1  # the watcher sees itself

        async with open_client(chat.socket_url, {"user": "ann"}) as ann:
            await ann.join("rooms:lobby")
            while True:  # updates keep coming; wait for the one that shows ann's channel
                _, data = await observer.receive("tree", timeout=WAIT)
                if any(e.get("behaviour") == "RoomChannel" for e in walk(data["tree"])):
                    break


def observer_ticks(config: ChatConfig) -> int:
    info = trouper.process_info(trouper.whereis(config.observer))  # type: ignore[arg-type]
    assert info is not None
    return info.messages_handled


async def test_the_observer_ticks_while_someone_watches_and_stops_when_nobody_does(
    autojump_clock: Any,
) -> None:
    config = ChatConfig(observer_interval=0.1)
    async with running_chat(config):

        async def watcher() -> None:
            trouper.cast(config.observer, ("watch", trouper.self()))
            await trouper.receive(Snapshot)  # the tree at once
            await trouper.receive(lambda m: m == "stop")

        watching = trouper.spawn(watcher)
        await trio.sleep(1.0)  # virtual time
        ticks_while_watched = observer_ticks(config)
        trouper.send(watching, "stop")
        await trio.sleep(0.5)
        idle_from = observer_ticks(config)
        await trio.sleep(10.0)

        assert ticks_while_watched >= 10  # the watch, then a tick every 0.1 s
        assert observer_ticks(config) == idle_from  # no watcher: no ticks, no snapshots
