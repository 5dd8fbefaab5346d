"""The chat page in a real browser: headless Chromium (Debian's, driven by playwright-core
from tests/js) opens two pages, both join, one sends and the other sees it, one crashes its
channel and the other keeps receiving, then the observer page shows their channels.
tests/js/browser.mjs is the person at the keyboard; it saves screenshots to test-artifacts/.
tests/js/cluster_browser.mjs does the same on ``trouper chat --nodes 2``.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from chat_helpers import CLUSTER_READY, running, running_chat
from structlog.testing import capture_logs

ROOT = Path(__file__).resolve().parents[3]
JS_DIR = ROOT / "tests" / "js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
NODE = shutil.which("node")
LIMIT = 120  # real seconds for the whole browser session; a hang fails instead of blocking


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    # Not a skip: CI must run this. scripts/test installs chromium (apt) and playwright-core.
    assert NODE is not None, "node is not installed"
    assert CHROMIUM.exists(), "run: apt-get install chromium (scripts/test does)"
    assert (JS_DIR / "node_modules" / "playwright-core").is_dir(), "run: npm ci --prefix tests/js"


async def run_browser(base_url: str, script: str = "browser.mjs") -> list[dict[str, Any]]:
    assert NODE is not None
    with trio.fail_after(LIMIT):
        result = await trio.run_process(
            [NODE, script, base_url, str(ARTIFACTS)],
            cwd=JS_DIR,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line]
    assert result.returncode == 0, (lines, result.stderr.decode()[-3000:])
    return lines


async def test_two_people_chat_in_chromium_and_a_crash_touches_only_the_one_who_crashed() -> None:
    with capture_logs() as logs:
        async with running_chat() as chat:
            seen = await run_browser(chat.base_url)
    by_event: dict[str, list[dict[str, Any]]] = {}
    for line in seen:
        by_event.setdefault(line["event"], []).append(line)

    assert [line["name"] for line in by_event["joined"]] == ["ada", "grace"]
    assert by_event["online"][0]["names"] == ["ada", "grace"]
    assert {(line["who"], line["text"]) for line in by_event["seen"]} == {
        ("grace", "hello from ada"),
        ("ada", "hi ada, grace here"),
        ("grace", "still here after the crash"),
        ("ada", "still here after the crash"),  # said while ada was away: history on rejoin
        ("grace", "back with a new channel process"),
    }
    [crashed] = by_event["crashed"]
    assert "crashed" in crashed["banner"] and "rejoining" in crashed["banner"]
    assert by_event["notice"][0]["text"] == "ada crashed their channel process on purpose"
    assert by_event["state"] == [
        {"event": "state", "who": "grace", "channel": "joined", "joins": "1"}
    ]
    assert "Rejoined" in by_event["rejoined"][0]["banner"]
    assert by_event["online"][1]["names"] == ["ada", "grace"]
    assert by_event["observer"][0]["room_channels"] == 2
    assert by_event["page_errors"] == [{"event": "page_errors", "errors": []}]
    assert seen[-1]["event"] == "done"

    crashes = [entry for entry in logs if entry["event"] == "crash_report"]
    assert [entry["behaviour"] for entry in crashes] == ["RoomChannel"]

    files = [Path(name) for name in by_event["screenshots"][0]["files"]]
    for file in files:
        assert file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert file.stat().st_size > 10_000  # a rendered page, not a blank one
    print("screenshots:", *files, sep="\n  ")


async def test_two_people_on_two_nodes_see_each_other_and_the_same_history_in_chromium() -> None:
    argv = [sys.executable, "-m", "trouper", "chat", "--nodes", "2", "--port", "0"]
    async with running(argv) as program:
        port = (await program.wait_for(CLUSTER_READY))[1]
        seen = await run_browser(f"http://127.0.0.1:{port}", "cluster_browser.mjs")
        program.process.send_signal(signal.SIGINT)
        assert await program.finish() == 0
    by_event = {line["event"]: line for line in seen}
    people = by_event["nodes"]
    assert sorted([people["ada"], people["grace"]]) == ["node1", "node2"]
    said = [(f"hello from {node}", node) for node in ("node1", "node2")]

    def expected_on(node: str) -> list[dict[str, Any]]:  # "via" marks the other node's message
        return [{"body": text, "via": None if at == node else f"via {at}"} for text, at in said]

    # Both messages have the same id (each node numbers its own): both are shown.
    for line in (entry for entry in seen if entry["event"] == "messages"):
        assert sorted(line["messages"], key=str) == sorted(expected_on(line["on"]), key=str)
    history = by_event["history"]  # a third page, on either node, gets both from history
    assert sorted(history["messages"], key=str) == sorted(expected_on(history["on"]), key=str)
    observer = by_event["observer"]
    assert observer["others"] in ("node1", "node2")
    assert observer["app"] == f"chat on {({'node1', 'node2'} - {observer['others']}).pop()}"
    assert by_event["page_errors"]["errors"] == []
    assert seen[-1]["event"] == "done"
