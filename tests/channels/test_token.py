"""Signed connect tokens (Phoenix.Token): what a server that signs and verifies them observes.

Times are passed explicitly (``signed_at``, ``now``), so expiry is asserted to the
millisecond without waiting. The last tests verify tokens in ``Socket.connect`` behind a
real endpoint, with the Python client on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trouper
from trouper.channels import (
    Channel,
    Endpoint,
    ExpiredTokenError,
    InvalidTokenError,
    MissingTokenError,
    Socket,
    TokenError,
    sign_token,
    start_endpoint,
    verify_token,
)
from trouper.channels.client import ConnectionRejectedError, open_client
from trouper.pubsub import PubSub

SECRET = "a" * 64
SALT = "user socket"
T0 = 1_700_000_000.0  # a fixed "now" for signing
DAY = 86_400

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
secrets = st.binary(min_size=20, max_size=80) | st.text(min_size=20, max_size=40)
salts = st.text(max_size=20) | st.binary(max_size=20)
PROPS = settings(max_examples=300, deadline=None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_with_our_key(payload: bytes, secret: str = SECRET, salt: str = SALT) -> str:
    """A token built by hand from the documented scheme, around any payload."""
    key = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), 1000, 32)
    signing_input = f"{b64(b'HS256')}.{b64(payload)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


# --- round trip -----------------------------------------------------------------------------


@PROPS
@given(secrets, salts, json_values)
def test_a_token_verifies_to_its_data_as_json_gives_it_back(
    secret: str | bytes, salt: str | bytes, data: Any
) -> None:
    token = sign_token(secret, salt, data, signed_at=T0)
    assert verify_token(secret, salt, token, now=T0) == json.loads(json.dumps(data))
    assert verify_token(secret, salt, token.encode(), now=T0) == json.loads(json.dumps(data))


def test_the_token_is_plug_cryptos_envelope_around_a_json_payload() -> None:
    token = sign_token(SECRET, SALT, {"user_id": 7}, signed_at=T0)
    payload = json.dumps([{"user_id": 7}, 1_700_000_000_000, 86400.0], separators=(",", ":"))
    assert token == signed_with_our_key(payload.encode())
    assert token.startswith("SFMyNTY.")  # base64url("HS256"), as Phoenix's tokens start


def test_tuples_come_back_as_lists_and_keys_as_strings() -> None:
    token = sign_token(SECRET, SALT, {1: (2, 3)}, signed_at=T0)
    assert verify_token(SECRET, SALT, token, now=T0) == {"1": [2, 3]}


# --- tampering, wrong keys --------------------------------------------------------------------


@PROPS
@given(json_values, st.data())
def test_flipping_any_bit_of_a_token_makes_it_invalid(data: Any, draw: st.DataObject) -> None:
    token = sign_token(SECRET, SALT, data, signed_at=T0).encode()
    index = draw.draw(st.integers(0, len(token) - 1))
    bit = draw.draw(st.integers(0, 7))
    flipped = bytearray(token)
    flipped[index] ^= 1 << bit
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, bytes(flipped), now=T0)


@PROPS
@given(json_values, st.data())
def test_changing_any_character_of_a_token_makes_it_invalid(data: Any, draw: st.DataObject) -> None:
    token = sign_token(SECRET, SALT, data, signed_at=T0)
    index = draw.draw(st.integers(0, len(token) - 1))
    bit = draw.draw(st.integers(0, 20))
    changed = token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1 :]
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, changed, now=T0)


@PROPS
@given(secrets, secrets, salts, salts)
def test_another_secret_or_salt_makes_a_token_invalid(
    secret: str | bytes, other_secret: str | bytes, salt: str | bytes, other_salt: str | bytes
) -> None:
    token = sign_token(secret, salt, "data", signed_at=T0)
    as_bytes = [s.encode() if isinstance(s, str) else s for s in (secret, other_secret)]
    if as_bytes[0] != as_bytes[1]:
        with pytest.raises(InvalidTokenError):
            verify_token(other_secret, salt, token, now=T0)
    salts_bytes = [s.encode() if isinstance(s, str) else s for s in (salt, other_salt)]
    if salts_bytes[0] != salts_bytes[1]:
        with pytest.raises(InvalidTokenError):
            verify_token(secret, other_salt, token, now=T0)


def test_other_key_derivation_parameters_make_a_token_invalid() -> None:
    token = sign_token(SECRET, SALT, "data", signed_at=T0, key_iterations=2000)
    assert verify_token(SECRET, SALT, token, now=T0, key_iterations=2000) == "data"
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, token, now=T0)
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, token, now=T0, key_iterations=2000, key_length=16)


# --- garbage -----------------------------------------------------------------------------------

token_shaped = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}",
    st.just("SFMyNTY") | st.text(max_size=12),
    st.text(max_size=40),
    st.text(max_size=50),
)
anything = st.recursive(
    st.integers() | st.floats() | st.text() | st.binary() | st.booleans() | token_shaped,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=6,
)


@settings(max_examples=1000, deadline=None)
@given(anything)
def test_whatever_a_client_sends_as_a_token_is_invalid_and_nothing_else(garbage: Any) -> None:
    with pytest.raises(InvalidTokenError) as raised:
        verify_token(SECRET, SALT, garbage, now=T0)
    assert raised.value.reason == "invalid"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"{}",
        b"[1, 2]",
        b"[1, 2, 3, 4]",
        b'[1, "now", 10]',
        b"[1, true, 10]",
        b'[1, 5, "ten"]',
        b"[1, 5, false]",
        b"\xff\xfe",
    ],
)
def test_a_correctly_signed_payload_not_in_our_layout_is_invalid(payload: bytes) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, signed_with_our_key(payload), now=T0)


def test_a_correctly_signed_payload_in_our_layout_is_accepted() -> None:
    # The control for the test above: the hand-built envelope is right.
    token = signed_with_our_key(b'["hi", 1700000000000, null]')
    assert verify_token(SECRET, SALT, token, now=T0 + 10 * 365 * DAY) == "hi"


def test_no_token_is_missing() -> None:
    with pytest.raises(MissingTokenError) as raised:
        verify_token(SECRET, SALT, None)
    assert raised.value.reason == "missing"
    assert isinstance(raised.value, TokenError)


def test_an_empty_token_is_invalid_not_missing() -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, "")


# --- expiry -----------------------------------------------------------------------------------


@PROPS
@given(
    st.integers(0, 4_000_000_000_000).map(lambda ms: ms / 1000),
    st.integers(1, 10**9).map(lambda ms: ms / 1000),
)
def test_a_token_is_valid_up_to_its_max_age_and_expired_one_millisecond_after(
    signed_at: float, max_age: float
) -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=signed_at, max_age=max_age)
    assert verify_token(SECRET, SALT, token, now=signed_at) == "x"
    assert verify_token(SECRET, SALT, token, now=signed_at + max_age) == "x"
    with pytest.raises(ExpiredTokenError) as raised:
        verify_token(SECRET, SALT, token, now=signed_at + max_age + 0.001)
    assert raised.value.reason == "expired"


def test_the_default_max_age_is_one_day() -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=T0)
    assert verify_token(SECRET, SALT, token, now=T0 + DAY) == "x"
    with pytest.raises(ExpiredTokenError):
        verify_token(SECRET, SALT, token, now=T0 + DAY + 0.001)


def test_verify_max_age_overrides_the_age_in_the_token() -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=T0, max_age=60)
    assert verify_token(SECRET, SALT, token, now=T0 + 120, max_age=120) == "x"
    with pytest.raises(ExpiredTokenError):
        verify_token(SECRET, SALT, token, now=T0 + 30, max_age=29.999)
    assert verify_token(SECRET, SALT, token, now=T0 + 100 * DAY, max_age=math.inf) == "x"


@pytest.mark.parametrize("max_age", [0, -1, -0.001])
def test_a_max_age_of_zero_or_less_expires_every_token(max_age: float) -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=T0)
    with pytest.raises(ExpiredTokenError):
        verify_token(SECRET, SALT, token, now=T0, max_age=max_age)
    signed = sign_token(SECRET, SALT, "x", signed_at=T0, max_age=max_age)
    with pytest.raises(ExpiredTokenError):
        verify_token(SECRET, SALT, signed, now=T0)


def test_a_token_signed_to_never_expire_verifies_any_time_later() -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=T0, max_age=math.inf)
    assert verify_token(SECRET, SALT, token, now=T0 + 10**6 * DAY) == "x"


def test_a_tampered_token_is_invalid_even_when_it_has_also_expired() -> None:
    token = sign_token(SECRET, SALT, "x", signed_at=T0, max_age=1)
    with pytest.raises(InvalidTokenError):
        verify_token(SECRET, SALT, token[:-1] + ("A" if token[-1] != "A" else "B"), now=T0 + DAY)


def test_signed_at_and_now_default_to_the_current_time() -> None:
    token = sign_token(SECRET, SALT, "x", max_age=3600)
    assert verify_token(SECRET, SALT, token) == "x"
    assert verify_token(SECRET, SALT, token, now=time.time() + 3590) == "x"
    with pytest.raises(ExpiredTokenError):
        verify_token(SECRET, SALT, token, now=time.time() + 3700)


# --- the caller's mistakes -------------------------------------------------------------------


def test_a_secret_shorter_than_20_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 bytes"):
        sign_token("s" * 19, SALT, 1)
    with pytest.raises(ValueError, match="at least 20 bytes"):
        verify_token("s" * 19, SALT, "token")


def test_data_json_cannot_encode_is_refused_when_signing() -> None:
    with pytest.raises(TypeError, match="JSON"):
        sign_token(SECRET, SALT, {"when": object()})
    with pytest.raises(ValueError, match="JSON"):
        sign_token(SECRET, SALT, math.nan)


@pytest.mark.parametrize(
    "bad", [{"signed_at": math.nan}, {"signed_at": math.inf}, {"max_age": "1"}]
)
def test_bad_times_are_refused_when_signing(bad: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        sign_token(SECRET, SALT, 1, **bad)


def test_a_secret_or_salt_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        sign_token(12345678901234567890123, SALT, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_token(SECRET, None, "token")  # type: ignore[arg-type]


# --- in Socket.connect, behind a real endpoint -------------------------------------------------


class Room(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        return {"user_id": self.socket.assigns["user_id"]}


class TokenSocket(Socket):
    channels = (("rooms:*", Room),)

    def connect(self, params: Any, connect_info: Any) -> Any:
        try:
            user_id = verify_token(SECRET, SALT, params.get("token"), max_age=2 * 7 * DAY)
        except TokenError:
            return None
        return {"user_id": user_id}


async def test_a_socket_admits_a_good_token_and_refuses_others_with_403() -> None:
    good = sign_token(SECRET, SALT, 42)
    old = sign_token(SECRET, SALT, 42, signed_at=time.time() - 15 * DAY, max_age=30 * DAY)
    forged = sign_token("b" * 64, SALT, 42)
    async with trouper.open_node():
        await PubSub.start_link("chat")
        _, port = await start_endpoint(Endpoint(TokenSocket, pubsub="chat"), "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{port}/socket/websocket"
        async with open_client(url, {"token": good}) as client:
            room = await client.join("rooms:lobby")
            assert room.response == {"user_id": 42}
        for params in ({"token": old}, {"token": forged}, {"token": good[:-2]}, {}):
            with pytest.raises(ConnectionRejectedError) as rejected:
                async with open_client(url, params):
                    pytest.fail(f"connected with {params}")  # pragma: no cover
            assert rejected.value.status_code == 403
