"""V2 binary frames (phoenix.md 2.4): a kind byte, one-byte lengths, the fields, raw payload.

| kind          | direction        | length bytes after the kind     | then               |
| ------------- | ---------------- | ------------------------------- | ------------------ |
| 0 = push      | client -> server | join_ref, ref, topic, event     | fields, payload    |
| 0 = push      | server -> client | join_ref, topic, event (no ref) | fields, payload    |
| 1 = reply     | server -> client | join_ref, ref, topic, status    | fields, response   |
| 2 = broadcast | server -> client | topic, event                    | fields, payload    |

A null ref travels as an empty field (Phoenix writes ``to_string(nil)``, which is ``""``);
decoding maps an empty ref back to None, since real refs are never empty.
"""

from __future__ import annotations

from ._errors import BinaryFrameError, ProtocolUsageError
from ._message import PHX_REPLY, Message

PUSH = 0
REPLY = 1
BROADCAST = 2

_MAX_FIELD = 255  # each field's length is one unsigned byte


def _field(value: str | None, name: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ProtocolUsageError(f"{name} must be a string, got {type(value).__name__}")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolUsageError(f"{name} is not encodable as UTF-8: {value!r}") from None
    if len(data) > _MAX_FIELD:
        raise ProtocolUsageError(
            f"{name} is {len(data)} bytes; a binary frame allows at most {_MAX_FIELD}"
        )
    return data


def _frame(kind: int, fields: list[bytes], payload: bytes) -> bytes:
    return b"".join([bytes([kind, *map(len, fields)]), *fields, payload])


def encode_client_push(message: Message, payload: bytes) -> bytes:
    """Kind 0 as a client sends it: join_ref, ref, topic, event."""
    fields = [
        _field(message.join_ref, "join_ref"),
        _field(message.ref, "ref"),
        _field(message.topic, "topic"),
        _field(message.event, "event"),
    ]
    return _frame(PUSH, fields, payload)


def encode_server_push(message: Message, payload: bytes) -> bytes:
    """Kind 0 as the server sends it: join_ref, topic, event; the layout has no ref."""
    if message.ref is not None:
        # Phoenix never pushes binary with a ref; silently dropping it would lose a reply.
        raise ProtocolUsageError(
            "a binary server push carries no ref; send a reply (phx_reply) to answer a push"
        )
    fields = [
        _field(message.join_ref, "join_ref"),
        _field(message.topic, "topic"),
        _field(message.event, "event"),
    ]
    return _frame(PUSH, fields, payload)


def encode_reply(message: Message, status: object, response: bytes) -> bytes:
    """Kind 1: a phx_reply whose response is bytes; the status takes the event's place."""
    if not isinstance(status, str):
        raise ProtocolUsageError(f"reply status must be a string, got {type(status).__name__}")
    fields = [
        _field(message.join_ref, "join_ref"),
        _field(message.ref, "ref"),
        _field(message.topic, "topic"),
        _field(status, "status"),
    ]
    return _frame(REPLY, fields, response)


def encode_broadcast(topic: str, event: str, payload: bytes) -> bytes:
    """Kind 2: topic, event; no refs."""
    return _frame(BROADCAST, [_field(topic, "topic"), _field(event, "event")], payload)


def _split(data: bytes, names: tuple[str, ...]) -> tuple[list[str], bytes]:
    """Read ``len(names)`` length bytes after the kind, then the fields; the rest is payload."""
    count = len(names)
    if len(data) < 1 + count:
        raise BinaryFrameError(
            f"binary frame of {len(data)} bytes is shorter than its {1 + count}-byte header"
        )
    lengths = data[1 : 1 + count]
    offset = 1 + count
    if offset + sum(lengths) > len(data):
        raise BinaryFrameError(
            f"binary frame field lengths {list(lengths)} overrun the frame of {len(data)} bytes"
        )
    fields = []
    for name, length in zip(names, lengths, strict=True):
        try:
            fields.append(data[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise BinaryFrameError(f"binary frame {name} is not valid UTF-8") from None
        offset += length
    return fields, data[offset:]


def _kind(data: bytes) -> int:
    if not data:
        raise BinaryFrameError("empty binary frame")
    return data[0]


def decode_from_client(data: bytes) -> Message:
    """Decode what a client sends: only kind 0 with its four fields."""
    kind = _kind(data)
    if kind != PUSH:
        raise BinaryFrameError(f"binary frame kind {kind}: a client may only send kind 0 (push)")
    (join_ref, ref, topic, event), payload = _split(data, ("join_ref", "ref", "topic", "event"))
    return Message(join_ref or None, ref or None, topic, event, payload)


def decode_from_server(data: bytes) -> Message:
    """Decode what the server sends, as phoenix.js does: kinds 0, 1 and 2."""
    kind = _kind(data)
    if kind == PUSH:
        (join_ref, topic, event), payload = _split(data, ("join_ref", "topic", "event"))
        return Message(join_ref or None, None, topic, event, payload)
    if kind == REPLY:
        (join_ref, ref, topic, status), response = _split(
            data, ("join_ref", "ref", "topic", "status")
        )
        reply_payload = {"status": status, "response": response}
        return Message(join_ref or None, ref or None, topic, PHX_REPLY, reply_payload)
    if kind == BROADCAST:
        (topic, event), payload = _split(data, ("topic", "event"))
        return Message(None, None, topic, event, payload)
    raise BinaryFrameError(f"unknown binary frame kind {kind}")
