"""The WebSocket opening handshake: what a valid upgrade gets, and what a bad one gets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trouper.channels._handshake import (
    AUTH_TOKEN_PREFIX,
    HandshakeError,
    accept_response,
    check_upgrade,
)
from trouper.channels._http import HttpRequest

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key


def request(method: str = "GET", **headers: str) -> HttpRequest:
    fields = {
        "host": "example.com",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
    }
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    fields = {name: value for name, value in fields.items() if value}
    return HttpRequest(
        method=method,
        target="/socket/websocket",
        path="/socket/websocket",
        query={},
        headers=fields,
        raw_headers=tuple((n.encode(), v.encode()) for n, v in fields.items()),
        peer=None,
    )


def test_the_accept_key_is_the_rfc_example() -> None:
    upgrade = check_upgrade(request())
    assert upgrade.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert upgrade.subprotocol is None and upgrade.auth_token is None
    assert accept_response(upgrade) == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )


def test_header_tokens_are_matched_case_insensitively_in_lists() -> None:
    assert check_upgrade(request(connection="keep-alive, UPGRADE", upgrade="WebSocket"))


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", {}, 400),
        ("GET", {"upgrade": "h2c"}, 400),
        ("GET", {"connection": "keep-alive"}, 400),
        ("GET", {"sec_websocket_key": ""}, 400),
        ("GET", {"sec_websocket_key": "c2hvcnQ="}, 400),  # decodes to 5 bytes, not 16
        ("GET", {"sec_websocket_key": "not base64!!"}, 400),
        ("GET", {"sec_websocket_version": "8"}, 426),
        ("GET", {"sec_websocket_version": ""}, 426),
    ],
)
def test_a_bad_upgrade_gets_the_right_status(
    method: str, headers: dict[str, str], status: int
) -> None:
    with pytest.raises(HandshakeError) as caught:
        check_upgrade(request(method, **headers))
    assert caught.value.response.status == status
    if status == 426:
        assert ("sec-websocket-version", "13") in caught.value.response.headers


def test_the_phoenix_auth_token_subprotocol_is_read_and_phoenix_is_answered() -> None:
    encoded = base64.b64encode(b"tok\xc3\xa9n?").decode().rstrip("=")  # as phoenix.js: btoa
    upgrade = check_upgrade(
        request(sec_websocket_protocol=f"phoenix, {AUTH_TOKEN_PREFIX}{encoded}")
    )
    assert (upgrade.subprotocol, upgrade.auth_token) == ("phoenix", "tokén?")
    assert b"sec-websocket-protocol: phoenix\r\n" in accept_response(upgrade)


def test_subprotocols_other_than_phoenix_are_not_answered() -> None:
    upgrade = check_upgrade(request(sec_websocket_protocol="mqtt"))
    assert upgrade.subprotocol is None


@given(st.text(max_size=40))
def test_a_garbage_auth_token_is_a_400_or_a_token_never_anything_else(garbage: str) -> None:
    try:
        upgrade = check_upgrade(
            request(sec_websocket_protocol=f"phoenix, {AUTH_TOKEN_PREFIX}{garbage}")
        )
    except HandshakeError as exc:
        assert exc.response.status == 400
    else:
        assert upgrade.subprotocol == "phoenix"
