"""The chat application: its supervision tree, started by ``trouper.run(chat_application())``.

::

    chat                 Supervisor, one_for_one (the Application's top supervisor)
    ├── chat.pubsub      PubSub: its shards (and a cluster adapter's processes, if any)
    ├── trouper.cluster  in a cluster only: which nodes are up (trouper.cluster)
    ├── chat.presence    Presence server: who is in which room
    ├── chat.history     owner of the rooms' recent messages
    ├── chat.observer    snapshots of this tree for the /observer page
    └── chat.endpoint    the endpoint: HTTP pages and the Phoenix socket on one port
        ├── connections  DynamicSupervisor: one process per connection, each linked to
        │                its channel processes (one per joined room)
        └── listener

The endpoint starts last, so a client is accepted only once everything it needs runs, and
it stops first: SIGINT or SIGTERM stops the tree in reverse order.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

import trouper
from trouper.channels import Endpoint, Presence, start_endpoint
from trouper.cluster import Cluster
from trouper.pubsub import Adapter, LocalAdapter, PubSub
from trouper.supervision import Application, ChildSpec

from ._config import ChatConfig
from ._history import history_spec
from ._observer import observer_spec
from ._rooms import chat_socket
from ._web import routes

log = structlog.get_logger("trouper.apps.chat")


def url_of(host: str, port: int, path: str = "/") -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def chat_application(
    host: str = "127.0.0.1",
    port: int = 4000,
    *,
    config: ChatConfig | None = None,
    idle_timeout: float = 60.0,
    pubsub_adapter: Adapter | None = None,
    node_name: str | None = None,
    shards: int = 1,
    on_listening: Callable[[str, int], None] | None = None,
    cluster: bool = False,
    reuse_port: bool = False,
) -> Application:
    """The chat as an Application; run it with ``trouper.run(app)``.

    Args:
        host, port: where the endpoint listens (port 0 picks a free one).
        config: names and limits (history size, observer bounds); ``ChatConfig()`` if None.
        idle_timeout: seconds without a frame before a connection is closed. phoenix.js
            heartbeats every 30 s; raise it for clients that send none (Tsung).
        pubsub_adapter: the pubsub's link to other nodes (a cluster adapter); if None,
            ``LocalAdapter(node_name)``, a single node.
        node_name: this node's name when no adapter is given (shown on the pages).
        shards: pubsub shards.
        on_listening: called with the host and the bound port each time the endpoint
            starts: how a caller that asked for port 0 learns the port.
        cluster: also run ``trouper.cluster``'s server (after the pubsub), so the observer
            lists the other nodes; give a cluster adapter too. Every node of a chat
            cluster runs the same tree, under the same names.
        reuse_port: bind with SO_REUSEPORT, so the nodes of a cluster share the port.
    """
    config = ChatConfig() if config is None else config
    if pubsub_adapter is None:
        pubsub_adapter = LocalAdapter() if node_name is None else LocalAdapter(node_name)
    endpoint = Endpoint(
        chat_socket(config),
        pubsub=config.pubsub,
        routes=routes(config),
        idle_timeout=idle_timeout,
    )

    async def start_web() -> trouper.Pid:
        pid, bound = await start_endpoint(
            endpoint, host, port, name=config.endpoint, reuse_port=reuse_port
        )
        log.info(
            "chat_listening",
            url=url_of(host, bound),
            observer=url_of(host, bound, "/observer"),
            socket=f"ws{url_of(host, bound, endpoint.path)[4:]}",
        )
        if on_listening is not None:
            on_listening(host, bound)
        return pid

    children = [
        PubSub.child_spec(config.pubsub, shards=shards, adapter=pubsub_adapter),
        *([Cluster.child_spec(config.pubsub)] if cluster else []),
        Presence.child_spec(config.presence, pubsub=config.pubsub),
        history_spec(config.history_store, config.history, config.max_rooms, config.pubsub),
        observer_spec(config),
        ChildSpec(config.endpoint, start_web, type="supervisor"),
    ]
    return Application(config.name, children)
