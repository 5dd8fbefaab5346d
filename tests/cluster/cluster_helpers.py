"""Real nodes for the tests: each an OS process running ``node_app.app`` (one node per
process is the runtime's rule), driven through websocket clients.

``start_node`` starts one as the launcher would (``python -m trouper.cluster --node``),
on a port of its own so a test can reach a given node, and waits (bounded) until it says
it serves. Its log (JSON lines) goes to a file the test can read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

import trouper
from redis_server import free_port
from trouper.channels.client import JoinedChannel, open_client
from trouper.cluster import NodeConfig

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


class Node:
    """A node process; ``url`` is its websocket endpoint."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, log: Path):
        self.name = name
        self.process = process
        self.port = port
        self.log_path = log

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    def events(self) -> list[dict[str, Any]]:
        """Its log so far, one dict per structlog event."""
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def kill(self) -> None:
        """SIGKILL: the node vanishes without a word."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


async def start_node(name: str, redis_url: str, logs: Path, **env: str) -> Node:
    ready_r, ready_w = os.pipe()
    port = free_port()
    config = NodeConfig(name, 0, 1, "127.0.0.1", port, redis_url, False, ready_w)
    log = logs / f"{name}.log"
    environment = {
        **os.environ,
        **config.to_environ(),
        **env,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)]),
    }
    with log.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: ASYNC220 (starting it does not wait for it)
            [sys.executable, "-m", "trouper.cluster", "--node", "node_app:app"],
            env=environment,
            pass_fds=(ready_w,),
            stderr=stderr,
        )
    os.close(ready_w)
    node = Node(name, process, port, log)
    stream = trio.lowlevel.FdStream(ready_r)
    try:
        with trio.fail_after(30):
            said = await stream.receive_some()
    except BaseException:
        node.kill()
        raise
    finally:
        await stream.aclose()
    if said.strip() != name.encode():
        node.kill()
        raise RuntimeError(f"node {name} did not start: {log.read_text()[-2000:]}")
    return node


@asynccontextmanager
async def nodes(redis_url: str, logs: Path, *names: str, **env: str) -> AsyncIterator[list[Node]]:
    """Start nodes (one after another) and a trouper node in this process for the test's
    clients; kill the ones still running at the end."""
    started: list[Node] = []
    async with trouper.open_node():
        try:
            for name in names:
                started.append(await start_node(name, redis_url, logs, **env))
            yield started
        finally:
            for node in reversed(started):
                node.kill()


@asynccontextmanager
async def client_of(
    node: Node, topic: str = "test:room", **join: Any
) -> AsyncIterator[JoinedChannel]:
    async with open_client(node.url) as client:
        yield await client.join(topic, join)


async def wait_for_nodes(channel: JoinedChannel, expected: list[str], timeout: float = 10) -> None:
    """Until the node behind ``channel`` sees exactly ``expected`` as the other nodes."""
    with trio.fail_after(timeout):
        while (await channel.push("nodes"))[1]["nodes"] != expected:  # noqa: ASYNC110
            await trio.sleep(0.05)
