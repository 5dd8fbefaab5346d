"""Signed tokens for connect params: Phoenix.Token's sign and verify, in Python.

A server signs some data (a user id, say) with its secret and a salt, hands the token to the
client (in the page, or from an API), and the client sends it back in the socket's connect
params. ``Socket.connect`` verifies it: the data comes back only if the token was signed
with the same secret and salt, has not been altered, and is younger than its maximum age.
The data is signed, not encrypted: anyone holding the token can read it.

How this works (Plug.Crypto's scheme, which Phoenix.Token uses):

- The signing key is derived from the secret and the salt with PBKDF2-HMAC-SHA256 (1,000
  iterations, 32 bytes by default, as Plug.Crypto.KeyGenerator), so one secret serves many
  purposes and a token signed for one salt is worthless for another. Derived keys are
  cached, since a derivation costs far more than a verification.
- The token is JWS-shaped: ``base64url("HS256") . base64url(payload) . base64url(HMAC)``,
  the HMAC-SHA256 taken over the first two parts as sent. The payload is JSON
  ``[data, signed_at_ms, max_age_s]``, where Phoenix's is Erlang's ``term_to_binary``: the
  envelope and the key derivation are Phoenix's, but a token made here cannot be read by
  Phoenix and one made by Phoenix cannot be read here.
- Verification compares the whole signature in constant time (``hmac.compare_digest``)
  before looking at anything inside, so a forged token learns nothing from the timing.

Errors are exceptions, one per Phoenix reason (``{:error, :invalid | :expired | :missing}``):
:class:`InvalidTokenError`, :class:`ExpiredTokenError`, :class:`MissingTokenError`, all
:class:`TokenError` with a ``reason`` string. Whatever the client sent as a token (any type,
any bytes), ``verify_token`` raises nothing else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import time
from typing import Any, ClassVar

DEFAULT_MAX_AGE = 86_400.0
"""Seconds a token stays valid unless told otherwise: one day, as in Phoenix."""

KEY_ITERATIONS = 1000
KEY_LENGTH = 32
MIN_SECRET_BYTES = 20  # Phoenix.Token refuses a shorter secret_key_base

_PROTECTED = base64.urlsafe_b64encode(b"HS256").rstrip(b"=")  # b"SFMyNTY"


class TokenError(Exception):
    """A token that did not verify; ``reason`` is ``"invalid"``, ``"expired"`` or ``"missing"``."""

    reason: ClassVar[str]


class InvalidTokenError(TokenError):
    """Not a token signed with this secret and salt, or altered since (Phoenix's ``:invalid``)."""

    reason = "invalid"


class ExpiredTokenError(TokenError):
    """A genuine token older than its maximum age (Phoenix's ``:expired``)."""

    reason = "expired"


class MissingTokenError(TokenError):
    """No token at all: ``None`` was given (Phoenix's ``:missing``, for ``nil``)."""

    reason = "missing"


def sign_token(
    secret_key_base: str | bytes,
    salt: str | bytes,
    data: Any,
    *,
    max_age: float = DEFAULT_MAX_AGE,
    signed_at: float | None = None,
    key_iterations: int = KEY_ITERATIONS,
    key_length: int = KEY_LENGTH,
) -> str:
    """Sign ``data`` (anything JSON can encode) into a URL-safe token.

    Args:
        secret_key_base: the server's secret, at least 20 bytes (Phoenix's rule). Keep it
            out of the source; every token signed with it is forgeable by whoever has it.
        salt: what the token is for (``"user socket"``); verify with the same salt.
        data: the signed value. It comes back as ``json.loads`` gives it (tuples as lists,
            keys as strings).
        max_age: seconds the token is valid, recorded in the token; ``verify_token`` can
            override it. ``math.inf``: never expires (Phoenix's ``:infinity``).
        signed_at: when it was signed, in seconds since the epoch (default: now). Kept in
            whole milliseconds, as Phoenix does.
        key_iterations, key_length: the PBKDF2 parameters; the same on both sides.

    Raises:
        TypeError: ``data`` is not JSON-serializable, or an argument has the wrong type.
        ValueError: the secret is too short, or a number is out of range (NaN included).
    """
    key = _signing_key(secret_key_base, salt, key_iterations, key_length)
    signed_ms = _ms(time.time() if signed_at is None else _seconds("signed_at", signed_at))
    max_age = _seconds("max_age", max_age)
    try:
        payload = json.dumps(
            [data, signed_ms, None if max_age == math.inf else max_age],
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"token data must be JSON-serializable: {exc}") from None
    signing_input = _PROTECTED + b"." + _b64encode(payload.encode())
    return (signing_input + b"." + _b64encode(_mac(key, signing_input))).decode("ascii")


def verify_token(
    secret_key_base: str | bytes,
    salt: str | bytes,
    token: str | bytes | None,
    *,
    max_age: float | None = None,
    now: float | None = None,
    key_iterations: int = KEY_ITERATIONS,
    key_length: int = KEY_LENGTH,
) -> Any:
    """Return the data signed into ``token``, or raise why it cannot be trusted.

    Args:
        secret_key_base, salt, key_iterations, key_length: as given to ``sign_token``.
        token: what the client sent; anything that is not a genuine token is invalid.
        max_age: seconds; overrides the age recorded in the token (default: use that one).
            ``math.inf`` accepts any age; 0 or less rejects every token as expired.
        now: the current time in seconds since the epoch (default: ``time.time()``). A
            token signed at ``t`` with age ``a`` is valid up to and including ``t + a``.

    Raises:
        MissingTokenError: ``token`` is None.
        InvalidTokenError: not signed with this secret and salt, altered, or not a token.
        ExpiredTokenError: genuine, but older than the maximum age.
        TypeError, ValueError: a bad secret, salt, ``max_age`` or ``now`` (the caller's
            arguments; never the token's content).
    """
    key = _signing_key(secret_key_base, salt, key_iterations, key_length)
    if max_age is not None:
        max_age = _seconds("max_age", max_age)
    now_ms = _ms(time.time() if now is None else _seconds("now", now))
    if token is None:
        raise MissingTokenError("no token")
    data, signed_ms, own_max_age = _open(key, token)
    if _expired(signed_ms, own_max_age if max_age is None else max_age, now_ms):
        raise ExpiredTokenError("token expired")
    return data


def _expired(signed_ms: int, max_age: float, now_ms: int) -> bool:
    """Phoenix's rule: valid while ``signed + max_age >= now``; an age of 0 or less never is."""
    if max_age <= 0:
        return True
    age_ms = max_age * 1000
    if age_ms == math.inf:  # math.inf, or so large it overflows: never expires
        return False
    return signed_ms + round(age_ms) < now_ms


def _open(key: bytes, token: object) -> tuple[Any, int, float]:
    """The payload of a token whose signature is right; InvalidTokenError otherwise."""
    if isinstance(token, str):
        if not token.isascii():
            raise InvalidTokenError("not a token")
        raw = token.encode("ascii")
    elif isinstance(token, bytes | bytearray | memoryview):
        raw = bytes(token)
    else:
        raise InvalidTokenError("not a token")
    parts = raw.split(b".")
    if len(parts) != 3 or parts[0] != _PROTECTED:
        raise InvalidTokenError("not a token")
    signing_input = parts[0] + b"." + parts[1]
    # Compare the encoded signature, all of it: a token differing in any byte is rejected,
    # including base64 spellings that would decode to the same bytes.
    if not hmac.compare_digest(_b64encode(_mac(key, signing_input)), parts[2]):
        raise InvalidTokenError("bad signature")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):
        payload = None
    match payload:
        case [data, int(signed_ms), None] if not isinstance(signed_ms, bool):
            return data, signed_ms, math.inf
        case [data, int(signed_ms), int() | float() as age] if not isinstance(
            signed_ms, bool
        ) and not isinstance(age, bool):
            return data, signed_ms, float(age)
    # Signed with our key, yet not our layout: not something this module made.
    raise InvalidTokenError("unreadable payload")


def _signing_key(
    secret_key_base: str | bytes, salt: str | bytes, iterations: int, length: int
) -> bytes:
    secret = _as_bytes("secret_key_base", secret_key_base)
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"secret_key_base must be at least {MIN_SECRET_BYTES} bytes")
    if type(iterations) is not int or type(length) is not int:
        raise TypeError("key_iterations and key_length must be int")
    if iterations < 1 or length < 1:
        raise ValueError("key_iterations and key_length must be positive")
    return _derive(secret, _as_bytes("salt", salt), iterations, length)


@functools.lru_cache(maxsize=256)
def _derive(secret: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    # Bounded, unlike Plug's cache: a server verifying with many salts cannot grow it forever.
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations, length)


def _mac(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _as_bytes(what: str, value: str | bytes) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{what} must be str or bytes, got {type(value).__name__}")


def _seconds(what: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    if math.isnan(value) or (value == -math.inf):
        raise ValueError(f"{what} must be a number of seconds, got {value}")
    return float(value)


def _ms(seconds: float) -> int:
    """Whole milliseconds, the resolution of the token's timestamps (as Phoenix)."""
    ms = seconds * 1000
    if not math.isfinite(ms):
        raise ValueError(f"a time must be finite, got {seconds}")
    return round(ms)
