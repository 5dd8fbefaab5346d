"""trouper.channels: the Phoenix Channels wire protocol, sockets, channels and the endpoint.

``protocol`` is the sans-I/O wire format (no trio). On top of it: the ``Socket`` and
``Channel`` behaviours, one supervised task process per WebSocket connection, one process
per joined channel, and an ``Endpoint`` that serves HTTP and the socket on one port.
``sign_token`` / ``verify_token`` are Phoenix.Token's signed connect tokens.
"""

from . import protocol as protocol
from ._channel import LEFT as LEFT
from ._channel import Channel as Channel
from ._channel import ChannelSocket as ChannelSocket
from ._channel import JoinRefused as JoinRefused
from ._channel import Reply as Reply
from ._endpoint import Endpoint as Endpoint
from ._endpoint import endpoint_spec as endpoint_spec
from ._endpoint import start_endpoint as start_endpoint
from ._fastlane import Broadcast as Broadcast
from ._fastlane import dispatcher as dispatcher
from ._http import HttpRequest as HttpRequest
from ._http import HttpResponse as HttpResponse
from ._presence import Presence as Presence
from ._presence import list_presences as list_presences
from ._presence import track as track
from ._presence import untrack as untrack
from ._presence import update as update
from ._socket import Socket as Socket
from ._token import ExpiredTokenError as ExpiredTokenError
from ._token import InvalidTokenError as InvalidTokenError
from ._token import MissingTokenError as MissingTokenError
from ._token import TokenError as TokenError
from ._token import sign_token as sign_token
from ._token import verify_token as verify_token
from ._virtual import ClientClose as ClientClose
from ._virtual import ClientFrame as ClientFrame
from ._virtual import FrameCounter as FrameCounter
from ._virtual import FrameRecorder as FrameRecorder
from ._virtual import VirtualConnection as VirtualConnection
from ._virtual import virtual_connection_spec as virtual_connection_spec

__all__ = [
    "LEFT",
    "Broadcast",
    "Channel",
    "ChannelSocket",
    "ClientClose",
    "ClientFrame",
    "Endpoint",
    "ExpiredTokenError",
    "FrameCounter",
    "FrameRecorder",
    "HttpRequest",
    "HttpResponse",
    "InvalidTokenError",
    "JoinRefused",
    "MissingTokenError",
    "Presence",
    "Reply",
    "Socket",
    "TokenError",
    "VirtualConnection",
    "dispatcher",
    "endpoint_spec",
    "list_presences",
    "protocol",
    "sign_token",
    "start_endpoint",
    "track",
    "untrack",
    "update",
    "verify_token",
    "virtual_connection_spec",
]
