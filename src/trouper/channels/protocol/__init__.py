"""The Phoenix Channels wire protocol, sans-I/O: frames in -> events out, commands in -> frames out.

Pure Python: no trio, no sockets, nothing from the rest of trouper. The server's I/O shell
reads a WebSocket message, passes it to :meth:`Connection.receive` (``str`` for a text frame,
``bytes`` for a binary one), acts on the returned events, and writes
:meth:`Connection.take_outgoing`. Broadcasts skip the connection: the server encodes each one
once per serializer with :meth:`Serializer.encode_broadcast` and writes the same frame to every
subscriber (Phoenix's fastlane). The specification is shared/reference/phoenix.md section 2.

Errors come in two kinds. :class:`ProtocolError`: the peer sent garbage; the server closes the
socket with the error's ``close_code``. :class:`ProtocolUsageError`: our own code misused the
API; a bug to fix, never the client's fault.

What the server does for each condition (phoenix.md 2.6; the close codes are ours, since
Phoenix just crashes the connection on a frame it cannot decode; see ``_errors.py``):

| condition                                         | server answer                               |
| ------------------------------------------------- | ------------------------------------------- |
| ``vsn`` unparsable or not 1.0.x / 2.0.x           | refuse the upgrade: HTTP 403                |
| invalid UTF-8 or JSON, wrong shape or field types | close 1007 (``MalformedFrameError``)        |
| binary frame truncated, unknown kind, overrunning | close 1007 (``BinaryFrameError``)           |
| frame over ``max_frame_size``                     | close 1009 (``FrameTooLargeError``)         |
| join of a topic no route matches                  | error reply ``unmatched topic``             |
| join beyond ``max_channels``                      | error reply ``too many channels joined``    |
| other event on a topic without a channel          | error reply ``unmatched topic``             |
| leave of a topic without a channel                | ok reply                                    |
| message with a stale join_ref                     | dropped silently                            |
| heartbeat                                         | ok reply                                    |
| join of a topic that has a channel                | ``phx_close`` to the old, new join proceeds |
| channel stopped gracefully / crashed              | ``phx_close`` / ``phx_error``               |

The reply-or-close conditions are data as well: each exception class carries its
``close_code``, and the reasons are the constants :data:`UNMATCHED_TOPIC`,
:data:`TOO_MANY_CHANNELS`, :data:`JOIN_CRASHED` and :data:`CHANNEL_CRASH`.
"""

from ._connection import DEFAULT_MAX_CHANNELS as DEFAULT_MAX_CHANNELS
from ._connection import ChannelInfo as ChannelInfo
from ._connection import ChannelReplaced as ChannelReplaced
from ._connection import Connection as Connection
from ._connection import Event as Event
from ._connection import HeartbeatReceived as HeartbeatReceived
from ._connection import JoinRequested as JoinRequested
from ._connection import LeaveRequested as LeaveRequested
from ._connection import PushReceived as PushReceived
from ._errors import BinaryFrameError as BinaryFrameError
from ._errors import FrameTooLargeError as FrameTooLargeError
from ._errors import MalformedFrameError as MalformedFrameError
from ._errors import ProtocolError as ProtocolError
from ._errors import ProtocolUsageError as ProtocolUsageError
from ._errors import UnsupportedVersionError as UnsupportedVersionError
from ._message import CHANNEL_CRASH as CHANNEL_CRASH
from ._message import HEARTBEAT as HEARTBEAT
from ._message import JOIN_CRASHED as JOIN_CRASHED
from ._message import PHOENIX_TOPIC as PHOENIX_TOPIC
from ._message import PHX_CLOSE as PHX_CLOSE
from ._message import PHX_ERROR as PHX_ERROR
from ._message import PHX_JOIN as PHX_JOIN
from ._message import PHX_LEAVE as PHX_LEAVE
from ._message import PHX_REPLY as PHX_REPLY
from ._message import TOO_MANY_CHANNELS as TOO_MANY_CHANNELS
from ._message import UNMATCHED_TOPIC as UNMATCHED_TOPIC
from ._message import Message as Message
from ._message import Payload as Payload
from ._message import Reply as Reply
from ._serializers import CLIENT as CLIENT
from ._serializers import SERVER as SERVER
from ._serializers import Frame as Frame
from ._serializers import InboundFrame as InboundFrame
from ._serializers import Role as Role
from ._serializers import Serializer as Serializer
from ._serializers import V1JSONSerializer as V1JSONSerializer
from ._serializers import V2JSONSerializer as V2JSONSerializer
from ._serializers import serializer_for_vsn as serializer_for_vsn

__all__ = [
    "CHANNEL_CRASH",
    "CLIENT",
    "DEFAULT_MAX_CHANNELS",
    "HEARTBEAT",
    "JOIN_CRASHED",
    "PHOENIX_TOPIC",
    "PHX_CLOSE",
    "PHX_ERROR",
    "PHX_JOIN",
    "PHX_LEAVE",
    "PHX_REPLY",
    "SERVER",
    "TOO_MANY_CHANNELS",
    "UNMATCHED_TOPIC",
    "BinaryFrameError",
    "ChannelInfo",
    "ChannelReplaced",
    "Connection",
    "Event",
    "Frame",
    "FrameTooLargeError",
    "HeartbeatReceived",
    "InboundFrame",
    "JoinRequested",
    "LeaveRequested",
    "MalformedFrameError",
    "Message",
    "Payload",
    "ProtocolError",
    "ProtocolUsageError",
    "PushReceived",
    "Reply",
    "Role",
    "Serializer",
    "UnsupportedVersionError",
    "V1JSONSerializer",
    "V2JSONSerializer",
    "serializer_for_vsn",
]
