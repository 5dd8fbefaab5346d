"""A trouper chat server for the Tsung smoke scenario (``benchmarks/tsung/smoke.xml``).

Usage (``run_smoke.sh`` starts it; by hand, from the repository root)::

    PYTHONPATH=src .venv/bin/python benchmarks/tsung/server.py --port 4000

The chat app of Phoenix's 2015 benchmark: a ``Socket`` that accepts everyone, a reactive
``Channel`` for ``rooms:lobby`` whose ``join`` returns ``{}`` (pushes get no reply: its
``handle_in`` is the default), a ``PubSub`` and ``start_endpoint`` on 127.0.0.1. A timer
process broadcasts ``new_msg`` to ``rooms:lobby`` every ``--interval`` seconds. The endpoint
picks the serializer from ``vsn``: Tsung's clients send none, so they get V1 JSON.

Bounded: the server stops by itself after ``--lifetime`` seconds (default 120), on SIGTERM or
SIGINT, or when its stdin closes if ``--stdin`` is given. It prints ``listening <port>`` on stdout
once it accepts, and at exit ``server: <j> joins, <b> broadcasts`` on stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import structlog
import trio

import trouper
from trouper import pubsub
from trouper.channels import Broadcast, Channel, Endpoint, Socket, dispatcher, start_endpoint
from trouper.pubsub import PubSub

TOPIC = "rooms:lobby"
PUBSUB = "chat"


class Counts:
    joins = 0
    broadcasts = 0


class Lobby(Channel):
    def join(self, topic: str, payload: Any) -> Any:
        Counts.joins += 1
        return {}


class ChatSocket(Socket):
    channels = ((TOPIC, Lobby),)

    def connect(self, params: Any, connect_info: Any) -> Any:
        return {}


async def broadcaster(interval: float) -> None:
    """A task process: ``new_msg`` to the lobby every ``interval`` seconds."""
    while True:
        await trio.sleep(interval)
        Counts.broadcasts += 1
        message = Broadcast(TOPIC, "new_msg", {"user": "server", "body": f"#{Counts.broadcasts}"})
        pubsub.broadcast(PUBSUB, TOPIC, message, dispatcher=dispatcher)


async def serve(args: argparse.Namespace) -> None:
    await PubSub.start_link(PUBSUB)
    _, port = await start_endpoint(Endpoint(ChatSocket, pubsub=PUBSUB), args.host, args.port)
    trouper.spawn_link(broadcaster, args.interval)
    print(f"listening {port}", flush=True)
    with (
        trio.move_on_after(args.lifetime),
        trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
    ):
        if args.stdin:
            stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
            while await stdin.receive_some():
                pass
        else:
            async for _ in signals:
                break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between broadcasts")
    parser.add_argument("--lifetime", type=float, default=120.0, help="stop after this long")
    parser.add_argument("--stdin", action="store_true", help="also stop when stdin closes")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    trouper.run(serve, args)
    print(f"server: {Counts.joins} joins, {Counts.broadcasts} broadcasts", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
