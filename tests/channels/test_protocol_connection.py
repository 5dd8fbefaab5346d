"""Connection: the per-socket rules of phoenix.md 2.6, one behaviour per test.

Frames are written out literally where the exact wire text is the point; ``send`` builds the
rest. Each test plays the server: it feeds frames, answers joins, and reads what the
connection wants written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trouper.channels.protocol import (
    CLIENT,
    JOIN_CRASHED,
    ChannelInfo,
    ChannelReplaced,
    Connection,
    HeartbeatReceived,
    JoinRequested,
    LeaveRequested,
    MalformedFrameError,
    ProtocolUsageError,
    PushReceived,
    V1JSONSerializer,
    V2JSONSerializer,
)

LOBBY = "rooms:lobby"


def frame(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> str:
    """A V2 text frame as phoenix.js writes it."""
    return json.dumps([join_ref, ref, topic, event, payload], separators=(",", ":"))


def v2(**options: Any) -> Connection:
    return Connection(V2JSONSerializer(), **options)


def joined(conn: Connection, topic: str = LOBBY, join_ref: str = "1") -> Connection:
    """Join ``topic`` with join_ref = ref = ``join_ref`` and accept it; clear the output."""
    conn.receive(frame(join_ref, join_ref, topic, "phx_join", {}))
    conn.join_ok(topic)
    conn.take_outgoing()
    return conn


# --- Heartbeat -----------------------------------------------------------------------------------


def test_heartbeat_gets_an_ok_reply_with_null_join_ref() -> None:
    conn = v2()
    assert conn.receive('[null,"4","phoenix","heartbeat",{}]') == [HeartbeatReceived("4")]
    assert conn.take_outgoing() == [
        '[null,"4","phoenix","phx_reply",{"status":"ok","response":{}}]'
    ]


def test_heartbeat_never_touches_channels() -> None:
    conn = joined(v2())
    conn.receive('["1","9","phoenix","heartbeat",{}]')
    assert dict(conn.channels) == {LOBBY: ChannelInfo("1")}


def test_take_outgoing_hands_each_frame_out_once() -> None:
    conn = v2()
    conn.receive('[null,"4","phoenix","heartbeat",{}]')
    assert len(conn.take_outgoing()) == 1
    assert conn.take_outgoing() == []


# --- Join ----------------------------------------------------------------------------------------


def test_join_asks_the_server_and_writes_nothing_yet() -> None:
    conn = v2()
    events = conn.receive('["1","1","rooms:lobby","phx_join",{"nick":"ann"}]')
    assert events == [JoinRequested(LOBBY, {"nick": "ann"}, "1", "1")]
    assert conn.pending_join == events[0]
    assert conn.take_outgoing() == []


def test_join_ok_records_the_channel_and_replies_ok() -> None:
    conn = v2()
    conn.receive('["1","1","rooms:lobby","phx_join",{}]')
    conn.join_ok(LOBBY, {"welcome": True})
    assert conn.take_outgoing() == [
        '["1","1","rooms:lobby","phx_reply",{"status":"ok","response":{"welcome":true}}]'
    ]
    assert dict(conn.channels) == {LOBBY: ChannelInfo("1", "joined")}
    assert conn.pending_join is None


def test_join_ok_without_a_response_replies_an_empty_map() -> None:
    conn = v2()
    conn.receive('["1","1","rooms:lobby","phx_join",{}]')
    conn.join_ok(LOBBY)
    assert conn.take_outgoing() == [
        '["1","1","rooms:lobby","phx_reply",{"status":"ok","response":{}}]'
    ]


def test_join_error_replies_error_and_records_nothing() -> None:
    conn = v2()
    conn.receive('["3","3","rooms:secret","phx_join",{}]')
    conn.join_error("rooms:secret", {"reason": "unauthorized"})
    assert conn.take_outgoing() == [
        '["3","3","rooms:secret","phx_reply",'
        '{"status":"error","response":{"reason":"unauthorized"}}]'
    ]
    assert dict(conn.channels) == {}


def test_a_crashed_join_is_answered_with_join_crashed() -> None:
    conn = v2()
    conn.receive('["1","1","rooms:lobby","phx_join",{}]')
    conn.join_error(LOBBY, {"reason": JOIN_CRASHED})
    assert conn.take_outgoing() == [
        '["1","1","rooms:lobby","phx_reply",'
        '{"status":"error","response":{"reason":"join crashed"}}]'
    ]


def test_the_join_reply_echoes_the_messages_own_join_ref() -> None:
    # phoenix.js always sets join_ref = ref; a client that sends null gets null back, while
    # the channel itself goes by the ref (Phoenix's channel server does the same).
    conn = v2()
    [event] = conn.receive('[null,"5","rooms:lobby","phx_join",{}]')
    assert event == JoinRequested(LOBBY, {}, "5", "5")
    conn.join_ok(LOBBY)
    assert conn.take_outgoing() == [
        '[null,"5","rooms:lobby","phx_reply",{"status":"ok","response":{}}]'
    ]
    assert conn.channels[LOBBY].join_ref == "5"


def test_a_join_without_a_route_gets_unmatched_topic_with_null_join_ref() -> None:
    conn = v2(has_route=lambda topic: topic.startswith("rooms:"))
    assert conn.receive('["5","5","nosuch:1","phx_join",{}]') == []
    assert conn.take_outgoing() == [
        '[null,"5","nosuch:1","phx_reply",'
        '{"status":"error","response":{"reason":"unmatched topic"}}]'
    ]
    assert conn.pending_join is None


def test_frames_wait_until_the_pending_join_is_answered() -> None:
    # Phoenix runs a join synchronously; the server answers before it reads the next frame.
    conn = v2()
    conn.receive('["1","1","rooms:lobby","phx_join",{}]')
    with pytest.raises(ProtocolUsageError, match="pending"):
        conn.receive('[null,"2","phoenix","heartbeat",{}]')


@pytest.mark.parametrize("topic", [LOBBY, "rooms:other"])
def test_answering_a_join_that_is_not_pending_is_a_usage_error(topic: str) -> None:
    conn = v2()
    with pytest.raises(ProtocolUsageError, match="no join"):
        conn.join_ok(topic)
    conn.receive('["1","1","rooms:lobby","phx_join",{}]')
    if topic != LOBBY:
        with pytest.raises(ProtocolUsageError, match="no join"):
            conn.join_error(topic, {})


# --- Max channels --------------------------------------------------------------------------------


def test_a_join_beyond_max_channels_gets_too_many_channels() -> None:
    conn = joined(joined(v2(max_channels=2), "a", "1"), "b", "2")
    assert conn.receive('["3","3","c","phx_join",{}]') == []
    assert conn.take_outgoing() == [
        '["3","3","c","phx_reply",'
        '{"status":"error","response":{"reason":"too many channels joined"}}]'
    ]
    assert set(conn.channels) == {"a", "b"}


def test_leaving_channels_count_toward_the_limit() -> None:
    conn = joined(v2(max_channels=1), "a", "1")
    conn.receive('["1","2","a","phx_leave",{}]')
    conn.take_outgoing()
    assert conn.receive('["3","3","c","phx_join",{}]') == []


def test_a_closed_channel_frees_its_slot() -> None:
    conn = joined(v2(max_channels=1), "a", "1")
    conn.channel_closed("a", "1")
    assert conn.receive('["3","3","c","phx_join",{}]') == [JoinRequested("c", {}, "3", "3")]


def test_the_route_is_checked_before_the_limit() -> None:
    conn = joined(v2(max_channels=1, has_route=lambda topic: topic != "nosuch"), "a", "1")
    conn.receive('["3","3","nosuch","phx_join",{}]')
    [reply] = conn.take_outgoing()
    assert "unmatched topic" in reply


def test_the_limit_defaults_to_phoenixs_100() -> None:
    conn = v2()
    for n in range(100):
        joined(conn, f"t{n}", str(n))
    conn.receive('["x","x","t100","phx_join",{}]')
    [reply] = conn.take_outgoing()
    assert "too many channels joined" in reply


# --- Duplicate join ------------------------------------------------------------------------------


def test_duplicate_join_replaces_the_old_channel_before_the_new_join() -> None:
    conn = joined(v2())
    events = conn.receive('["6","6","rooms:lobby","phx_join",{"nick":"ann"}]')
    assert events == [
        ChannelReplaced(LOBBY, "1"),
        JoinRequested(LOBBY, {"nick": "ann"}, "6", "6"),
    ]
    assert dict(conn.channels) == {}


def test_the_old_channels_close_goes_out_after_the_new_joins_reply() -> None:
    conn = joined(v2())
    conn.receive('["6","6","rooms:lobby","phx_join",{}]')
    assert conn.take_outgoing() == []
    conn.join_ok(LOBBY)
    assert conn.take_outgoing() == [
        '["6","6","rooms:lobby","phx_reply",{"status":"ok","response":{}}]',
        '["1","1","rooms:lobby","phx_close",{}]',
    ]
    assert dict(conn.channels) == {LOBBY: ChannelInfo("6")}


def test_the_old_channels_close_follows_a_refused_rejoin_too() -> None:
    conn = joined(v2())
    conn.receive('["6","6","rooms:lobby","phx_join",{}]')
    conn.join_error(LOBBY, {"reason": "unauthorized"})
    [reply, close] = conn.take_outgoing()
    assert '"status":"error"' in reply
    assert close == '["1","1","rooms:lobby","phx_close",{}]'
    assert dict(conn.channels) == {}


def test_a_duplicate_join_of_a_leaving_channel_replaces_it_too() -> None:
    conn = joined(v2())
    conn.receive('["1","2","rooms:lobby","phx_leave",{}]')
    conn.take_outgoing()
    assert conn.receive('["6","6","rooms:lobby","phx_join",{}]')[0] == ChannelReplaced(LOBBY, "1")


def test_the_replaced_channel_ending_late_changes_nothing() -> None:
    conn = joined(v2())
    conn.receive('["6","6","rooms:lobby","phx_join",{}]')
    conn.join_ok(LOBBY)
    conn.take_outgoing()
    assert conn.channel_crashed(LOBBY, "1") is False
    assert conn.channel_closed(LOBBY, "1") is False
    assert conn.take_outgoing() == []
    assert dict(conn.channels) == {LOBBY: ChannelInfo("6")}


# --- Messages to joined and unjoined topics ------------------------------------------------------


def test_a_push_to_a_joined_channel_reaches_the_server() -> None:
    conn = joined(v2())
    events = conn.receive('["1","2","rooms:lobby","new:msg",{"body":"hi"}]')
    assert events == [PushReceived(LOBBY, "new:msg", {"body": "hi"}, "1", "2")]
    assert conn.take_outgoing() == []


def test_a_push_with_null_join_ref_is_for_the_current_channel() -> None:
    # Phoenix: "a nil join_ref is valid on non-join messages" (V1 clients send none).
    conn = joined(v2())
    events = conn.receive('[null,"2","rooms:lobby","new:msg",{}]')
    assert events == [PushReceived(LOBBY, "new:msg", {}, "1", "2")]


def test_a_binary_push_reaches_the_server_as_bytes() -> None:
    conn = joined(v2())
    events = conn.receive(bytes([0, 1, 1, 11, 4]) + b"12rooms:lobbyfile" + b"\x00P")
    assert events == [PushReceived(LOBBY, "file", b"\x00P", "1", "2")]


def test_a_push_with_a_stale_join_ref_is_dropped_silently() -> None:
    conn = joined(v2(), join_ref="6")
    assert conn.receive('["1","2","rooms:lobby","new:msg",{}]') == []
    assert conn.take_outgoing() == []


def test_a_push_to_a_topic_without_a_channel_gets_unmatched_topic() -> None:
    conn = v2()
    assert conn.receive('["1","2","rooms:lobby","new:msg",{}]') == []
    assert conn.take_outgoing() == [
        '[null,"2","rooms:lobby","phx_reply",'
        '{"status":"error","response":{"reason":"unmatched topic"}}]'
    ]


# --- Leave ---------------------------------------------------------------------------------------


def test_leave_replies_ok_and_asks_the_server_to_stop_the_channel() -> None:
    conn = joined(v2(), join_ref="6")
    events = conn.receive('["6","7","rooms:lobby","phx_leave",{}]')
    assert events == [LeaveRequested(LOBBY, "6", "7")]
    assert conn.take_outgoing() == [
        '["6","7","rooms:lobby","phx_reply",{"status":"ok","response":{}}]'
    ]
    assert conn.channels[LOBBY] == ChannelInfo("6", "leaving")


def test_the_left_channel_closes_with_its_join_ref_as_ref() -> None:
    conn = joined(v2(), join_ref="6")
    conn.receive('["6","7","rooms:lobby","phx_leave",{}]')
    conn.take_outgoing()
    assert conn.channel_closed(LOBBY, "6") is True
    assert conn.take_outgoing() == ['["6","6","rooms:lobby","phx_close",{}]']
    assert dict(conn.channels) == {}


def test_messages_to_a_leaving_channel_are_dropped() -> None:
    conn = joined(v2())
    conn.receive('["1","2","rooms:lobby","phx_leave",{}]')
    conn.take_outgoing()
    assert conn.receive('["1","3","rooms:lobby","new:msg",{}]') == []
    assert conn.receive('["1","4","rooms:lobby","phx_leave",{}]') == []
    assert conn.take_outgoing() == []


def test_a_leave_with_a_stale_join_ref_is_ignored() -> None:
    conn = joined(v2(), join_ref="6")
    assert conn.receive('["1","7","rooms:lobby","phx_leave",{}]') == []
    assert conn.take_outgoing() == []
    assert conn.channels[LOBBY].status == "joined"


def test_a_leave_of_a_topic_without_a_channel_is_answered_ok() -> None:
    conn = v2()
    assert conn.receive('["3","4","rooms:lobby","phx_leave",{}]') == []
    assert conn.take_outgoing() == [
        '["3","4","rooms:lobby","phx_reply",{"status":"ok","response":{}}]'
    ]


# --- Commands from channels ----------------------------------------------------------------------


def test_a_channel_push_carries_its_join_ref_and_no_ref() -> None:
    conn = joined(v2())
    conn.push(LOBBY, "1", "presence_state", {"ann": {"metas": []}})
    assert conn.take_outgoing() == [
        '["1",null,"rooms:lobby","presence_state",{"ann":{"metas":[]}}]'
    ]


def test_a_channel_reply_answers_the_push_ref() -> None:
    conn = joined(v2())
    conn.reply(LOBBY, "1", "2", "ok", {"msg": "hi"})
    assert conn.take_outgoing() == [
        '["1","2","rooms:lobby","phx_reply",{"status":"ok","response":{"msg":"hi"}}]'
    ]


def test_a_binary_channel_push_and_reply_use_binary_frames() -> None:
    conn = joined(v2())
    conn.push(LOBBY, "1", "img", b"P")
    conn.reply(LOBBY, "1", "2", "ok", b"R")
    assert conn.take_outgoing() == [
        bytes([0, 1, 11, 3]) + b"1rooms:lobbyimgP",
        bytes([1, 1, 1, 11, 2]) + b"12rooms:lobbyokR",
    ]


def test_a_crashed_channel_sends_phx_error_and_is_forgotten() -> None:
    conn = joined(v2())
    assert conn.channel_crashed(LOBBY, "1") is True
    assert conn.take_outgoing() == [
        '["1","1","rooms:lobby","phx_error",{"reason":"channel_crash"}]'
    ]
    assert dict(conn.channels) == {}
    conn.receive('["1","2","rooms:lobby","new:msg",{}]')
    [reply] = conn.take_outgoing()
    assert "unmatched topic" in reply


def test_the_client_can_rejoin_after_a_crash() -> None:
    conn = joined(v2())
    conn.channel_crashed(LOBBY, "1")
    assert conn.receive('["6","6","rooms:lobby","phx_join",{}]') == [
        JoinRequested(LOBBY, {}, "6", "6")
    ]


def test_a_gracefully_stopped_channel_sends_phx_close() -> None:
    conn = joined(v2())
    assert conn.channel_closed(LOBBY, "1") is True
    assert conn.take_outgoing() == ['["1","1","rooms:lobby","phx_close",{}]']


def test_ending_a_channel_that_is_not_there_sends_nothing() -> None:
    conn = v2()
    assert conn.channel_closed(LOBBY, "1") is False
    assert conn.channel_crashed(LOBBY, "1") is False
    assert conn.take_outgoing() == []


# --- Errors, setup, V1 ---------------------------------------------------------------------------


def test_a_malformed_frame_raises_and_leaves_the_state_alone() -> None:
    conn = joined(v2())
    with pytest.raises(MalformedFrameError) as info:
        conn.receive('["1","2","rooms:lobby"]')
    assert info.value.close_code == 1007
    assert dict(conn.channels) == {LOBBY: ChannelInfo("1")}
    assert conn.take_outgoing() == []


def test_a_connection_needs_a_server_serializer() -> None:
    with pytest.raises(ProtocolUsageError, match="SERVER"):
        Connection(V2JSONSerializer(role=CLIENT))


def test_the_channels_view_is_read_only() -> None:
    conn = joined(v2())
    with pytest.raises(TypeError):
        conn.channels[LOBBY] = ChannelInfo("9")  # type: ignore[index]


def test_v1_uses_the_join_ref_internally_and_never_sends_it() -> None:
    conn = Connection(V1JSONSerializer())
    [join] = conn.receive(b'{"topic":"rooms:lobby","event":"phx_join","payload":{},"ref":"1"}')
    assert join == JoinRequested(LOBBY, {}, "1", "1")
    conn.join_ok(LOBBY)
    conn.channel_closed(LOBBY, "1")
    assert conn.take_outgoing() == [
        '{"topic":"rooms:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},'
        '"ref":"1"}',
        '{"topic":"rooms:lobby","event":"phx_close","payload":{},"ref":"1"}',
    ]


def test_v1_heartbeat() -> None:
    conn = Connection(V1JSONSerializer())
    conn.receive('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"9"}')
    assert conn.take_outgoing() == [
        '{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"9"}'
    ]


# --- The worked transcript (phoenix.md 2.9) ------------------------------------------------------


def test_the_worked_transcript_byte_for_byte() -> None:
    conn = Connection(V2JSONSerializer(), has_route=lambda topic: topic.startswith("rooms:"))
    written: list[str | bytes] = []

    def server_writes() -> None:
        written.extend(conn.take_outgoing())

    state = {"ann": {"metas": [{"online_at": "1700000000", "phx_ref": "F1x"}]}}

    assert conn.receive('["1","1","rooms:lobby","phx_join",{"nick":"ann"}]') == [
        JoinRequested(LOBBY, {"nick": "ann"}, "1", "1")
    ]
    conn.join_ok(LOBBY)
    conn.push(LOBBY, "1", "presence_state", state)
    server_writes()
    # A broadcast skips the connection: encoded once, written to every subscriber.
    written.append(
        conn.serializer.encode_broadcast(LOBBY, "presence_diff", {"joins": state, "leaves": {}})
    )

    [push] = conn.receive('["1","2","rooms:lobby","new:msg",{"body":"hi"}]')
    assert push == PushReceived(LOBBY, "new:msg", {"body": "hi"}, "1", "2")
    written.append(
        conn.serializer.encode_broadcast(LOBBY, "new:msg", {"user": "ann", "body": "hi"})
    )
    conn.reply(LOBBY, "1", "2", "ok", {"msg": "hi"})

    conn.receive('["3","3","rooms:secret","phx_join",{}]')
    conn.join_error("rooms:secret", {"reason": "unauthorized"})
    conn.receive('[null,"4","phoenix","heartbeat",{}]')
    conn.receive('["5","5","nosuch:1","phx_join",{}]')
    conn.channel_crashed(LOBBY, "1")
    conn.receive('["6","6","rooms:lobby","phx_join",{"nick":"ann"}]')
    conn.join_ok(LOBBY)
    [leave] = conn.receive('["6","7","rooms:lobby","phx_leave",{}]')
    assert leave == LeaveRequested(LOBBY, "6", "7")
    conn.channel_closed(LOBBY, "6")
    server_writes()

    meta = '{"metas":[{"online_at":"1700000000","phx_ref":"F1x"}]}'
    assert written == [
        '["1","1","rooms:lobby","phx_reply",{"status":"ok","response":{}}]',
        '["1",null,"rooms:lobby","presence_state",{"ann":' + meta + "}]",
        '[null,null,"rooms:lobby","presence_diff",{"joins":{"ann":' + meta + '},"leaves":{}}]',
        '[null,null,"rooms:lobby","new:msg",{"user":"ann","body":"hi"}]',
        '["1","2","rooms:lobby","phx_reply",{"status":"ok","response":{"msg":"hi"}}]',
        '["3","3","rooms:secret","phx_reply",'
        '{"status":"error","response":{"reason":"unauthorized"}}]',
        '[null,"4","phoenix","phx_reply",{"status":"ok","response":{}}]',
        '[null,"5","nosuch:1","phx_reply",'
        '{"status":"error","response":{"reason":"unmatched topic"}}]',
        '["1","1","rooms:lobby","phx_error",{"reason":"channel_crash"}]',
        '["6","6","rooms:lobby","phx_reply",{"status":"ok","response":{}}]',
        '["6","7","rooms:lobby","phx_reply",{"status":"ok","response":{}}]',
        '["6","6","rooms:lobby","phx_close",{}]',
    ]


# --- Property: any client behaviour keeps the invariants -----------------------------------------

topics = st.sampled_from(["phoenix", "a", "b", "c"])
client_actions = st.tuples(
    st.sampled_from(["heartbeat", "phx_join", "phx_leave", "new:msg"]),
    topics,
    st.none() | st.sampled_from(["1", "2", "3"]),  # join_refs collide on purpose
)
server_actions = st.sampled_from(["accept", "refuse", "close", "crash"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(client_actions, server_actions), max_size=30))
def test_any_exchange_keeps_the_limit_and_answers_each_join_once(
    exchange: list[tuple[tuple[str, str, str | None], str]],
) -> None:
    conn = Connection(V2JSONSerializer(), max_channels=2)
    client = V2JSONSerializer(role=CLIENT)
    for n, ((event, topic, join_ref), server) in enumerate(exchange):
        ref = f"r{n}"
        for ev in conn.receive(frame(join_ref, ref, topic, event, {})):
            if isinstance(ev, JoinRequested):
                if server == "accept":
                    conn.join_ok(ev.topic)
                else:
                    conn.join_error(ev.topic, {"reason": "no"})
        if server in ("close", "crash") and topic in conn.channels:
            end = conn.channel_closed if server == "close" else conn.channel_crashed
            assert end(topic, conn.channels[topic].join_ref) is True
        assert conn.pending_join is None
        assert len(conn.channels) <= 2
        replies = [
            message
            for message in map(client.decode, conn.take_outgoing())
            if message.event == "phx_reply"
        ]
        if event == "phx_join" or (event, topic) == ("heartbeat", "phoenix"):
            assert [message.ref for message in replies] == [ref]


def test_the_servers_handle_comes_back_with_the_channel_and_its_replacement() -> None:
    conn = v2()
    conn.receive(frame("1", "1", LOBBY, "phx_join", {}))
    conn.join_ok(LOBBY, handle="process-1")
    info = conn.channel(LOBBY)
    assert info is not None and (info.join_ref, info.handle) == ("1", "process-1")
    assert conn.channel("rooms:other") is None
    [replaced, _] = conn.receive(frame("2", "2", LOBBY, "phx_join", {}))
    assert replaced == ChannelReplaced(LOBBY, "1") and replaced.handle == "process-1"
    conn.join_ok(LOBBY, handle="process-2")
    conn.receive(frame("2", "3", LOBBY, "phx_leave", {}))
    info = conn.channel(LOBBY)
    assert info is not None and (info.status, info.handle) == ("leaving", "process-2")
