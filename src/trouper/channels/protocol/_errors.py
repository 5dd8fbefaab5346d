"""Errors: the peer sent garbage (:class:`ProtocolError`) vs our code misused the API.

Every :class:`ProtocolError` says how the server answers it: ``close_code`` is the WebSocket
close code to send before dropping the connection. Phoenix itself has no such table: a frame it
cannot decode crashes the connection process and the HTTP server closes with 1011. We close
with the RFC 6455 code that names the condition instead; phoenix.js reconnects after any code
other than 1000 either way, so clients see the same behaviour.
"""

from __future__ import annotations

# RFC 6455 section 7.4.1.
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_MESSAGE_TOO_BIG = 1009


class ProtocolError(Exception):
    """The peer sent something this protocol does not allow.

    Attributes:
        close_code: the WebSocket close code the server sends before closing the connection.
    """

    close_code: int = CLOSE_PROTOCOL_ERROR


class MalformedFrameError(ProtocolError):
    """A frame that is not a Phoenix message: invalid UTF-8 or JSON, wrong shape or field types.

    Closes the connection with 1007 (invalid frame payload data).
    """

    close_code = CLOSE_INVALID_PAYLOAD


class BinaryFrameError(MalformedFrameError):
    """A binary frame whose layout is wrong: truncated, unknown kind byte, lengths that overrun.

    Closes the connection with 1007, like every malformed frame.
    """


class FrameTooLargeError(ProtocolError):
    """A frame longer than the serializer's ``max_frame_size``; closes with 1009 (too big).

    Attributes:
        size: the frame's size in bytes (UTF-8 bytes for text frames).
        max_size: the configured limit.
    """

    close_code = CLOSE_MESSAGE_TOO_BIG

    def __init__(self, size: int, max_size: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {max_size} bytes")
        self.size = size
        self.max_size = max_size


class UnsupportedVersionError(ProtocolError):
    """The client asked for a serializer version (``vsn``) this server does not speak.

    Raised during the handshake, before the upgrade: refuse it with ``http_status`` (403, as
    Phoenix does). A connection that is somehow already upgraded closes with 1002.

    Attributes:
        vsn: the version string the client sent.
        http_status: the HTTP status that refuses the upgrade.
    """

    http_status: int = 403

    def __init__(self, vsn: str) -> None:
        super().__init__(f"unsupported serializer version {vsn!r}: expected 1.0.x or 2.0.x")
        self.vsn = vsn


class ProtocolUsageError(Exception):
    """Our own code misused the protocol API: a bug on the server side, never the peer's fault.

    Examples: encoding a payload that is neither a JSON object nor bytes, a field longer than a
    binary frame's one-byte length allows, calling ``Connection.receive`` while a join is
    still pending.
    """
