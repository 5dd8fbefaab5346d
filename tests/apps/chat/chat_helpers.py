"""Helpers for the chat tests: the application on a free loopback port, the command line as
a subprocess, and plain HTTP GETs.

The application runs in the test's own node (the test task is its root process), started
as ``trouper.run`` would start it; ``on_listening`` tells the test the bound port.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

import trouper
from trouper.apps.chat import ChatConfig, chat_application

WAIT = 10.0  # real seconds; a bound on waits for loopback traffic, not a sleep
LIMIT = 30  # real seconds for a program's output: turns a hang into a failure
LISTENING = re.compile(r"chat_listening .*url=http://127\.0\.0\.1:(\d+)/")
CLUSTER_READY = re.compile(r"trouper cluster: 2 nodes ready on 127\.0\.0\.1:(\d+)")


@attrs.frozen
class Chat:
    port: int
    config: ChatConfig

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Program:
    """A running program and the output it printed so far (stdout and stderr together)."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.output = ""

    async def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        assert self.process.stdout is not None
        with trio.fail_after(LIMIT):
            while (found := pattern.search(self.output)) is None:
                chunk = await self.process.stdout.receive_some()
                if not chunk:
                    raise AssertionError(f"ended without {pattern.pattern!r}:\n{self.output}")
                self.output += chunk.decode(errors="replace")
        return found

    async def finish(self) -> int:
        assert self.process.stdout is not None
        with trio.fail_after(LIMIT):
            async for chunk in self.process.stdout:
                self.output += chunk.decode(errors="replace")
            return await self.process.wait()


@asynccontextmanager
async def running(args: Sequence[str], env: Mapping[str, str] = {}) -> AsyncIterator[Program]:
    """A program with its stdout and stderr on one pipe; killed if it still runs at the end."""
    process = await trio.lowlevel.open_process(
        [*args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        yield Program(process)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


@asynccontextmanager
async def running_chat(config: ChatConfig | None = None, **options: Any) -> AsyncIterator[Chat]:
    """The chat application on 127.0.0.1 and a free port, in a fresh node."""
    config = ChatConfig() if config is None else config
    async with trouper.open_node():
        ports: list[int] = []
        app = chat_application(
            "127.0.0.1",
            0,
            config=config,
            on_listening=lambda host, port: ports.append(port),
            **options,
        )
        await app.start()
        yield Chat(ports[-1], config)


async def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection (the server closes it after the response)."""
    with trio.fail_after(WAIT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            data = bytearray()
            async for chunk in stream:
                data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every entry of an observer tree: supervisors, children and linked processes."""
    yield node
    for child in [*node.get("children", ()), *node.get("linked", ())]:
        yield from walk(child)


def child(node: dict[str, Any], child_id: str) -> dict[str, Any]:
    [found] = [entry for entry in node["children"] if entry["id"] == child_id]
    return found
