"""trouper.channels: a Phoenix-Channels-compatible realtime layer.

Phoenix's boundaries (shared/reference/phoenix.md): the wire protocol
(``trouper.channels.protocol``: sans-I/O, imports no trio), the socket that multiplexes topics
over one connection, and one channel process per joined topic. So far only the protocol
exists; its public names are re-exported here.
"""

from .protocol import *  # noqa: F403
from .protocol import __all__ as _protocol_all

__all__ = [*_protocol_all]
