"""The command line: ``trouper chat`` and ``python -m trouper.apps.chat``.

This is the application's entry point, so it is where logging is configured (the library
never configures structlog): readable console lines, one per event, with tracebacks for
crash reports. Ctrl-C (SIGINT) or SIGTERM stops the supervision tree in reverse order and
the program exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

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


def configure_logging(level: str, colors: bool | None = None) -> None:
    """Readable console output on stdout: time, level, event, then the fields."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
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


def serve(args: argparse.Namespace) -> int:
    """Serve the chat until SIGINT or SIGTERM."""
    import trouper

    from ._app import chat_application, url_of
    from ._config import ChatConfig

    if args.history < 0:
        raise SystemExit("--history must be >= 0")
    if args.idle_timeout <= 0:
        raise SystemExit("--idle-timeout must be > 0")
    configure_logging(args.log_level)

    def banner(host: str, port: int) -> None:
        url = url_of(host, port)
        print(f"\n  trouper chat  {url}   observer  {url}observer   Ctrl-C stops\n", flush=True)

    app = chat_application(
        args.host,
        args.port,
        config=ChatConfig(history=args.history),
        idle_timeout=args.idle_timeout,
        on_listening=banner,
    )
    trouper.run(app)  # type: ignore[arg-type]  # an Application runs by its __trouper_main__
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trouper.apps.chat", description="Serve the trouper chat demo."
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))
