"""The cluster wire format: what crosses nodes comes back equal, and nothing else gets built."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trouper.pubsub import CodecError, decode_message, encode_message, register_message_type
from trouper.pubsub._codec import decode_frame, encode_frame


@attrs.frozen
class Point:
    x: int
    label: Any


register_message_type(Point, "tests.Point")

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.binary()
scalars |= st.floats(allow_nan=False)
keys = st.text() | st.integers() | st.tuples(st.integers(), st.text()) | st.just("!")
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(keys, inner, max_size=4)
        | st.builds(Point, st.integers(), inner)
    ),
    max_leaves=20,
)


@given(values)
def test_every_encodable_value_comes_back_equal_and_of_the_same_types(value: Any) -> None:
    back = decode_message(encode_message(value))
    assert back == value
    assert repr(back) == repr(value)  # tuples stay tuples, bytes stay bytes


def test_plain_json_data_travels_as_plain_json() -> None:
    payload = {"joins": {"ann": {"metas": [{"phx_ref": "F1x", "online_at": 1}]}}, "leaves": {}}
    assert encode_message(payload) == (
        b'{"joins":{"ann":{"metas":[{"phx_ref":"F1x","online_at":1}]}},"leaves":{}}'
    )


def test_a_user_dict_with_the_tag_key_cannot_pass_for_a_tagged_value() -> None:
    sneaky = {"!": "bytes", "v": "aGk="}
    assert decode_message(encode_message(sneaky)) == sneaky


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, [lambda: None], {"k": Exception("x")}, float.__add__]
)
def test_values_that_cannot_cross_nodes_are_a_clear_error(value: Any) -> None:
    with pytest.raises(CodecError, match="cannot be sent to another node"):
        encode_message(value)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        b"[1,2",
        b'{"!":"os.system","v":["rm -rf /"]}',
        b'{"!":"bytes","v":"%%%"}',
        b'{"!":"tests.Point","v":[1,2,3]}',
        b'{"!":"dict","v":[[[1],2]]}',
    ],
)
def test_bytes_that_are_not_a_message_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_message(data)


def test_a_frame_round_trips_and_a_foreign_one_is_refused() -> None:
    frame = encode_frame("node1", "room:1", ("hi", b"\x00"), "trouper.pubsub")
    assert decode_frame(frame) == ("node1", "room:1", ("hi", b"\x00"), "trouper.pubsub")
    for bad in (b'[2,"n","d","t",1]', b'[1,"n","d",5,1]', b'{"a":1}'):
        with pytest.raises(CodecError):
            decode_frame(bad)


def test_a_message_type_name_cannot_be_taken_twice() -> None:
    @attrs.frozen
    class Other:
        x: int

    with pytest.raises(ValueError, match="already registered"):
        register_message_type(Other, "tests.Point")
    with pytest.raises(TypeError, match="attrs"):
        register_message_type(int, "tests.int")
    assert register_message_type(Point, "tests.Point") is Point  # again: a no-op
