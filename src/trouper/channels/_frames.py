"""Server-to-client WebSocket frames, built once and written to many connections.

A server frame is unmasked and we negotiate no extensions, so the bytes of a frame depend
only on its payload: a broadcast's frame is built once and the same bytes go to every
subscriber (the fastlane), with no per-connection WebSocket library call.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_BINARY = 0x2


def ws_frame(payload: str | bytes) -> bytes:
    """A complete final frame: text for ``str`` (UTF-8), binary for ``bytes``."""
    if isinstance(payload, str):
        data = payload.encode()
        opcode = OP_TEXT
    else:
        data = bytes(payload)
        opcode = OP_BINARY
    length = len(data)
    first = 0x80 | opcode  # FIN
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + data


def frame_payload(frame: bytes) -> str | bytes:
    """The payload of one unmasked final frame as :func:`ws_frame` builds it (text as str)."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    body = frame[start:]
    return body.decode() if frame[0] & 0x0F == OP_TEXT else body
