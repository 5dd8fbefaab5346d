"""Property tests for the serializers: round trips in both directions, and fuzzing.

Round trips pair a ``CLIENT`` serializer with a ``SERVER`` one, since the binary layouts differ
by direction. The fuzz tests feed arbitrary text and bytes (and arbitrary JSON and binary
frames that get past the first checks) to every serializer: the only exceptions allowed out of
``decode`` are ProtocolError subclasses, and whatever a server decodes it can echo back.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trouper.channels.protocol import (
    CLIENT,
    SERVER,
    Message,
    ProtocolError,
    Reply,
    V1JSONSerializer,
    V2JSONSerializer,
)

FUZZ = settings(max_examples=2000, deadline=None)

SERIALIZERS = [
    cls(role=role) for cls in (V1JSONSerializer, V2JSONSerializer) for role in (SERVER, CLIENT)
]

# Strings as a websocket delivers them: any code point except lone surrogates.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
# Binary fields hold at most 255 UTF-8 bytes; real refs are never empty.
short_text = text.filter(lambda s: len(s.encode("utf-8")) <= 255)
refs = st.none() | short_text.filter(bool)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=5)
events = short_text.filter(lambda event: event != "phx_join")


@st.composite
def client_messages(draw: st.DrawFn, binary: bool) -> Message:
    """What a client may send: any JSON payload (an object for joins), or bytes."""
    join_ref, ref, topic = draw(refs), draw(refs), draw(short_text)
    if binary:
        return Message(join_ref, ref, topic, draw(events), draw(st.binary(max_size=64)))
    event = draw(short_text | st.just("phx_join"))
    payload = draw(json_objects if event == "phx_join" else json_values)
    return Message(join_ref, ref, topic, event, payload)


# --- Round trips ---------------------------------------------------------------------------------


@given(client_messages(binary=False))
def test_v2_client_to_server_json_round_trip(message: Message) -> None:
    frame = V2JSONSerializer(role=CLIENT).encode(message)
    assert isinstance(frame, str)
    assert V2JSONSerializer().decode(frame) == message


@given(client_messages(binary=True))
def test_v2_client_to_server_binary_round_trip(message: Message) -> None:
    frame = V2JSONSerializer(role=CLIENT).encode(message)
    assert isinstance(frame, bytes)
    assert V2JSONSerializer().decode(frame) == message


@given(refs, refs, text, text, json_objects)
def test_v2_server_to_client_json_round_trip(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: dict[str, Any]
) -> None:
    message = Message(join_ref, ref, topic, event, payload)
    assert V2JSONSerializer(role=CLIENT).decode(V2JSONSerializer().encode(message)) == message


@given(refs, short_text, short_text, st.binary(max_size=64))
def test_v2_server_to_client_binary_push_round_trip(
    join_ref: str | None, topic: str, event: str, payload: bytes
) -> None:
    message = Message(join_ref, None, topic, event, payload)
    assert V2JSONSerializer(role=CLIENT).decode(V2JSONSerializer().encode(message)) == message


@given(refs, refs, short_text, short_text, st.binary(max_size=64))
def test_v2_server_to_client_binary_reply_round_trip(
    join_ref: str | None, ref: str | None, topic: str, status: str, response: bytes
) -> None:
    reply = Reply(join_ref, ref, topic, status, response)
    decoded = V2JSONSerializer(role=CLIENT).decode(V2JSONSerializer().encode(reply))
    assert Reply.from_message(decoded) == reply


@given(short_text, short_text, json_objects | st.binary(max_size=64))
def test_v2_broadcast_decodes_as_a_message_without_refs(
    topic: str, event: str, payload: Any
) -> None:
    frame = V2JSONSerializer().encode_broadcast(topic, event, payload)
    decoded = V2JSONSerializer(role=CLIENT).decode(frame)
    assert decoded == Message(None, None, topic, event, payload)


@given(client_messages(binary=False))
def test_v1_client_to_server_round_trip(message: Message) -> None:
    frame = V1JSONSerializer(role=CLIENT).encode(message)
    assert V1JSONSerializer().decode(frame) == message


@given(refs, refs, text, text, json_objects)
def test_v1_server_to_client_round_trip_drops_join_ref(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: dict[str, Any]
) -> None:
    message = Message(join_ref, ref, topic, event, payload)
    decoded = V1JSONSerializer(role=CLIENT).decode(V1JSONSerializer().encode(message))
    assert decoded == Message(None, ref, topic, event, payload)


@given(text, text, json_objects)
def test_v1_broadcast_decodes_as_a_message_without_refs(
    topic: str, event: str, payload: dict[str, Any]
) -> None:
    frame = V1JSONSerializer().encode_broadcast(topic, event, payload)
    assert V1JSONSerializer(role=CLIENT).decode(frame) == Message(None, None, topic, event, payload)


# --- Fuzzing -------------------------------------------------------------------------------------


def assert_decodes_or_refuses(frame: str | bytes) -> None:
    """Every serializer either decodes ``frame`` or raises a ProtocolError; a server can echo
    back whatever it decoded, in a reply that encodes as UTF-8."""
    for serializer in SERIALIZERS:
        try:
            message = serializer.decode(frame)
        except ProtocolError:
            continue
        if serializer.role is SERVER:
            payload = message.payload
            response = payload if isinstance(payload, bytes) else {"echo": payload}
            reply = Reply(message.join_ref, message.ref, message.topic, "ok", response)
            if isinstance(response, bytes) and isinstance(serializer, V1JSONSerializer):
                continue  # V1 reads binary frames as JSON text: no bytes payloads come from it
            echoed = serializer.encode(reply)
            if isinstance(echoed, str):
                echoed.encode("utf-8")


# Any code point, lone surrogates included: a caller may hand us any str.
any_text = st.text(st.characters(codec=None, exclude_categories=[]), max_size=200)


@FUZZ
@given(any_text | st.binary(max_size=200))
def test_decoding_arbitrary_frames_raises_only_protocol_errors(frame: str | bytes) -> None:
    assert_decodes_or_refuses(frame)


# Flat values are enough to reach every shape and field-type check, and generate fast.
json_fields = (
    json_scalars
    | st.lists(json_scalars, max_size=2)
    | st.dictionaries(text, json_scalars, max_size=2)
    | st.sampled_from(["phoenix", "heartbeat", "phx_join", "phx_leave"])
)
v1_keys = st.sampled_from(["topic", "event", "payload", "ref", "join_ref", "x"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(json_fields, max_size=7) | st.dictionaries(v1_keys, json_fields), st.booleans())
def test_decoding_arbitrary_json_raises_only_protocol_errors(value: Any, escape: bool) -> None:
    # JSON that parses, so the shape and field checks get exercised, not only the parser.
    assert_decodes_or_refuses(json.dumps(value, ensure_ascii=escape))


@st.composite
def binary_frames(draw: st.DrawFn) -> bytes:
    """A kind byte, plausible lengths, then fields that may or may not fit."""
    kind = draw(st.integers(0, 3))
    lengths = draw(st.lists(st.integers(0, 12), max_size=4))
    return bytes([kind, *lengths]) + draw(st.binary(max_size=40))


@settings(max_examples=1000, deadline=None)
@given(binary_frames())
def test_decoding_arbitrary_binary_layouts_raises_only_protocol_errors(frame: bytes) -> None:
    assert_decodes_or_refuses(frame)
