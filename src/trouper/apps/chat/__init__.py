"""trouper.apps.chat: the demo chat, Phoenix's chat example on trouper.

``trouper chat`` (or ``python -m trouper.apps.chat``) serves, on 127.0.0.1:4000, a page to
pick a name and a room and chat, with who is online (Presence), the room's recent history
on join, and a button that crashes your own channel process so you can watch it rejoin
while everyone else carries on; ``/observer`` shows the live supervision tree. docs/chat.md
is the guide. ``chat_application(...)`` is the same server as an ``Application``.
``trouper chat --nodes N`` runs N nodes on one port, linked through Redis; each runs
``cluster_node(config)``.
"""

from ._app import chat_application as chat_application
from ._cli import add_arguments as add_arguments
from ._cli import main as main
from ._cli import serve as serve
from ._config import ChatConfig as ChatConfig
from ._node import NodeOptions as NodeOptions
from ._node import cluster_node as cluster_node
from ._observer import snapshot as snapshot

__all__ = [
    "ChatConfig",
    "NodeOptions",
    "add_arguments",
    "chat_application",
    "cluster_node",
    "main",
    "serve",
    "snapshot",
]
