"""The command line: ``trouper chat`` and ``python -m trouper.apps.chat``.

This is the application's entry point, so it is where logging is configured (the library
never configures structlog): readable console lines, one per event, with tracebacks for
crash reports. Ctrl-C (SIGINT) or SIGTERM stops the supervision tree in reverse order and
the program exits 0.

``--nodes N`` (N > 1) or ``--redis URL`` runs the chat as a cluster instead: this process
becomes the launcher (``trouper.cluster.run_nodes``) of N node processes on one port
(``_node.cluster_node``), with a private redis-server unless ``--redis`` names one. Ctrl-C
stops the nodes, last started first, then the redis-server. The default, one node, is the
chat embedded in this process, with no Redis.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import structlog

LEVELS = ("debug", "info", "warning", "error")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The chat's options (shared by ``trouper chat`` and ``python -m trouper.apps.chat``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4000, help="port (0 picks a free one)")
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close a connection after this long without a frame (phoenix.js heartbeats "
        "every 30 s; raise it for load tools such as Tsung that send no heartbeat)",
    )
    parser.add_argument(
        "--history", type=int, default=50, metavar="N", help="messages kept per room"
    )
    parser.add_argument("--log-level", choices=LEVELS, default="info")
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        metavar="N",
        help="run N node processes on one port (SO_REUSEPORT), linked through Redis; "
        "1 (the default) serves from this process and needs no Redis",
    )
    parser.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help="redis://host:port linking the nodes (default with --nodes: a private "
        "redis-server started and stopped with them)",
    )


def configure_logging(level: str, colors: bool | None = None, node: str | None = None) -> None:
    """Readable console output on stdout: time, level, event, then the fields. With
    ``node``, every line names the node that logged it (``[node1]`` after the event): the
    nodes of a cluster share the terminal, and some events have a ``node`` field of their
    own (the peer in ``nodeup``)."""

    def add_node(logger: Any, method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        event["logger_name"] = node  # the console renderer shows it as [node]
        return event

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            *([add_node] if node is not None else []),
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(
                colors=sys.stdout.isatty() if colors is None else colors,
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )


def banner(host: str, port: int, nodes: int = 1) -> None:
    """The line a user looks for: where the chat is, and how to stop it."""
    from ._app import url_of

    url = url_of(host, port)
    where = f"   {nodes} nodes on one port" if nodes > 1 else ""
    print(f"\n  trouper chat  {url}   observer  {url}observer{where}   Ctrl-C stops\n", flush=True)


def serve(args: argparse.Namespace) -> int:
    """Serve the chat until SIGINT or SIGTERM."""
    import trouper

    from ._app import chat_application
    from ._config import ChatConfig

    if args.history < 0:
        raise SystemExit("--history must be >= 0")
    if args.idle_timeout <= 0:
        raise SystemExit("--idle-timeout must be > 0")
    nodes, redis = getattr(args, "nodes", 1), getattr(args, "redis", None)  # older callers
    if nodes < 1:
        raise SystemExit("--nodes must be >= 1")
    if nodes > 1 or redis is not None:
        return serve_nodes(args)
    configure_logging(args.log_level)

    app = chat_application(
        args.host,
        args.port,
        config=ChatConfig(history=args.history),
        idle_timeout=args.idle_timeout,
        on_listening=banner,
    )
    trouper.run(app)  # type: ignore[arg-type]  # an Application runs by its __trouper_main__
    return 0


def serve_nodes(args: argparse.Namespace) -> int:
    """Launch ``args.nodes`` chat nodes on one port and wait for SIGINT or SIGTERM.

    Returns the launcher's status (0 after a clean stop), or 2 when the cluster cannot
    start (no redis-server and no ``--redis``, the port is taken).
    """
    from trouper.cluster import LaunchError, run_nodes
    from trouper.pubsub import RedisAdapter

    from ._node import ENTRY, NodeOptions

    try:  # what every node needs, checked once here rather than failing N times there
        RedisAdapter("redis://127.0.0.1" if args.redis is None else args.redis)
    except (ImportError, ValueError) as exc:
        print(f"trouper chat: {exc}", file=sys.stderr)
        return 2
    options = NodeOptions(args.history, args.idle_timeout, args.log_level)
    try:
        return run_nodes(
            ENTRY,
            nodes=args.nodes,
            host=args.host,
            port=args.port,
            redis_url=args.redis,
            env=options.to_environ(),
        )
    except LaunchError as exc:
        print(f"trouper chat: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trouper.apps.chat", description="Serve the trouper chat demo."
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))
