"""A small cluster node for the tests (an entry point for ``python -m trouper.cluster``).

``app(config)`` is an Application: a pubsub on Redis, the cluster server, presence, and an
endpoint whose ``test:*`` channel lets a test drive the node from a client: broadcast,
register a name, send to a name on another node, monitor one, list the nodes. Logs are
JSON lines on stderr, which the tests read. Heartbeats and timeouts are short (override
with TEST_HEARTBEAT / TEST_DOWN_AFTER).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

import trouper
from trouper import cluster
from trouper.channels import (
    Channel,
    Endpoint,
    Presence,
    Reply,
    Socket,
    endpoint_spec,
    list_presences,
    track,
)
from trouper.cluster import Cluster, NodeConfig
from trouper.pubsub import PubSub, RedisAdapter
from trouper.supervision import Application, ChildSpec

NODE = {"name": "?"}


class Relay(trouper.Actor):
    """Registered under a name; forwards what it gets to the channel that registered it."""

    def init(self, channel: trouper.Pid) -> None:
        self.channel = channel

    def handle(self, message: Any) -> None:
        trouper.send(self.channel, ("inbox", message))


class TestChannel(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        if "track" in payload:
            trouper.send(trouper.self(), ("after_join", payload["track"]))
        return {"node": NODE["name"]}

    def handle_info(self, message: Any) -> None:
        match message:
            case ("after_join", key):
                topic = self.socket.topic
                self.socket.push("presence_state", list_presences("presence", topic))
                track("presence", topic, key, {"node": NODE["name"]})
            case ("inbox", payload):
                self.socket.push("inbox", {"message": payload})
            case trouper.Down(pid=(name, node), reason=reason):
                self.socket.push("down", {"name": name, "node": node, "reason": str(reason)})

    def handle_in(self, event: str, payload: Any) -> Any:
        match event:
            case "broadcast":
                self.socket.broadcast("msg", payload)
            case "register":
                trouper.spawn(Relay, trouper.self(), name=payload["name"])
            case "send":
                cluster.send((payload["name"], payload["node"]), payload["message"])
            case "monitor":
                cluster.monitor((payload["name"], payload["node"]))
            case "stop":
                trouper.exit(trouper.whereis(payload["name"]), payload["reason"])
            case "nodes":
                return Reply("ok", {"node": cluster.node_name(), "nodes": cluster.nodes()})
        return Reply("ok", {})


class TestSocket(Socket):
    channels = (("test:*", TestChannel),)


def app(config: NodeConfig) -> Application:
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    NODE["name"] = config.name
    heartbeat = float(os.environ.get("TEST_HEARTBEAT", "0.1"))
    down_after = float(os.environ.get("TEST_DOWN_AFTER", "2.0"))
    adapter = RedisAdapter(
        config.redis_url, node_name=config.name, reconnect_backoff=(0.05, 0.5), ping_interval=1.0
    )
    endpoint = Endpoint(TestSocket, pubsub="chat")
    return Application(
        f"test-{config.name}",
        [
            PubSub.child_spec("chat", shards=2, adapter=adapter),
            Cluster.child_spec("chat", heartbeat_interval=heartbeat, down_after=down_after),
            Presence.child_spec(
                "presence", "chat", broadcast_period=heartbeat, down_period=down_after
            ),
            endpoint_spec(endpoint, config.host, config.port, reuse_port=config.reuse_port),
            ChildSpec("ready", config.ready),  # returns None: nothing to supervise
        ],
    )
