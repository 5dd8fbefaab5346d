"""``python -m trouper.cluster``: N nodes on one port with one command, stopped by Ctrl-C.

The launcher runs as a subprocess, exactly as a user would run it, with tests/cluster's
``node_app:app`` as the entry point and no Redis URL (it starts a private redis-server).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from contextlib import AsyncExitStack

import trio
from cluster_helpers import HERE, SRC

import trouper
from trouper.channels.client import JoinedChannel, open_client

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)])}


class Output:
    """The launcher's stderr, read line by line as it comes."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.text = ""

    async def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        with trio.fail_after(timeout):
            while (found := re.search(pattern, self.text)) is None:
                data = await self.stream.receive_some()
                if not data:
                    raise AssertionError(f"launcher exited; it said:\n{self.text}")
                self.text += data.decode()
        return found


async def test_two_nodes_share_one_port_and_ctrl_c_stops_them_in_order() -> None:
    argv = [sys.executable, "-m", "trouper.cluster", "node_app:app", "--nodes", "2", "--port", "0"]
    process = await trio.lowlevel.open_process(argv, env=ENV, stderr=subprocess.PIPE)
    assert process.stderr is not None
    output = Output(process.stderr)
    try:
        ready = await output.wait_for(r"2 nodes ready on 127\.0\.0\.1:(\d+)")
        url = f"ws://127.0.0.1:{ready.group(1)}/socket/websocket"
        with trio.fail_after(60):
            async with trouper.open_node(), AsyncExitStack() as clients:
                seen: dict[str, JoinedChannel] = {}
                for _ in range(40):  # new connections until both nodes have answered
                    client = await clients.enter_async_context(open_client(url))
                    channel = await client.join("test:room", {})
                    assert isinstance(channel.response, dict)
                    seen.setdefault(channel.response["node"], channel)
                    if len(seen) == 2:
                        break
                assert sorted(seen) == ["node1", "node2"]
                await seen["node1"].push("broadcast", {"body": "across"})
                assert await seen["node2"].receive("msg", timeout=10) == ("msg", {"body": "across"})
        process.send_signal(signal.SIGINT)
        await output.wait_for("stopped redis-server")
        with trio.fail_after(30):
            status = await process.wait()
        assert status == 0
        stops = re.findall(r"stopped (node\d) \(exit status (\d+)\)", output.text)
        assert stops == [("node2", "0"), ("node1", "0")]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_without_redis_the_launcher_says_what_to_do() -> None:
    argv = [sys.executable, "-m", "trouper.cluster", "node_app:app", "--port", "0"]
    with trio.fail_after(30):
        result = await trio.run_process(
            argv, env={**ENV, "PATH": "/nonexistent"}, capture_stderr=True, check=False
        )
    assert result.returncode == 2
    assert b"redis-server is not on PATH" in result.stderr
    assert b"--redis redis://host:port" in result.stderr
