"""The chat's HTTP side: its pages and assets from the package, the vendored phoenix.js (the
exact file of the npm package that tests/js/package-lock.json pins), and the observer JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_helpers import http_get, running_chat

from trouper.apps.chat._web import PAGES, static_file

JS_DIR = Path(__file__).resolve().parents[2] / "js"
PHOENIX = JS_DIR / "node_modules" / "phoenix"


@pytest.mark.parametrize(
    ("path", "content_type", "marker"),
    [
        ("/", "text/html; charset=utf-8", b"<title>trouper chat</title>"),
        ("/observer", "text/html; charset=utf-8", b"<title>trouper observer</title>"),
        ("/assets/chat.js", "text/javascript; charset=utf-8", b"window.Phoenix"),
        ("/assets/observer.js", "text/javascript; charset=utf-8", b"observer:tree"),
        ("/assets/chat.css", "text/css; charset=utf-8", b".topbar"),
        ("/assets/logo.svg", "image/svg+xml", b"<svg"),
        ("/assets/phoenix.min.js", "text/javascript; charset=utf-8", b"var Phoenix="),
        ("/assets/phoenix-LICENSE.md", "text/markdown; charset=utf-8", b"MIT License"),
    ],
)
async def test_pages_and_assets_are_served_with_their_content_type(
    path: str, content_type: str, marker: bytes
) -> None:
    async with running_chat() as chat:
        status, headers, body = await http_get(chat.port, path)

    assert (status, headers["content-type"]) == (200, content_type)
    assert marker in body
    assert int(headers["content-length"]) == len(body)


async def test_the_page_loads_phoenix_js_from_the_server_and_nothing_from_elsewhere() -> None:
    async with running_chat() as chat:
        pages = [(await http_get(chat.port, path))[2] for path in ("/", "/observer")]

    for page in pages:
        assert b'<script src="/assets/phoenix.min.js"></script>' in page
        assert b"http://" not in page and b"https://" not in page  # no CDN, no web fonts


async def test_the_observer_json_route_serves_the_snapshot() -> None:
    async with running_chat() as chat:
        status, headers, body = await http_get(chat.port, "/observer.json")

    assert (status, headers["content-type"]) == (200, "application/json")
    data = json.loads(body)
    assert data["application"] == "chat"
    assert data["tree"]["name"] == "chat"


async def test_an_unknown_path_is_a_404() -> None:
    async with running_chat() as chat:
        status, _, _ = await http_get(chat.port, "/nothing-here")

    assert status == 404


def test_every_page_route_names_a_file_that_ships_with_the_package() -> None:
    for filename in PAGES.values():
        assert static_file(filename)


def test_the_vendored_phoenix_js_is_the_locked_npm_packages_browser_build() -> None:
    # The lock pins the version; node_modules must hold that version; the vendored file must
    # be that version's file, byte for byte. An upgrade of the lock without re-vendoring fails.
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/phoenix"]["version"]
    installed = json.loads((PHOENIX / "package.json").read_text())["version"]
    assert installed == locked, "run: npm ci --prefix tests/js"

    assert (
        static_file("vendor/phoenix.min.js")
        == (PHOENIX / "priv" / "static" / "phoenix.min.js").read_bytes()
    ), f"re-vendor phoenix {locked}: copy priv/static/phoenix.min.js"
    assert static_file("vendor/phoenix-LICENSE.md") == (PHOENIX / "LICENSE.md").read_bytes()
