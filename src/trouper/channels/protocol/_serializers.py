"""Serializers: frames (``str`` for text, ``bytes`` for binary) to messages and back.

A frame's Python type is its WebSocket opcode: ``str`` is a text frame, ``bytes`` (or
``bytearray``/``memoryview``) a binary frame. Each serializer has a :class:`Role`: a
``SERVER`` serializer decodes what clients send and encodes what servers send, a ``CLIENT``
serializer the reverse (for load tools and tests). The directions differ only in binary
frames and in how strict they are about payloads.

| serializer           | vsn                 | text frames                       | binary frames  |
| -------------------- | ------------------- | --------------------------------- | -------------- |
| ``V2JSONSerializer`` | ``2.0.x``           | ``[join_ref, ref, topic, event,`` | the 2.4        |
|                      | (phoenix.js)        | ``payload]``                      | layouts        |
| ``V1JSONSerializer`` | absent or ``1.0.x`` | ``{topic, event, payload, ref}``  | JSON, as text  |

Decoding checks more than Phoenix does (Phoenix pattern-matches the array and lets a bad
field crash the connection later): topic and event must be strings, refs strings or null,
a ``phx_join`` payload a JSON object; every violation is a :class:`MalformedFrameError`.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from typing import Any, ClassVar, TypeAlias

import attrs

from . import _binary
from ._errors import (
    FrameTooLargeError,
    MalformedFrameError,
    ProtocolUsageError,
    UnsupportedVersionError,
)
from ._message import PHX_JOIN, PHX_REPLY, Message, Payload, Reply

Frame: TypeAlias = str | bytes
"""What ``encode`` returns: ``str`` for a text frame, ``bytes`` for a binary frame."""
InboundFrame: TypeAlias = str | bytes | bytearray | memoryview
"""What ``decode`` accepts: the type is the opcode, as for :data:`Frame`."""

_BYTES_LIKE = (bytes, bytearray, memoryview)


class Role(enum.Enum):
    """Which end of the connection a serializer speaks for."""

    SERVER = "server"
    CLIENT = "client"


SERVER = Role.SERVER
CLIENT = Role.CLIENT


# --- JSON ---------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON, Jason and JSON.parse do not.
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        # "1e999" parses to infinity, which no JSON encoder can write back.
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
# A "\uD800"-style escape may leave a lone surrogate in a decoded string; such a string cannot
# be written back as UTF-8, so the frame is rejected. The search is a cheap pre-filter.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _loads(text: str) -> Any:
    try:
        value = _DECODER.decode(text)
        if _SURROGATE_ESCAPE.search(text):
            _ENCODER.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedFrameError("JSON string escapes a lone UTF-16 surrogate") from None
    except (ValueError, RecursionError) as exc:
        # Big-integer limits and too-deep nesting are the peer's doing as much as bad syntax.
        raise MalformedFrameError(f"invalid JSON: {exc}") from None
    return value


def _dumps(value: object) -> str:
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolUsageError(f"payload is not JSON-serializable: {exc}") from None


def _kind(value: object) -> str:
    return type(value).__name__


def _checked(
    join_ref: object, ref: object, topic: object, event: object, payload: Payload, role: Role
) -> Message:
    """Build a decoded message after checking each field's type."""
    if not isinstance(topic, str):
        raise MalformedFrameError(f"topic must be a string, got {_kind(topic)}")
    if not isinstance(event, str):
        raise MalformedFrameError(f"event must be a string, got {_kind(event)}")
    if join_ref is not None and not isinstance(join_ref, str):
        raise MalformedFrameError(f"join_ref must be a string or null, got {_kind(join_ref)}")
    if ref is not None and not isinstance(ref, str):
        raise MalformedFrameError(f"ref must be a string or null, got {_kind(ref)}")
    if role is SERVER and event == PHX_JOIN and not isinstance(payload, dict):
        # Join params are a map in Phoenix's Channel.join/3 contract; phoenix.js sends {}.
        raise MalformedFrameError(f"phx_join payload must be a JSON object, got {_kind(payload)}")
    return Message(join_ref, ref, topic, event, payload)


# --- The serializers ----------------------------------------------------------------------------


@attrs.frozen
class Serializer:
    """What both serializers share: the role, the frame size limit, the decode entry point.

    Attributes:
        role: ``SERVER`` (the default) or ``CLIENT``.
        max_frame_size: the largest inbound frame accepted, in bytes; None for no limit
            (Phoenix's default). Text frames count their UTF-8 bytes.
    """

    vsn: ClassVar[str]

    role: Role = SERVER
    max_frame_size: int | None = None

    def decode(self, frame: InboundFrame) -> Message:
        """Decode one inbound frame.

        Raises:
            MalformedFrameError: not a valid message (or a subclass, e.g. BinaryFrameError).
            FrameTooLargeError: the frame exceeds ``max_frame_size``.
            ProtocolUsageError: ``frame`` is neither str nor bytes-like.
        """
        if isinstance(frame, str):
            self._check_size(_text_size(frame, self.max_frame_size))
            return self._decode_text(frame)
        if isinstance(frame, _BYTES_LIKE):
            data = frame if isinstance(frame, bytes) else bytes(frame)
            self._check_size(len(data))
            return self._decode_binary(data)
        raise ProtocolUsageError(f"a frame is str or bytes, got {_kind(frame)}")

    def encode(self, message: Message | Reply) -> Frame:
        """Encode one outbound message (a :class:`Reply` is encoded as its message).

        Raises:
            ProtocolUsageError: the message cannot be sent in this direction or format.
        """
        raise NotImplementedError

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        """Encode a broadcast once, so the same frame can be written to every subscriber.

        This is Phoenix's fastlane: the frame carries no refs, so it is identical for every
        connection that uses this serializer.

        Raises:
            ProtocolUsageError: the payload is neither a dict nor (V2 only) bytes.
        """
        raise NotImplementedError

    def _check_size(self, size: int) -> None:
        if self.max_frame_size is not None and size > self.max_frame_size:
            raise FrameTooLargeError(size, self.max_frame_size)

    def _decode_text(self, text: str) -> Message:
        raise NotImplementedError

    def _decode_binary(self, data: bytes) -> Message:
        raise NotImplementedError


def _text_size(text: str, limit: int | None) -> int:
    """The UTF-8 size of a text frame, checking that it can be encoded at all."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return len(text)
    if limit is not None and len(text) > limit:
        # Too large whatever the encoding (UTF-8 never has fewer bytes than code points):
        # report the lower bound and skip the copy.
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise MalformedFrameError("text frame is not valid UTF-8 (lone surrogate)") from None


def _server_payload(payload: Payload) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ProtocolUsageError(f"payload must be a dict or bytes, got {_kind(payload)}")
    return payload


@attrs.frozen
class V2JSONSerializer(Serializer):
    """``vsn=2.0.0``: JSON arrays in text frames, the 2.4 layouts in binary frames."""

    vsn: ClassVar[str] = "2.0.0"

    def encode(self, message: Message | Reply) -> Frame:
        if isinstance(message, Reply):
            message = message.to_message()
        payload = message.payload
        if self.role is CLIENT:
            if isinstance(payload, _BYTES_LIKE):
                return _binary.encode_client_push(message, bytes(payload))
            return self._array(message, payload)
        if isinstance(payload, _BYTES_LIKE):
            return _binary.encode_server_push(message, bytes(payload))
        payload = _server_payload(payload)
        if message.event == PHX_REPLY and isinstance(payload.get("response"), _BYTES_LIKE):
            return _binary.encode_reply(message, payload.get("status"), bytes(payload["response"]))
        return self._array(message, payload)

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        if isinstance(payload, _BYTES_LIKE):
            return _binary.encode_broadcast(topic, event, bytes(payload))
        return _dumps([None, None, topic, event, _server_payload(payload)])

    @staticmethod
    def _array(message: Message, payload: Payload) -> str:
        return _dumps([message.join_ref, message.ref, message.topic, message.event, payload])

    def _decode_text(self, text: str) -> Message:
        value = _loads(text)
        if not isinstance(value, list) or len(value) < 5:
            raise MalformedFrameError(
                "a V2 message is a JSON array [join_ref, ref, topic, event, payload]"
            )
        # Phoenix ignores elements after the fifth; so do we.
        join_ref, ref, topic, event, payload = value[:5]
        return _checked(join_ref, ref, topic, event, payload, self.role)

    def _decode_binary(self, data: bytes) -> Message:
        if self.role is CLIENT:
            return _binary.decode_from_server(data)
        message = _binary.decode_from_client(data)
        if message.event == PHX_JOIN:
            # Join params are a map (see _checked); raw bytes cannot be.
            raise MalformedFrameError("phx_join payload must be a JSON object, got bytes")
        return message


_V1_KEYS = ("topic", "event", "payload", "ref")


@attrs.frozen
class V1JSONSerializer(Serializer):
    """Absent ``vsn`` or ``1.0.0`` (the 2015 Tsung runs): JSON objects, no binary payloads.

    The server never sends ``join_ref`` in V1. Binary frames are decoded as UTF-8 JSON text,
    as Phoenix does, because Tsung sends binary frames unless told otherwise.
    """

    vsn: ClassVar[str] = "1.0.0"

    def encode(self, message: Message | Reply) -> Frame:
        if isinstance(message, Reply):
            message = message.to_message()
        payload = message.payload
        if isinstance(payload, _BYTES_LIKE) or (
            isinstance(payload, dict) and isinstance(payload.get("response"), _BYTES_LIKE)
        ):
            raise ProtocolUsageError("the V1 serializer has no binary frames")
        if self.role is SERVER:
            payload = _server_payload(payload)
        obj = {
            "topic": message.topic,
            "event": message.event,
            "payload": payload,
            "ref": message.ref,
        }
        if self.role is CLIENT and message.join_ref is not None:
            obj["join_ref"] = message.join_ref
        return _dumps(obj)

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        if isinstance(payload, _BYTES_LIKE):
            raise ProtocolUsageError("the V1 serializer has no binary frames")
        payload = _server_payload(payload)
        return _dumps({"topic": topic, "event": event, "payload": payload, "ref": None})

    def _decode_text(self, text: str) -> Message:
        value = _loads(text)
        if not isinstance(value, dict):
            raise MalformedFrameError("a V1 message is a JSON object {topic, event, payload, ref}")
        missing = [key for key in _V1_KEYS if key not in value]
        if missing:
            raise MalformedFrameError(f"V1 message lacks {', '.join(missing)}")
        return _checked(
            value.get("join_ref"),
            value["ref"],
            value["topic"],
            value["event"],
            value["payload"],
            self.role,
        )

    def _decode_binary(self, data: bytes) -> Message:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFrameError("V1 binary frame is not UTF-8 JSON text") from None
        return self._decode_text(text)


# --- Negotiation --------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)


@functools.lru_cache(maxsize=256)
def serializer_for_vsn(
    vsn: str | None, *, role: Role = SERVER, max_frame_size: int | None = None
) -> Serializer:
    """Pick the serializer for the ``vsn`` query parameter, as Phoenix negotiates it.

    Phoenix parses ``vsn`` as a semantic version (missing means ``"1.0.0"``) and matches it
    against ``~> 1.0.0`` (V1) and ``~> 2.0.0`` (V2): any ``1.0.x`` or ``2.0.x``. A pre-release
    of ``x.0.0`` (``"2.0.0-rc.1"``) sorts before ``x.0.0`` and so matches neither.

    Args:
        vsn: the query parameter, or None when the client sent none.
        role: which end the serializer speaks for.
        max_frame_size: passed to the serializer.

    Raises:
        UnsupportedVersionError: unparsable, or no serializer matches; refuse the upgrade.

    Cached: every connection asks, and serializers are frozen and stateless, so connections
    with the same settings share one.
    """
    version = "1.0.0" if vsn is None else vsn
    match = _SEMVER.fullmatch(version)
    if (
        match is not None
        and match[1] in ("1", "2")
        and match[2] == "0"
        and not (match[3] == "0" and match[4])
    ):
        return _serializer(match[1], role, max_frame_size)
    raise UnsupportedVersionError(version)


def _serializer(major: str, role: Role, max_frame_size: int | None) -> Serializer:
    kind = V1JSONSerializer if major == "1" else V2JSONSerializer
    return kind(role=role, max_frame_size=max_frame_size)
