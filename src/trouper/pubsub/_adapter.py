"""The adapter boundary: how broadcasts reach other nodes.

A pubsub delivers to its own node's subscribers itself; everything that crosses to other
nodes goes through its adapter. ``broadcast`` hands the message to the adapter (for every
other node) and then dispatches locally; ``direct_broadcast`` hands it to the adapter only,
even when the target is this node (Phoenix does the same, so one code path is exercised).
``local_broadcast`` never touches the adapter.

An adapter's side of a broadcast runs in the broadcaster, like the local dispatch: it must
not block or wait. A cluster adapter enqueues (for example sends the payload to its
publisher process, which keeps the order of each broadcaster's messages) and returns. On
the receiving node, its subscriber process calls
``local_broadcast(pubsub, topic, message, dispatcher=name)`` with the dispatcher *name* it
was given, which that node resolves in its own dispatcher registry. Callers of the pubsub
API never see which adapter is configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from trouper.supervision import ChildSpec


class Adapter(Protocol):
    """What a pubsub needs from its link to other nodes (Phoenix.PubSub.Adapter).

    One adapter object serves one pubsub. Subclass it to inherit the no-op lifecycle hooks,
    or implement every member (it is a ``typing.Protocol``).
    """

    def node_name(self) -> str:
        """This node's name in the cluster: unique, and stable while the node runs."""
        ...

    def broadcast(self, topic: str, message: Any, dispatcher: str) -> None:
        """Deliver to ``topic``'s subscribers on every node but this one.

        The remote nodes dispatch with the dispatcher registered as ``dispatcher`` there, to
        all their subscribers (a ``broadcast_from`` sender is local, so remote nodes need no
        ``from``). Must not block: called from the broadcaster, possibly a reactive callback.
        """
        ...

    def direct_broadcast(self, node_name: str, topic: str, message: Any, dispatcher: str) -> None:
        """Deliver to ``topic``'s subscribers on node ``node_name`` only (this one included).

        Must not block. A node that does not exist receives nothing, as a send to a dead
        pid is dropped.
        """
        ...

    def start(self, pubsub: str) -> Sequence[ChildSpec]:
        """Called as the pubsub starts, before any of its processes.

        Learn the pubsub's name (to call ``local_broadcast`` on it for incoming messages)
        and return the specs of the processes the adapter needs, such as a connection to
        the cluster bus. The pubsub's supervisor starts them after the shards and restarts
        them like any child. Called again if the pubsub is restarted.
        """
        return ()

    def stop(self) -> None:
        """Called when the pubsub has stopped (its supervisor exited, for any reason).

        Runs inside the runtime's exit handling: it must not block; an exception is logged
        and otherwise ignored. The adapter's processes are already gone.
        """
        return None


class LocalAdapter(Adapter):
    """The single-node adapter (the default): there are no other nodes.

    ``broadcast`` has nobody else to reach; ``direct_broadcast`` to this node's name is a
    local dispatch, to any other name nothing.

    Args:
        node_name: what :func:`~trouper.pubsub.node_name` reports; Erlang's name for a node
            that is not distributed by default.
    """

    def __init__(self, node_name: str = "nonode@nohost") -> None:
        if not isinstance(node_name, str) or not node_name:
            raise ValueError(f"node_name must be a non-empty str, not {node_name!r}")
        self._node_name = node_name
        self._pubsub: str | None = None

    def __repr__(self) -> str:
        return f"<LocalAdapter {self._node_name!r} pubsub={self._pubsub!r}>"

    def node_name(self) -> str:
        """This node's name."""
        return self._node_name

    def start(self, pubsub: str) -> Sequence[ChildSpec]:
        """Remember which pubsub ``direct_broadcast`` delivers to; no processes needed."""
        self._pubsub = pubsub
        return ()

    def stop(self) -> None:
        """Forget the pubsub."""
        self._pubsub = None

    def broadcast(self, topic: str, message: Any, dispatcher: str) -> None:
        """No other nodes: nothing to do (the caller dispatches locally itself)."""
        return None

    def direct_broadcast(self, node_name: str, topic: str, message: Any, dispatcher: str) -> None:
        """Dispatch locally if ``node_name`` is this node; otherwise nobody receives it."""
        if node_name == self._node_name and self._pubsub is not None:
            # Imported here: the API module imports this one for the default adapter.
            from ._api import local_broadcast

            local_broadcast(self._pubsub, topic, message, dispatcher=dispatcher)
