"""The WebSocket opening handshake (RFC 6455 section 4.2), on the request the endpoint parsed.

The endpoint already parses the HTTP request once (h11, to route pages and the socket on one
port); this module checks that request as an upgrade and writes the ``101`` itself, so no
second HTTP parser runs and none stays alive for the connection's life (wsproto's
high-level ``WSConnection`` would do both). Frames are then handled by wsproto's low-level
``Connection``.

It also reads phoenix.js's ``authToken`` (1.7+): the client offers the subprotocols
``phoenix`` and ``base64url.bearer.phx.<btoa(token) without padding>``; as Phoenix does, the
server answers with ``phoenix`` and hands the token to ``connect`` as
``connect_info["auth_token"]``.
"""

from __future__ import annotations

import base64
import hashlib

import attrs

from ._http import HttpRequest, HttpResponse, encode_response

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
AUTH_TOKEN_PREFIX = "base64url.bearer.phx."
PHOENIX_SUBPROTOCOL = "phoenix"


@attrs.frozen
class Upgrade:
    """A valid upgrade request: what the ``101`` answer and ``connect`` need from it."""

    accept: str
    subprotocol: str | None = None
    auth_token: str | None = None


class HandshakeError(Exception):
    """The request is not a valid WebSocket upgrade; ``response`` is the HTTP answer."""

    def __init__(self, status: int, why: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(why)
        self.response = HttpResponse(status, why.encode(), headers=headers)


def _tokens(request: HttpRequest, name: bytes) -> list[str]:
    """Every comma-separated value of header ``name`` (it may be sent several times)."""
    values: list[str] = []
    for header, value in request.raw_headers:
        if header.lower() == name:
            values.extend(part.strip() for part in value.decode("latin-1").split(","))
    return [value for value in values if value]


def check_upgrade(request: HttpRequest) -> Upgrade:
    """Check ``request`` as an opening handshake; raise :class:`HandshakeError` if it is not."""
    if request.method != "GET":
        raise HandshakeError(400, "a websocket upgrade must be a GET")
    if "websocket" not in (token.lower() for token in _tokens(request, b"upgrade")):
        raise HandshakeError(400, "missing Upgrade: websocket")
    if "upgrade" not in (token.lower() for token in _tokens(request, b"connection")):
        raise HandshakeError(400, "missing Connection: upgrade")
    if request.headers.get("sec-websocket-version") != "13":
        raise HandshakeError(
            426, "unsupported websocket version", (("sec-websocket-version", "13"),)
        )
    key = request.headers.get("sec-websocket-key", "")
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:  # binascii.Error, or characters outside ASCII
        valid_key = False
    if not valid_key:
        raise HandshakeError(400, "bad Sec-WebSocket-Key")
    accept = base64.b64encode(hashlib.sha1(key.encode() + WEBSOCKET_GUID).digest()).decode()
    protocols = _tokens(request, b"sec-websocket-protocol")
    if PHOENIX_SUBPROTOCOL not in protocols:
        return Upgrade(accept)
    token = None
    for protocol in protocols:
        if protocol.startswith(AUTH_TOKEN_PREFIX):
            token = _decode_token(protocol[len(AUTH_TOKEN_PREFIX) :])
    return Upgrade(accept, PHOENIX_SUBPROTOCOL, token)


def _decode_token(encoded: str) -> str:
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except ValueError:  # not base64, not ASCII, or not UTF-8 inside
        raise HandshakeError(400, "bad auth token subprotocol") from None


def accept_response(upgrade: Upgrade) -> bytes:
    """The ``101 Switching Protocols`` answer."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "upgrade: websocket",
        "connection: Upgrade",
        f"sec-websocket-accept: {upgrade.accept}",
    ]
    if upgrade.subprotocol is not None:
        lines.append(f"sec-websocket-protocol: {upgrade.subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refuse(error: HandshakeError) -> bytes:
    """The HTTP answer to a bad upgrade."""
    return encode_response(error.response)
