"""trouper.cluster: several nodes (OS processes) acting as one system.

CPython runs one core per process, so a second core, and every machine after the first, is
reached by running more nodes. Nodes are linked by their pubsub's cluster adapter (Redis):
broadcasts cross to every node once and fan out there (``trouper.pubsub.RedisAdapter``).
On top of that bus this package gives what Erlang's distribution gives: which nodes are up
(heartbeats), sends to a registered name on another node, and monitors of processes on
other nodes that fire with ``noconnection`` when their node goes down. It also runs N
nodes as one command (``run_nodes``, ``python -m trouper.cluster``). docs/cluster.md is the
guide.
"""

from ._launcher import LaunchError as LaunchError
from ._launcher import NodeConfig as NodeConfig
from ._launcher import run_nodes as run_nodes
from ._launcher import start_private_redis as start_private_redis
from ._messages import NodeDown as NodeDown
from ._messages import NodeUp as NodeUp
from ._peers import Heard as Heard
from ._peers import Peers as Peers
from ._server import NOCONNECTION as NOCONNECTION
from ._server import Cluster as Cluster
from ._server import ClusterError as ClusterError
from ._server import demonitor as demonitor
from ._server import monitor as monitor
from ._server import monitor_nodes as monitor_nodes
from ._server import node_name as node_name
from ._server import nodes as nodes
from ._server import send as send

__all__ = [
    "NOCONNECTION",
    "Cluster",
    "ClusterError",
    "Heard",
    "LaunchError",
    "NodeConfig",
    "NodeDown",
    "NodeUp",
    "Peers",
    "demonitor",
    "monitor",
    "monitor_nodes",
    "node_name",
    "nodes",
    "run_nodes",
    "send",
    "start_private_redis",
]
