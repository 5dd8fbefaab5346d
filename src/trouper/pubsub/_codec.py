"""The cluster wire format: JSON plus a small tagged encoding, never pickle.

A message that crosses to another node is encoded here and decoded there. Pickle would
carry any Python object, but unpickling runs code chosen by whoever wrote the bytes, so
anyone able to publish on the cluster bus could run code on every node. JSON can only
build plain data; the few Python types it lacks, and the message classes that the layers
above register, are carried as *tagged* objects: a JSON object whose key ``"!"`` names
the type and whose key ``"v"`` holds the value.

=====================  ==========================================================
Python value           on the wire
=====================  ==========================================================
None, bool, int,       themselves
float, str, list
dict with str keys     itself, unless it has the key ``"!"`` (then as below)
other dicts            ``{"!": "dict", "v": [[key, value], ...]}``
tuple                  ``{"!": "tuple", "v": [...]}``
bytes                  ``{"!": "bytes", "v": "<base64>"}``
a registered class     ``{"!": "<its name>", "v": [field, ...]}`` (attrs classes)
anything else          :class:`CodecError`, in the sender, before anything is sent
=====================  ==========================================================

Decoding only ever builds these: plain JSON values, tuples, bytes, dicts and instances of
registered classes, through their own ``__init__``. An unknown tag is a :class:`CodecError`.
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar, cast

import attrs

TAG = "!"
_BUILTIN_TAGS = frozenset({"dict", "tuple", "bytes"})

# tag name -> class, class -> (tag name, field names). Module-level, like the dispatcher
# registry: a name means the same class on every node that imported the same modules.
_classes: dict[str, type] = {}
_tags: dict[type, tuple[str, tuple[str, ...]]] = {}

C = TypeVar("C", bound=type)


class CodecError(ValueError):
    """A value cannot cross to another node, or bytes from the bus are not a valid message."""


def register_message_type(cls: C, name: str | None = None) -> C:
    """Let instances of the attrs class ``cls`` cross nodes, tagged as ``name``; returns ``cls``.

    Register at import time of the module that defines the class, under a name that is the
    same on every node (the default is ``module.QualName``). The receiving node rebuilds an
    instance with ``cls(*fields)``; the fields must themselves be encodable.

    Raises:
        TypeError: ``cls`` is not an attrs class.
        ValueError: the name is taken by another class, or is one of the built-in tags.
    """
    if not attrs.has(cls):  # narrows cls for mypy, hence the cast on return
        raise TypeError(f"only attrs classes can be registered, not {cls!r}")
    tag = f"{cls.__module__}.{cls.__qualname__}" if name is None else name
    if not isinstance(tag, str) or not tag or tag in _BUILTIN_TAGS:
        raise ValueError(f"invalid message type name {tag!r}")
    held = _classes.get(tag)
    if held is not None and held is not cls:
        raise ValueError(f"message type name {tag!r} is already registered to {held!r}")
    fields = tuple(field.name for field in attrs.fields(cls) if field.init)
    _classes[tag] = cls
    _tags[cls] = (tag, fields)
    return cast(C, cls)


def _encode_value(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        if TAG not in value and all(type(key) is str for key in value):
            return {key: _encode_value(item) for key, item in value.items()}
        pairs = [[_encode_value(key), _encode_value(item)] for key, item in value.items()]
        return {TAG: "dict", "v": pairs}
    if kind is list:
        return [_encode_value(item) for item in value]
    if kind is tuple:
        return {TAG: "tuple", "v": [_encode_value(item) for item in value]}
    if kind is bytes:
        return {TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    registered = _tags.get(kind)
    if registered is not None:
        tag, fields = registered
        return {TAG: tag, "v": [_encode_value(getattr(value, field)) for field in fields]}
    # Subclasses of the JSON types (an IntEnum, a str subclass) travel as the plain type.
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    raise CodecError(
        f"{value!r} cannot be sent to another node: cluster messages carry JSON data, "
        f"tuples, bytes and registered message types (trouper.pubsub.register_message_type)"
    )


def _decode_object(obj: dict[str, Any]) -> Any:
    if TAG not in obj:
        return obj
    tag, value = obj[TAG], obj.get("v")
    try:
        if tag == "bytes" and type(value) is str:
            return base64.b64decode(value, validate=True)
        if type(value) is not list:
            raise CodecError(f"bad {tag!r} value on the wire: {value!r:.100}")
        if tag == "tuple":
            return tuple(value)
        if tag == "dict":
            return {key: item for key, item in value}
        cls = _classes.get(tag)
        if cls is None:
            raise CodecError(f"unknown message type {tag!r} (not registered on this node)")
        return cls(*value)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"bad {tag!r} value on the wire: {exc}") from exc


def encode(value: Any) -> bytes:
    """``value`` as bytes for the bus; :class:`CodecError` if it cannot cross nodes."""
    try:
        return json.dumps(
            _encode_value(value), separators=(",", ":"), ensure_ascii=False, allow_nan=True
        ).encode("utf-8")
    except CodecError:
        raise
    except (ValueError, RecursionError) as exc:  # a circular structure, a lone surrogate
        raise CodecError(f"{value!r:.200} cannot be sent to another node: {exc}") from exc


def decode(data: bytes) -> Any:
    """The value :func:`encode` made; :class:`CodecError` for anything else."""
    try:
        return json.loads(data, object_hook=_decode_object)
    except CodecError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"not a cluster message: {exc}") from exc


def encode_frame(node: str, topic: str, message: Any, dispatcher: str) -> bytes:
    """A broadcast as it crosses nodes: format version, sender, dispatcher, topic, message."""
    return encode([1, node, dispatcher, topic, message])


def decode_frame(data: bytes) -> tuple[str, str, Any, str]:
    """``(sender node, topic, message, dispatcher name)`` from :func:`encode_frame`'s bytes."""
    frame = decode(data)
    if type(frame) is not list or len(frame) != 5 or frame[0] != 1:
        raise CodecError(f"not a version-1 broadcast frame: {data[:100]!r}")
    _, node, dispatcher, topic, message = frame
    if type(node) is not str or type(dispatcher) is not str or type(topic) is not str:
        raise CodecError(f"bad frame header: {data[:100]!r}")
    return node, topic, message, dispatcher
