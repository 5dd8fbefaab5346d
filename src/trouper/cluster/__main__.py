"""``python -m trouper.cluster ENTRY --nodes N [--host H] [--port P] [--redis URL]``.

Runs N nodes of ``ENTRY`` (``module:function``, called with a
:class:`~trouper.cluster.NodeConfig` in each node) on one port; Ctrl-C stops them all, in
order. See :func:`trouper.cluster.run_nodes`. ``--node ENTRY`` is how the launcher starts
one node process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._launcher import LaunchError, run_node, run_nodes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trouper.cluster", description="Run N trouper nodes on one port."
    )
    parser.add_argument("entry", help="module:function returning what each node runs")
    parser.add_argument("--nodes", type=int, default=2, help="how many nodes (default 2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000, help="0 picks a free port")
    parser.add_argument("--redis", default=None, help="redis://host:port (default: a private one)")
    parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.node:
            return run_node(args.entry)
        return run_nodes(
            args.entry, nodes=args.nodes, host=args.host, port=args.port, redis_url=args.redis
        )
    except LaunchError as exc:
        print(f"trouper cluster: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
