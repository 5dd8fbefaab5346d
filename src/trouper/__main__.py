"""The ``trouper`` command (also ``python -m trouper``).

``trouper demo`` runs a small example of the actor runtime: a GenServer, a crash that kills
only its own process, and a 100,000-process fan-out, printing what happens. ``trouper demo
--tree`` starts a small supervision tree and prints it live. ``trouper chat`` serves the demo
chat (trouper.apps.chat; ``trouper chat --help`` lists its options).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import structlog

import trouper
from trouper.apps import chat


class Counter(trouper.GenServer):
    """A GenServer holding a number: reactive, because its callbacks are plain def."""

    def init(self, start: int) -> None:
        self.value = start

    def handle_call(self, request: Any, from_: trouper.From) -> Any:
        match request:
            case "get":
                return self.value
            case ("add", amount):
                self.value += amount
                return self.value
            case "crash":
                raise RuntimeError("asked to crash")
        raise ValueError(f"unknown request {request!r}")


class Tally(trouper.Actor):
    """One of many tiny reactive processes: counts the messages it gets."""

    seen = 0

    def handle(self, message: Any) -> None:
        Tally.seen += 1


async def demo(out: Any = sys.stdout) -> None:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    say(f"root process {trouper.self()!r}")
    counter = await Counter.start(1, name="counter")
    assert counter is not None
    say(f"started Counter {counter!r} registered as 'counter'")
    say(f"call get -> {await trouper.call('counter', 'get')}")
    say(f"call add 41 -> {await trouper.call('counter', ('add', 41))}")

    ref = trouper.monitor(counter)
    try:
        await trouper.call(counter, "crash")
    except trouper.CallError as exc:
        say(f"call crash -> CallError, reason {exc.reason!r}")
    down = await trouper.receive(trouper.Down)
    assert down.ref is ref
    say(f"monitor fired: Down(pid={down.pid!r}, reason={down.reason!r})")
    say(f"the root is still alive: {trouper.is_alive(trouper.self())}")

    n = 100_000
    start = time.perf_counter()
    pids = [trouper.spawn(Tally) for _ in range(n)]
    spawned = time.perf_counter()
    for pid in pids:
        trouper.send(pid, "hello")
    while Tally.seen < n:
        await trouper.receive(timeout=0.001, after=None)
    done = time.perf_counter()
    say(
        f"spawned {n:,} reactive processes in {spawned - start:.3f} s; "
        f"one message to each handled in {done - spawned:.3f} s"
    )
    say(f"node: {trouper.statistics()}")


async def demo_tree(out: Any = sys.stdout) -> None:
    """Start a small supervision tree and print it as ``trouper.supervision.tree`` sees it."""
    from trouper.supervision import ChildSpec, DynamicSupervisor, Supervisor, format_tree, tree

    workers = [ChildSpec(f"counter-{n}", Counter, (n,)) for n in range(2)]
    top = await Supervisor.start_link(
        [
            Supervisor.child_spec("counters", workers, strategy="one_for_all"),
            DynamicSupervisor.child_spec("sessions"),
            ChildSpec("tally", Tally),
        ],
        name="demo",
    )
    print(format_tree(await tree(top)), file=out, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trouper", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    demo_parser = sub.add_parser("demo", help="run a short tour of the actor runtime")
    demo_parser.add_argument(
        "--tree", action="store_true", help="print the live tree of a small supervision tree"
    )
    chat_parser = sub.add_parser("chat", help="serve the demo chat on http://127.0.0.1:4000/")
    chat.add_arguments(chat_parser)
    args = parser.parse_args(argv)
    if args.command == "chat":
        return chat.serve(args)
    if args.command in (None, "demo"):
        if getattr(args, "tree", False):
            structlog.configure(
                wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
            )
            trouper.run(demo_tree)
        else:
            trouper.run(demo)
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
