"""The chat's HTTP routes: its pages, their scripts and styles, and the observer's JSON.

Static files are package data (``trouper/apps/chat/static``), read once when the routes are
built, so an installed wheel serves them as an editable install does. phoenix.js is the
vendored browser build of the npm package (``static/vendor``, with its MIT license): there
is no CDN to load it from.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources

from trouper.channels import HttpRequest, HttpResponse

from ._config import ChatConfig
from ._observer import snapshot

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
}

Route = Callable[[HttpRequest], Awaitable[HttpResponse]]

# URL path -> file under static/
PAGES = {
    "/": "index.html",
    "/observer": "observer.html",
    "/assets/chat.css": "chat.css",
    "/assets/chat.js": "chat.js",
    "/assets/observer.js": "observer.js",
    "/assets/logo.svg": "logo.svg",
    "/assets/phoenix.min.js": "vendor/phoenix.min.js",
    "/assets/phoenix-LICENSE.md": "vendor/phoenix-LICENSE.md",
}


def static_file(path: str) -> bytes:
    """The bytes of ``static/<path>`` from the installed package."""
    return resources.files(__package__).joinpath("static", path).read_bytes()


def _static_route(filename: str) -> Route:
    suffix = filename[filename.rfind(".") :]
    response = HttpResponse(
        200,
        static_file(filename),
        content_type=CONTENT_TYPES[suffix],
        headers=(("cache-control", "no-cache"),),
    )

    async def serve(request: HttpRequest) -> HttpResponse:
        return response

    return serve


def routes(config: ChatConfig) -> Mapping[str, Route]:
    """Every HTTP route of the chat application."""

    async def observer_json(request: HttpRequest) -> HttpResponse:
        body = json.dumps(await snapshot(config)).encode()
        return HttpResponse(200, body, content_type="application/json")

    table = {path: _static_route(filename) for path, filename in PAGES.items()}
    table["/observer.json"] = observer_json
    return table
