"""``trouper chat`` and ``python -m trouper.apps.chat``, run as a user runs them: a
subprocess on a free port, talked to over loopback, stopped with SIGINT or SIGTERM. Waits
are on the program's output, each bounded by ``trio.fail_after``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from chat_helpers import http_get

from trouper.channels.client import ChannelClosedError, open_client

LIMIT = 30  # real seconds: turns a hang into a failure; not how long a test takes
LISTENING = re.compile(r"chat_listening .*url=http://127\.0\.0\.1:(\d+)/")


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
async def running(args: Sequence[str]) -> AsyncIterator[Program]:
    process = await trio.lowlevel.open_process(
        [*args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield Program(process)
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


async def test_trouper_chat_serves_the_page_and_the_socket_and_stops_on_sigint() -> None:
    async with running([sys.executable, "-m", "trouper", "chat", "--port", "0"]) as program:
        port = int((await program.wait_for(LISTENING))[1])
        status, _, page = await http_get(port, "/")
        assert status == 200 and b"trouper chat" in page
        url = f"ws://127.0.0.1:{port}/socket/websocket"
        async with open_client(url, {"user": "ann"}) as client:
            lobby = await client.join("rooms:lobby")
            assert lobby.response["user"] == "ann"

            program.process.send_signal(signal.SIGINT)

            with trio.fail_after(LIMIT):
                await client.wait_closed()  # the endpoint went down with the tree
        assert await program.finish() == 0
    output = program.output
    assert "user_joined" in output and "user=ann" in output
    assert output.index("application_stopping") < output.index("application_stopped")
    assert "Traceback" not in output


async def test_python_m_trouper_apps_chat_takes_the_options_and_stops_on_sigterm() -> None:
    args = ["--port", "0", "--history", "1", "--idle-timeout", "30"]
    async with running([sys.executable, "-m", "trouper.apps.chat", *args]) as program:
        port = int((await program.wait_for(LISTENING))[1])
        url = f"ws://127.0.0.1:{port}/socket/websocket"
        async with open_client(url, {"user": "ann"}) as client:
            lobby = await client.join("rooms:lobby")
            for body in ("one", "two"):
                await lobby.push("new_msg", {"body": body})
            again = await client.join("rooms:lobby")
            assert [m["body"] for m in again.response["history"]] == ["two"]  # --history 1

        program.process.send_signal(signal.SIGTERM)
        assert await program.finish() == 0
    assert "application_stopped" in program.output


async def test_a_crash_report_with_its_traceback_shows_in_the_log() -> None:
    async with running([sys.executable, "-m", "trouper", "chat", "--port", "0"]) as program:
        port = int((await program.wait_for(LISTENING))[1])
        async with open_client(f"ws://127.0.0.1:{port}/socket/websocket") as client:
            lobby = await client.join("rooms:lobby", {"user": "ann"})
            with pytest.raises(ChannelClosedError):
                await lobby.push("new_msg", {"body": "/crash"})
            await program.wait_for(re.compile(r"CrashRequested: ann asked"))
        program.process.send_signal(signal.SIGINT)
        assert await program.finish() == 0
    output = program.output
    assert re.search(r"channel_crashed .*user=ann", output)
    assert re.search(r"crash_report .*behaviour=RoomChannel", output)
    assert "Traceback (most recent call last)" in output


async def test_the_console_script_lists_the_chat_options() -> None:
    script = Path(sys.executable).parent / "trouper"
    result = await trio.run_process([script, "chat", "--help"], capture_stdout=True)
    usage = result.stdout.decode()
    for option in ("--host", "--port", "--idle-timeout", "--history", "--log-level"):
        assert option in usage
