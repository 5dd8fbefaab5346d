"""Just enough HTTP/1.1 (through h11) to serve pages and upgrade to WebSocket on one port."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

MAX_REQUEST_BYTES = 16 * 1024


@attrs.frozen
class HttpRequest:
    """A parsed request line and headers (names lower-case)."""

    method: str
    target: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    peer: tuple[str, int] | None

    @property
    def is_websocket_upgrade(self) -> bool:
        return (
            "websocket" in self.headers.get("upgrade", "").lower()
            and "upgrade" in self.headers.get("connection", "").lower()
        )


@attrs.frozen
class HttpResponse:
    """What a route answers: status, content type and body."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[HttpRequest], Awaitable[HttpResponse]]


def new_request_parser() -> h11.Connection:
    """An h11 parser for one request head (at most ``MAX_REQUEST_BYTES``)."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)


def next_request(
    conn: h11.Connection, peer: tuple[str, int] | None
) -> tuple[HttpRequest, bytes] | bool | None:
    """The request head once complete (and the bytes after it); True: feed more data;
    None: not a request we serve (bad, or the peer closed)."""
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    if event is h11.NEED_DATA:
        return True
    if not isinstance(event, h11.Request):
        return None
    target = event.target.decode("latin-1")
    parts = urlsplit(target)
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
    request = HttpRequest(
        method=event.method.decode("ascii"),
        target=target,
        path=parts.path,
        query=dict(parse_qsl(parts.query)),
        headers=headers,
        raw_headers=tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items()),
        peer=peer,
    )
    trailing, _closed = conn.trailing_data
    return request, bytes(trailing)


async def read_request(
    sock: socket.socket, peer: tuple[str, int] | None
) -> tuple[HttpRequest, bytes] | None:
    """Read one request head; return it and the bytes that followed it (None: bad or closed)."""
    conn = new_request_parser()
    while (result := next_request(conn, peer)) is True:
        await trio.lowlevel.wait_readable(sock)
        try:
            data = sock.recv(MAX_REQUEST_BYTES)
        except BlockingIOError:
            continue
        except OSError:
            return None
        conn.receive_data(data)  # b"" (closed) makes the parser give up: None next time
    return result or None


def encode_response(response: HttpResponse) -> bytes:
    """The response's bytes, with ``Connection: close`` (one request per connection)."""
    reason = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        426: "Upgrade Required",
    }.get(response.status, "Status")
    head = [
        f"HTTP/1.1 {response.status} {reason}",
        f"content-type: {response.content_type}",
        f"content-length: {len(response.body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in response.headers),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


async def send_all(sock: socket.socket, data: bytes) -> None:
    """Write all of ``data`` (for responses and handshakes, not the broadcast path)."""
    view = memoryview(data)
    while view:
        await trio.lowlevel.wait_writable(sock)
        try:
            sent = sock.send(view)
        except BlockingIOError:
            continue
        view = view[sent:]
