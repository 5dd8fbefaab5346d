"""The chat server end to end with the Python client: joins, history, messages, presence,
crash isolation, what Tsung sends, and the idle timeout. Real loopback sockets; every wait
is bounded."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from chat_helpers import WAIT, running_chat, walk
from structlog.testing import capture_logs

from trouper.apps.chat import ChatConfig, snapshot
from trouper.channels.client import ChannelClosedError, JoinError, open_client


async def test_a_join_is_answered_with_the_user_the_room_the_node_and_the_history() -> None:
    async with (
        running_chat(node_name="node-a") as chat,
        open_client(chat.socket_url, {"user": "ann"}) as client,
    ):
        lobby = await client.join("rooms:lobby")

        assert lobby.response == {"user": "ann", "room": "lobby", "node": "node-a", "history": []}


async def test_a_name_in_the_join_payload_wins_over_the_socket_param() -> None:
    async with running_chat() as chat, open_client(chat.socket_url, {"user": "ann"}) as client:
        lobby = await client.join("rooms:lobby", {"user": "  Ann   Lee "})

        assert lobby.response["user"] == "Ann Lee"


async def test_a_user_without_a_name_is_a_guest() -> None:
    async with running_chat() as chat, open_client(chat.socket_url) as client:
        lobby = await client.join("rooms:lobby")

        assert lobby.response["user"].startswith("guest-")


async def test_a_message_reaches_everyone_in_the_room_and_nobody_elsewhere() -> None:
    async with (
        running_chat() as chat,
        open_client(chat.socket_url, {"user": "ann"}) as ann_socket,
        open_client(chat.socket_url, {"user": "bob"}) as bob_socket,
    ):
        ann = await ann_socket.join("rooms:lobby")
        bob = await bob_socket.join("rooms:lobby")
        elsewhere = await bob_socket.join("rooms:kitchen")

        status, response = await ann.push("new_msg", {"body": "  hello bob  "})

        assert status == "ok"
        event, message = await bob.receive("new_msg", timeout=WAIT)
        assert event == "new_msg"
        assert message["id"] == response["id"]
        assert (message["user"], message["body"]) == ("ann", "hello bob")
        assert isinstance(message["at"], int)
        assert await ann.receive("new_msg", timeout=WAIT) == ("new_msg", message)
        await elsewhere.push("new_msg", {"body": "in the kitchen"})
        assert (await elsewhere.receive("new_msg", timeout=WAIT))[1]["body"] == "in the kitchen"
        await ann.push("new_msg", {"body": "next in the lobby"})
        # The lobby's next message is ann's: the kitchen's never reached the lobby.
        assert (await bob.receive("new_msg", timeout=WAIT))[1]["body"] == "next in the lobby"


async def test_an_empty_message_or_an_unknown_event_gets_an_error_reply() -> None:
    async with running_chat() as chat, open_client(chat.socket_url, {"user": "ann"}) as client:
        lobby = await client.join("rooms:lobby")

        assert await lobby.push("new_msg", {"body": "   "}) == (
            "error",
            {"reason": "a message needs a non-empty body"},
        )
        assert await lobby.push("new_msg", {"text": "no body"}) == (
            "error",
            {"reason": "a message needs a non-empty body"},
        )
        assert await lobby.push("dance", {}) == ("error", {"reason": "unknown event 'dance'"})


async def test_a_long_message_is_cut_to_max_body() -> None:
    async with (
        running_chat(ChatConfig(max_body=5)) as chat,
        open_client(chat.socket_url, {"user": "ann"}) as client,
    ):
        lobby = await client.join("rooms:lobby")
        await lobby.push("new_msg", {"body": "abcdefgh"})

        assert (await lobby.receive("new_msg", timeout=WAIT))[1]["body"] == "abcde"


async def test_a_room_name_that_is_not_a_word_is_refused() -> None:
    async with running_chat() as chat, open_client(chat.socket_url, {"user": "ann"}) as client:
        with pytest.raises(JoinError) as refused:
            await client.join("rooms:no spaces!")

        assert "room name" in refused.value.response["reason"]


async def test_a_joining_user_gets_the_rooms_last_messages_oldest_first() -> None:
    async with running_chat(ChatConfig(history=2)) as chat:
        async with open_client(chat.socket_url, {"user": "ann"}) as ann_socket:
            ann = await ann_socket.join("rooms:lobby")
            for body in ("one", "two", "three"):
                assert (await ann.push("new_msg", {"body": body}))[0] == "ok"

        async with open_client(chat.socket_url, {"user": "bob"}) as bob_socket:
            bob = await bob_socket.join("rooms:lobby")
            other = await bob_socket.join("rooms:other")

        assert [(m["user"], m["body"]) for m in bob.response["history"]] == [
            ("ann", "two"),
            ("ann", "three"),
        ]
        assert other.response["history"] == []


async def test_presence_lists_who_is_online_and_tells_everyone_who_comes_and_goes() -> None:
    async with (
        running_chat() as chat,
        open_client(chat.socket_url, {"user": "ann"}) as ann_socket,
    ):
        ann = await ann_socket.join("rooms:lobby")
        assert await ann.receive("presence_state", timeout=WAIT) == ("presence_state", {})
        _, diff = await ann.receive("presence_diff", timeout=WAIT)
        assert list(diff["joins"]) == ["ann"]

        async with open_client(chat.socket_url, {"user": "bob"}) as bob_socket:
            bob = await bob_socket.join("rooms:lobby")
            _, state = await bob.receive("presence_state", timeout=WAIT)
            assert list(state) == ["ann"]
            [meta] = state["ann"]["metas"]
            assert meta["node"] == "nonode@nohost" and "phx_ref" in meta
            _, diff = await ann.receive("presence_diff", timeout=WAIT)
            assert (list(diff["joins"]), diff["leaves"]) == (["bob"], {})

        _, diff = await ann.receive("presence_diff", timeout=WAIT)
        assert (diff["joins"], list(diff["leaves"])) == ({}, ["bob"])


def restart_counts(tree: dict[str, Any]) -> dict[str, int]:
    return {entry["pid"]: entry["restarts"] for entry in walk(tree) if "restarts" in entry}


@pytest.mark.parametrize(
    ("event", "payload"), [("new_msg", {"body": "/crash"}), ("crash", {})], ids=["/crash", "crash"]
)
async def test_a_crash_ends_only_that_users_channel_and_everyone_else_carries_on(
    event: str, payload: dict[str, Any]
) -> None:
    with capture_logs() as logs:
        async with (
            running_chat() as chat,
            open_client(chat.socket_url, {"user": "ann"}) as ann_socket,
            open_client(chat.socket_url, {"user": "bob"}) as bob_socket,
        ):
            ann = await ann_socket.join("rooms:lobby")
            bob = await bob_socket.join("rooms:lobby")
            before = await snapshot(chat.config)

            with pytest.raises(ChannelClosedError):
                await ann.push(event, payload)

            # ann sees the notice, then her channel's phx_error (phoenix.js would rejoin).
            _, notice = await ann.receive("notice", timeout=WAIT)
            assert notice["kind"] == "crash" and notice["user"] == "ann"
            assert await ann.receive("phx_error", timeout=WAIT) == (
                "phx_error",
                {"reason": "channel_crash"},
            )
            # bob is told, and his channel carries on: it still answers and receives.
            assert (await bob.receive("notice", timeout=WAIT))[1]["user"] == "ann"
            assert (await bob.push("new_msg", {"body": "still here"}))[0] == "ok"
            assert (await bob.receive("new_msg", timeout=WAIT))[1]["body"] == "still here"
            # ann's connection survived: she rejoins on it (as phoenix.js does) and talks.
            again = await ann_socket.join("rooms:lobby")
            assert [m["body"] for m in again.response["history"]] == ["still here"]
            await again.push("new_msg", {"body": "back"})
            assert (await bob.receive("new_msg", timeout=WAIT))[1]["body"] == "back"

            after = await snapshot(chat.config)

    # Nothing was restarted by a supervisor; only ann's channel process changed.
    assert set(restart_counts(after["tree"]).values()) == {0}
    assert set(restart_counts(before["tree"])) == set(restart_counts(after["tree"]))
    channels_before = {e["pid"] for e in walk(before["tree"]) if e["behaviour"] == "RoomChannel"}
    channels_after = {e["pid"] for e in walk(after["tree"]) if e["behaviour"] == "RoomChannel"}
    assert len(channels_before) == len(channels_after) == 2
    assert len(channels_before & channels_after) == 1  # bob's is the same process
    crashes = [entry for entry in logs if entry["event"] == "crash_report"]
    assert len(crashes) == 1
    assert crashes[0]["behaviour"] == "RoomChannel"
    assert "CrashRequested" in crashes[0]["reason"]


async def test_what_tsung_sends_is_accepted_v1_json_without_vsn_and_a_user_in_the_payload() -> None:
    async with running_chat() as chat, open_client(chat.socket_url, vsn=None) as client:
        lobby = await client.join("rooms:lobby", {"user": "tsung-17"})

        assert lobby.response["user"] == "tsung-17"
        assert (await lobby.push("new_msg", {"body": "from tsung"}))[0] == "ok"
        assert (await lobby.receive("new_msg", timeout=WAIT))[1]["body"] == "from tsung"


async def test_a_client_that_sends_nothing_is_closed_after_the_idle_timeout() -> None:
    async with (
        running_chat(idle_timeout=1.0) as chat,
        open_client(chat.socket_url, vsn=None, heartbeat_interval=None) as quiet,
        open_client(chat.socket_url, heartbeat_interval=0.3) as chatty,
    ):
        await quiet.join("rooms:lobby", {"user": "tsung-1"})
        await chatty.join("rooms:lobby")

        with trio.fail_after(WAIT):
            assert await quiet.wait_closed() == 1000
        assert not chatty.closed  # its heartbeats keep it open
