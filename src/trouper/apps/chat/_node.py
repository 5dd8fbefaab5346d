"""The chat as one node of a cluster: what ``trouper chat --nodes N`` runs N times.

``trouper chat --nodes 2`` is a launcher (``trouper.cluster.run_nodes``): it starts a
private redis-server unless ``--redis`` names one, holds the port, and starts N node
processes that all accept on it (SO_REUSEPORT). Each node process calls
:func:`cluster_node` with its :class:`~trouper.cluster.NodeConfig`; the chat's own options
(``--history``, ``--idle-timeout``, ``--log-level``) reach it through its environment as
:class:`NodeOptions`. Every node runs the same tree under the same names (the pubsub, the
cluster server, Presence, the history...), which is how their processes find each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from trouper.cluster import NodeConfig
from trouper.pubsub import RedisAdapter
from trouper.supervision import Application

from ._app import chat_application
from ._cli import banner, configure_logging
from ._config import ChatConfig

ENTRY = "trouper.apps.chat:cluster_node"
_ENV = "TROUPER_CHAT"


@attrs.frozen
class NodeOptions:
    """The chat's options, as the launcher passes them to every node."""

    history: int = 50
    idle_timeout: float = 60.0
    log_level: str = "info"

    def to_environ(self) -> dict[str, str]:
        return {f"{_ENV}_{key.upper()}": str(value) for key, value in attrs.asdict(self).items()}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> NodeOptions:
        """The options in ``environ`` (``os.environ`` if None); defaults for those unset."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            history=int(env.get(f"{_ENV}_HISTORY", default.history)),
            idle_timeout=float(env.get(f"{_ENV}_IDLE_TIMEOUT", default.idle_timeout)),
            log_level=env.get(f"{_ENV}_LOG_LEVEL", default.log_level),
        )


def cluster_node(config: NodeConfig) -> Application:
    """One chat node: the chat application on a Redis adapter, with the cluster server.

    The entry point of ``trouper chat --nodes N`` (``run_nodes(ENTRY, ...)``). The first
    node prints the banner; every node tells the launcher it serves once it listens.
    """
    options = NodeOptions.from_environ()
    configure_logging(options.log_level, node=config.name)

    def listening(host: str, port: int) -> None:
        if config.index == 0:
            banner(host, port, nodes=config.nodes)
        config.ready()

    return chat_application(
        config.host,
        config.port,
        config=ChatConfig(history=options.history),
        idle_timeout=options.idle_timeout,
        pubsub_adapter=RedisAdapter(config.redis_url, node_name=config.name),
        on_listening=listening,
        cluster=True,
        reuse_port=config.reuse_port,
    )
