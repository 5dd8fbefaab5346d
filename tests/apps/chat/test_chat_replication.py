"""What one chat node sends to the others and takes from them, seen at the adapter boundary.

The application runs in the test's node on a ``RecordingAdapter``: a single-node adapter
that keeps what the pubsub hands it for other nodes. What another node would send is
delivered as the Redis adapter delivers it, with ``local_broadcast``. (Real nodes linked
through Redis: test_chat_nodes.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from chat_helpers import WAIT, running_chat
from structlog.testing import capture_logs

import trouper
from trouper import pubsub
from trouper.apps.chat import ChatConfig, snapshot
from trouper.apps.chat._history import Recorded, recent
from trouper.channels import Broadcast
from trouper.channels.client import open_client
from waiting import wait_until

THEIRS = {"id": 7, "user": "bob", "body": "from node-b", "at": 1_700_000_000_000, "node": "node-b"}


class RecordingAdapter(pubsub.LocalAdapter):
    """No other nodes, but every broadcast meant for them is kept: (topic, message)."""

    def __init__(self, node_name: str) -> None:
        super().__init__(node_name)
        self.sent: list[tuple[str, Any]] = []

    def broadcast(self, topic: str, message: Any, dispatcher: str) -> None:
        self.sent.append((topic, message))


async def test_a_message_said_here_goes_to_the_other_nodes_histories_once() -> None:
    adapter = RecordingAdapter("node-a")
    async with (
        running_chat(pubsub_adapter=adapter) as chat,
        open_client(chat.socket_url) as ann,
    ):
        lobby = await ann.join("rooms:lobby", {"user": "ann"})
        await lobby.push("new_msg", {"body": "hello"})
        _, message = await lobby.receive("new_msg", timeout=WAIT)

    assert message["node"] == "node-a"
    records = [m for topic, m in adapter.sent if topic == "chat.history"]
    assert records == [Recorded("rooms:lobby", message)]
    assert pubsub.decode_message(pubsub.encode_message(records[0])) == records[0]  # crosses
    rooms = [m for topic, m in adapter.sent if topic == "rooms:lobby"]
    assert [(m.event, m.payload) for m in rooms if isinstance(m, Broadcast)] == [
        ("new_msg", message)
    ]


async def test_a_message_said_on_another_node_joins_this_nodes_room_history() -> None:
    async with running_chat(node_name="node-a") as chat, open_client(chat.socket_url) as ann:
        lobby = await ann.join("rooms:lobby", {"user": "ann"})
        await lobby.push("new_msg", {"body": "mine"})
        pubsub.local_broadcast(chat.config.pubsub, "chat.history", Recorded("rooms:lobby", THEIRS))
        await wait_until(lambda: len(recent(chat.config.history_store, "rooms:lobby")) == 2)

        again = await ann.join("rooms:lobby", {"user": "ann"})
        history = [(m["body"], m["node"]) for m in again.response["history"]]
        assert history == [("mine", "node-a"), ("from node-b", "node-b")]


@pytest.mark.parametrize(
    "bad",
    [
        Recorded("rooms:lobby", {**THEIRS, "id": "7"}),
        Recorded("rooms:lobby", {"body": "no other fields"}),
        Recorded("rooms:lobby", [1, 2]),  # type: ignore[arg-type]
        Recorded(None, THEIRS),  # type: ignore[arg-type]
    ],
    ids=["id-not-int", "fields-missing", "not-a-dict", "topic-not-str"],
)
async def test_a_malformed_message_from_another_node_is_logged_and_dropped(bad: Any) -> None:
    config = ChatConfig()
    with capture_logs() as logs:
        async with running_chat(config) as chat:
            owner = trouper.whereis(config.history_store)
            pubsub.local_broadcast(config.pubsub, "chat.history", bad)
            pubsub.local_broadcast(config.pubsub, "chat.history", Recorded("rooms:x", THEIRS))
            await wait_until(lambda: recent(chat.config.history_store, "rooms:x") == [THEIRS])
            assert trouper.whereis(config.history_store) == owner  # not restarted
            assert recent(chat.config.history_store, "rooms:lobby") == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["history_bad_message"]


async def test_the_observer_shows_its_own_tree_to_its_own_pages_only() -> None:
    adapter = RecordingAdapter("node-a")
    config = ChatConfig(observer_interval=0.05)
    async with (
        running_chat(config, pubsub_adapter=adapter) as chat,
        open_client(chat.socket_url) as watcher,
    ):
        observer = await watcher.join("observer:tree")
        for _ in range(3):  # the first tree, then updates broadcast on observer:tree
            _, tree = await observer.receive("tree", timeout=WAIT)
            assert (tree["node"], tree["nodes"]) == ("node-a", [])
        lobby = await watcher.join("rooms:lobby")
        await lobby.push("new_msg", {"body": "this one crosses"})
        await lobby.receive("new_msg", timeout=WAIT)

    topics = {topic for topic, _ in adapter.sent}
    assert "observer:tree" not in topics
    assert "rooms:lobby" in topics


async def test_with_the_cluster_server_the_snapshot_lists_the_other_nodes() -> None:
    async with running_chat(cluster=True, node_name="node-a") as chat:
        data = await snapshot(chat.config)
    assert (data["node"], data["nodes"]) == ("node-a", [])  # a cluster of one
    ids = [entry["id"] for entry in data["tree"]["children"]]
    assert ids[:3] == ["chat.pubsub", "trouper.cluster", "chat.presence"]
