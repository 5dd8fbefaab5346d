"""``trouper chat`` and ``python -m trouper.apps.chat``, run as a user runs them: a
subprocess on a free port, talked to over loopback, stopped with SIGINT or SIGTERM. Waits
are on the program's output, each bounded by ``trio.fail_after``."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

import pytest
import trio
from chat_helpers import LIMIT, LISTENING, http_get, running

from trouper.channels.client import ChannelClosedError, open_client


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
    for option in (
        "--host",
        "--port",
        "--idle-timeout",
        "--history",
        "--log-level",
        "--nodes",
        "--redis",
    ):
        assert option in usage
