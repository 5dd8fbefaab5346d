"""Serializers: exact wire text and bytes (phoenix.md 2.2-2.4), and every malformed input class.

A ``SERVER`` serializer decodes what clients send and encodes what servers send; a ``CLIENT``
serializer does the reverse, as phoenix.js does, so the tests read frames the way the client
would.
"""

from __future__ import annotations

import pytest

from trouper.channels.protocol import (
    CLIENT,
    BinaryFrameError,
    FrameTooLargeError,
    MalformedFrameError,
    Message,
    ProtocolError,
    ProtocolUsageError,
    Reply,
    UnsupportedVersionError,
    V1JSONSerializer,
    V2JSONSerializer,
    serializer_for_vsn,
)

V2 = V2JSONSerializer()
V2_CLIENT = V2JSONSerializer(role=CLIENT)
V1 = V1JSONSerializer()
V1_CLIENT = V1JSONSerializer(role=CLIENT)

LOBBY = b"rooms:lobby"


# --- V2 JSON --------------------------------------------------------------------------------------


def test_v2_decodes_a_join_from_the_transcript() -> None:
    frame = '["1","1","rooms:lobby","phx_join",{"nick":"ann"}]'
    assert V2.decode(frame) == Message("1", "1", "rooms:lobby", "phx_join", {"nick": "ann"})


def test_v2_decodes_a_heartbeat_with_null_join_ref() -> None:
    frame = '[null,"4","phoenix","heartbeat",{}]'
    assert V2.decode(frame) == Message(None, "4", "phoenix", "heartbeat", {})


def test_v2_ignores_elements_after_the_fifth() -> None:
    frame = '["1","2","rooms:lobby","new:msg",{"body":"hi"},"extra",42]'
    assert V2.decode(frame) == Message("1", "2", "rooms:lobby", "new:msg", {"body": "hi"})


@pytest.mark.parametrize("payload", ["[1,2]", '"text"', "null", "3.5", "true"])
def test_v2_accepts_any_json_payload_for_an_ordinary_push(payload: str) -> None:
    # phoenix.js lets channel.push send any JSON value; Phoenix forwards it to handle_in.
    message = V2.decode(f'["1","2","t","ev",{payload}]')
    assert message.event == "ev"


def test_v2_encodes_a_reply_exactly_as_phoenix() -> None:
    reply = Reply("1", "1", "rooms:lobby", "ok", {})
    assert V2.encode(reply) == '["1","1","rooms:lobby","phx_reply",{"status":"ok","response":{}}]'


def test_v2_encodes_a_channel_push_with_null_ref() -> None:
    message = Message("1", None, "rooms:lobby", "presence_state", {"ann": {"metas": []}})
    assert V2.encode(message) == '["1",null,"rooms:lobby","presence_state",{"ann":{"metas":[]}}]'


def test_v2_writes_non_ascii_text_as_is() -> None:
    # Phoenix (Jason) writes UTF-8, not \\u escapes; the frame stays small.
    assert V2.encode(Message(None, None, "t", "e", {"body": "héllo ☃"})) == (
        '[null,null,"t","e",{"body":"héllo ☃"}]'
    )


def test_v2_broadcast_is_the_fastlane_array_with_null_refs() -> None:
    frame = V2.encode_broadcast("rooms:lobby", "new:msg", {"user": "ann", "body": "hi"})
    assert frame == '[null,null,"rooms:lobby","new:msg",{"user":"ann","body":"hi"}]'


def test_v2_client_encodes_the_array_phoenix_js_sends() -> None:
    message = Message("1", "2", "rooms:lobby", "new:msg", {"body": "hi"})
    assert V2_CLIENT.encode(message) == '["1","2","rooms:lobby","new:msg",{"body":"hi"}]'


def test_reply_reads_back_from_a_decoded_message() -> None:
    frame = '["3","3","rooms:secret","phx_reply",{"status":"error","response":{"reason":"x"}}]'
    reply = Reply.from_message(V2_CLIENT.decode(frame))
    assert reply == Reply("3", "3", "rooms:secret", "error", {"reason": "x"})


def test_reply_from_message_rejects_other_events() -> None:
    with pytest.raises(ValueError, match="not a phx_reply"):
        Reply.from_message(Message(None, None, "t", "new:msg", {"status": "ok", "response": {}}))


# --- V2 binary (phoenix.md 2.4) ---------------------------------------------------------------


def test_binary_client_push_decodes_the_spec_example() -> None:
    frame = bytes([0, 1, 1, 11, 4]) + b"12" + LOBBY + b"file" + b"\x00\xffP"
    assert V2.decode(frame) == Message("1", "2", "rooms:lobby", "file", b"\x00\xffP")


def test_binary_client_push_encodes_the_spec_example() -> None:
    message = Message("1", "2", "rooms:lobby", "file", b"P")
    assert V2_CLIENT.encode(message) == bytes([0, 1, 1, 11, 4]) + b"12" + LOBBY + b"fileP"


def test_binary_broadcast_encodes_the_spec_example() -> None:
    frame = V2.encode_broadcast("rooms:lobby", "img", b"P")
    assert frame == bytes([2, 11, 3]) + LOBBY + b"imgP"


def test_binary_server_push_has_three_lengths_and_no_ref() -> None:
    frame = V2.encode(Message("1", None, "rooms:lobby", "img", b"P"))
    assert frame == bytes([0, 1, 11, 3]) + b"1" + LOBBY + b"imgP"


def test_binary_reply_puts_the_status_in_the_event_slot() -> None:
    frame = V2.encode(Reply("1", "2", "rooms:lobby", "ok", b"R"))
    assert frame == bytes([1, 1, 1, 11, 2]) + b"12" + LOBBY + b"okR"


def test_binary_reply_decodes_as_phoenix_js_does() -> None:
    frame = bytes([1, 1, 1, 11, 2]) + b"12" + LOBBY + b"okR"
    message = V2_CLIENT.decode(frame)
    assert message == Message(
        "1", "2", "rooms:lobby", "phx_reply", {"status": "ok", "response": b"R"}
    )


def test_binary_null_refs_travel_as_empty_fields() -> None:
    frame = V2.encode(Message(None, None, "t", "e", b""))
    assert frame == bytes([0, 0, 1, 1]) + b"te"
    assert V2_CLIENT.decode(frame) == Message(None, None, "t", "e", b"")


def test_binary_frames_may_be_bytearray_or_memoryview() -> None:
    frame = bytes([0, 1, 1, 1, 1]) + b"12te" + b"P"
    expected = Message("1", "2", "t", "e", b"P")
    assert V2.decode(bytearray(frame)) == expected
    assert V2.decode(memoryview(frame)) == expected


def test_binary_field_over_255_bytes_is_a_usage_error() -> None:
    with pytest.raises(ProtocolUsageError, match="topic is 256 bytes"):
        V2.encode_broadcast("t" * 256, "e", b"")


def test_binary_server_push_with_a_ref_is_a_usage_error() -> None:
    with pytest.raises(ProtocolUsageError, match="no ref"):
        V2.encode(Message("1", "2", "t", "e", b"P"))


# --- V1 JSON ------------------------------------------------------------------------------------


def test_v1_decodes_the_tsung_join() -> None:
    frame = '{"topic":"rooms:lobby","event":"phx_join","payload":{"user":"u1"},"ref":"1"}'
    assert V1.decode(frame) == Message(None, "1", "rooms:lobby", "phx_join", {"user": "u1"})


def test_v1_reads_an_optional_join_ref() -> None:
    frame = '{"topic":"t","event":"e","payload":{},"ref":"2","join_ref":"1"}'
    assert V1.decode(frame) == Message("1", "2", "t", "e", {})


def test_v1_decodes_json_sent_in_a_binary_frame() -> None:
    # Tsung sends binary frames unless told frame="text"; Phoenix's V1 decoder ignores opcodes.
    frame = b'{"topic":"t","event":"phx_join","payload":{},"ref":"1"}'
    assert V1.decode(frame) == Message(None, "1", "t", "phx_join", {})


def test_v1_reply_has_exactly_topic_event_payload_ref() -> None:
    frame = V1.encode(Reply("1", "1", "rooms:lobby", "ok", {}))
    assert frame == (
        '{"topic":"rooms:lobby","event":"phx_reply",'
        '"payload":{"status":"ok","response":{}},"ref":"1"}'
    )


def test_v1_never_sends_join_ref() -> None:
    frame = V1.encode(Message("1", None, "t", "e", {}))
    assert frame == '{"topic":"t","event":"e","payload":{},"ref":null}'


def test_v1_broadcast_carries_a_null_ref() -> None:
    assert V1.encode_broadcast("t", "e", {"a": 1}) == (
        '{"topic":"t","event":"e","payload":{"a":1},"ref":null}'
    )


def test_v1_client_sends_join_ref_only_when_it_has_one() -> None:
    assert V1_CLIENT.encode(Message(None, "1", "t", "e", {})) == (
        '{"topic":"t","event":"e","payload":{},"ref":"1"}'
    )
    assert V1_CLIENT.encode(Message("1", "2", "t", "e", {})) == (
        '{"topic":"t","event":"e","payload":{},"ref":"2","join_ref":"1"}'
    )


@pytest.mark.parametrize(
    "send",
    [
        lambda: V1.encode(Message(None, None, "t", "e", b"P")),
        lambda: V1.encode(Reply(None, "1", "t", "ok", b"R")),
        lambda: V1.encode_broadcast("t", "e", b"P"),
        lambda: V1_CLIENT.encode(Message(None, "1", "t", "e", b"P")),
    ],
)
def test_v1_has_no_binary_payloads(send: object) -> None:
    with pytest.raises(ProtocolUsageError, match="no binary"):
        send()  # type: ignore[operator]


# --- Malformed input: the peer's fault -----------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "[",
        "not json",
        '["1","1","t","e",{}',
        '["1","1","t","e",NaN]',
        '["1","1","t","e",{"x":Infinity}]',
        '["1","1","t","e",{"x":-Infinity}]',
        '["1","1","t","e",{"x":1e999}]',
        '["1","1","t","e",{"x":' + "9" * 5000 + "}]",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["empty", "open", "words", "unclosed", "nan", "inf", "-inf", "1e999", "bigint", "deep"],
)
def test_invalid_json_is_malformed(frame: str) -> None:
    with pytest.raises(MalformedFrameError, match="invalid JSON"):
        V2.decode(frame)


def test_a_lone_surrogate_escape_is_malformed() -> None:
    # Python would decode it to a string that cannot be written back as UTF-8.
    with pytest.raises(MalformedFrameError, match="surrogate"):
        V2.decode('["1","1","t","e",{"x":"\\ud800"}]')


def test_an_escaped_surrogate_pair_is_fine() -> None:
    message = V2.decode('["1","1","t","e",{"x":"\\ud83d\\ude00"}]')
    assert message.payload == {"x": "\U0001f600"}


def test_a_text_frame_with_a_raw_lone_surrogate_is_malformed() -> None:
    with pytest.raises(MalformedFrameError, match="UTF-8"):
        V2.decode('["1","1","t","e",{"x":"\ud800"}]')


@pytest.mark.parametrize(
    "frame",
    ["{}", '"text"', "5", "null", '["1","1","t","e"]', "[]"],
    ids=["object", "string", "number", "null", "four", "empty"],
)
def test_v2_wrong_shape_is_malformed(frame: str) -> None:
    with pytest.raises(MalformedFrameError, match="JSON array"):
        V2.decode(frame)


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ('["1","1",5,"e",{}]', "topic"),
        ('["1","1",null,"e",{}]', "topic"),
        ('["1","1","t",["e"],{}]', "event"),
        ('[1,"1","t","e",{}]', "join_ref"),
        ('["1",2,"t","e",{}]', "ref"),
        ('["1",{},"t","e",{}]', "ref"),
    ],
)
def test_v2_wrong_field_types_are_malformed(frame: str, field: str) -> None:
    with pytest.raises(MalformedFrameError, match=field):
        V2.decode(frame)


@pytest.mark.parametrize("payload", ["[]", '"x"', "null", "1"])
def test_a_join_payload_must_be_an_object(payload: str) -> None:
    with pytest.raises(MalformedFrameError, match="phx_join payload"):
        V2.decode(f'["1","1","t","phx_join",{payload}]')


def test_a_binary_join_is_malformed() -> None:
    frame = bytes([0, 1, 1, 1, 8]) + b"11tphx_join" + b"P"
    with pytest.raises(MalformedFrameError, match="phx_join payload"):
        V2.decode(frame)


@pytest.mark.parametrize(
    "frame",
    ["[]", '"x"', "null", '{"event":"e","payload":{},"ref":"1"}'],
    ids=["array", "string", "null", "no-topic"],
)
def test_v1_wrong_shape_is_malformed(frame: str) -> None:
    with pytest.raises(MalformedFrameError, match="V1 message"):
        V1.decode(frame)


@pytest.mark.parametrize("missing", ["topic", "event", "payload", "ref"])
def test_v1_every_key_but_join_ref_is_required(missing: str) -> None:
    fields = {"topic": '"t"', "event": '"e"', "payload": "{}", "ref": '"1"'}
    del fields[missing]
    frame = "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"
    with pytest.raises(MalformedFrameError, match=f"lacks {missing}"):
        V1.decode(frame)


def test_v1_field_types_are_checked() -> None:
    with pytest.raises(MalformedFrameError, match="join_ref"):
        V1.decode('{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":7}')


def test_v1_binary_frame_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(MalformedFrameError, match="UTF-8"):
        V1.decode(b"\xff\xfe{}")


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"", "empty"),
        (bytes([0, 1, 1]), "shorter than its 5-byte header"),
        (bytes([0, 1, 1, 1, 1]) + b"12t", "overrun"),
        (bytes([0, 255, 0, 0, 0]) + b"x" * 10, "overrun"),
        (bytes([1, 1, 1, 1, 1]) + b"12teP", "kind 1"),
        (bytes([2, 1, 1]) + b"teP", "kind 2"),
        (bytes([7]) + b"x" * 10, "kind 7"),
        (b'["1","1","t","e",{}]', "kind 91"),  # JSON text in a binary frame
        (bytes([0, 1, 1, 1, 1]) + b"12\xffe", "topic is not valid UTF-8"),
    ],
)
def test_bad_binary_layouts_from_a_client(frame: bytes, match: str) -> None:
    with pytest.raises(BinaryFrameError, match=match):
        V2.decode(frame)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (bytes([0, 1]), "shorter than its 4-byte header"),
        (bytes([1, 1, 1, 1]), "shorter than its 5-byte header"),
        (bytes([2, 5, 1]) + b"t", "overrun"),
        (bytes([3]), "unknown binary frame kind 3"),
    ],
)
def test_bad_binary_layouts_from_a_server(frame: bytes, match: str) -> None:
    with pytest.raises(BinaryFrameError, match=match):
        V2_CLIENT.decode(frame)


# --- Frame size ----------------------------------------------------------------------------------


def test_a_text_frame_at_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    frame = '["1","1","t","e",{"x":"' + "a" * 10 + '"}]'
    at_limit = V2JSONSerializer(max_frame_size=len(frame))
    assert at_limit.decode(frame).payload == {"x": "a" * 10}
    with pytest.raises(FrameTooLargeError) as info:
        V2JSONSerializer(max_frame_size=len(frame) - 1).decode(frame)
    assert (info.value.size, info.value.max_size) == (len(frame), len(frame) - 1)


def test_text_frames_are_measured_in_utf8_bytes() -> None:
    frame = '["1","1","t","e",{"x":"' + "é" * 10 + '"}]'
    size = len(frame.encode("utf-8"))
    assert size == len(frame) + 10
    V2JSONSerializer(max_frame_size=size).decode(frame)
    with pytest.raises(FrameTooLargeError) as info:
        V2JSONSerializer(max_frame_size=len(frame)).decode(frame)
    assert info.value.size == size


def test_a_binary_frame_over_the_limit_is_too_large() -> None:
    frame = bytes([0, 0, 0, 1, 1]) + b"te" + b"P" * 100
    with pytest.raises(FrameTooLargeError):
        V2JSONSerializer(max_frame_size=100).decode(frame)


def test_v1_checks_the_limit_too() -> None:
    with pytest.raises(FrameTooLargeError):
        V1JSONSerializer(max_frame_size=10).decode(
            '{"topic":"t","event":"e","payload":{},"ref":"1"}'
        )


# --- Close codes: how the server answers each error ----------------------------------------------


def test_close_codes_name_the_condition() -> None:
    assert MalformedFrameError.close_code == 1007
    assert BinaryFrameError.close_code == 1007
    assert FrameTooLargeError(10, 5).close_code == 1009
    assert UnsupportedVersionError("3.0.0").http_status == 403


def test_every_decode_error_is_a_protocol_error_and_no_usage_error() -> None:
    for cls in (MalformedFrameError, BinaryFrameError, FrameTooLargeError, UnsupportedVersionError):
        assert issubclass(cls, ProtocolError)
        assert not issubclass(cls, ProtocolUsageError)


# --- Misuse by our own code ----------------------------------------------------------------------


@pytest.mark.parametrize("payload", [[1, 2], "text", None, 3], ids=["list", "str", "none", "int"])
def test_the_server_sends_only_dict_or_bytes_payloads(payload: object) -> None:
    with pytest.raises(ProtocolUsageError, match="dict or bytes"):
        V2.encode(Message("1", None, "t", "e", payload))
    with pytest.raises(ProtocolUsageError, match="dict or bytes"):
        V2.encode_broadcast("t", "e", payload)


@pytest.mark.parametrize(
    "payload", [{"x": object()}, {"x": float("nan")}, {"x": float("inf")}], ids=str
)
def test_a_payload_json_cannot_express_is_a_usage_error(payload: dict[str, object]) -> None:
    with pytest.raises(ProtocolUsageError, match="not JSON-serializable"):
        V2.encode(Message("1", None, "t", "e", payload))


def test_a_binary_reply_status_must_be_a_string() -> None:
    message = Message("1", "2", "t", "phx_reply", {"status": 1, "response": b"R"})
    with pytest.raises(ProtocolUsageError, match="status"):
        V2.encode(message)


def test_a_frame_is_str_or_bytes() -> None:
    with pytest.raises(ProtocolUsageError, match="str or bytes"):
        V2.decode(42)  # type: ignore[arg-type]


# --- Negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vsn", "expected"),
    [
        (None, V1JSONSerializer),
        ("1.0.0", V1JSONSerializer),
        ("1.0.7", V1JSONSerializer),
        ("2.0.0", V2JSONSerializer),
        ("2.0.3", V2JSONSerializer),
        ("2.0.0+build.5", V2JSONSerializer),
        ("2.0.1-dev", V2JSONSerializer),
    ],
)
def test_vsn_picks_the_serializer_phoenix_would(vsn: str | None, expected: type) -> None:
    assert type(serializer_for_vsn(vsn)) is expected


@pytest.mark.parametrize(
    "vsn", ["3.0.0", "2.1.0", "1.1.0", "0.9.0", "2", "2.0", "abc", "", "02.0.0", "2.0.0-rc.1"]
)
def test_unknown_versions_are_refused(vsn: str) -> None:
    with pytest.raises(UnsupportedVersionError) as info:
        serializer_for_vsn(vsn)
    assert info.value.vsn == vsn
    assert repr(vsn) in str(info.value)


def test_negotiation_passes_role_and_limit_through() -> None:
    serializer = serializer_for_vsn("2.0.0", role=CLIENT, max_frame_size=1000)
    assert serializer == V2JSONSerializer(role=CLIENT, max_frame_size=1000)
