"""The endpoint: one port for HTTP pages and the Phoenix socket, and its process tree.

``await start_endpoint(endpoint, host, port)`` binds the port, then starts (linked to the
caller) a supervisor with two children: a DynamicSupervisor of connections (each a
temporary task process: a dead socket is not restarted) and the listener, a task process
that accepts sockets and starts a connection process for each.
"""

from __future__ import annotations

import socket as stdlib_socket
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import trio

import trouper
from trouper.supervision import ChildSpec, DynamicSupervisor, Supervisor, start_child

from ._http import HttpRequest, HttpResponse, Route
from ._socket import Socket
from ._transport import serve_connection

LISTEN_BACKLOG = 4096


@attrs.frozen
class Endpoint:
    """Configuration of a Phoenix-compatible endpoint.

    Attributes:
        socket: the Socket class (connect, id, channel routes).
        pubsub: the name of the PubSub the channels broadcast through.
        path: the WebSocket endpoint (phoenix.js appends ``/websocket`` to the socket URL).
        routes: plain HTTP routes, path -> async handler returning an ``HttpResponse``.
        check_origin: None accepts any Origin; otherwise the allowed origins
            (e.g. ``("http://localhost:4000",)``); others get HTTP 403. A request without
            an Origin header (not a browser) is accepted, as Phoenix does.
        idle_timeout: seconds without a frame (heartbeats count) before the server closes.
        max_frame_size: bytes; a larger frame closes the connection (1009).
        max_channels: channels one connection may join at once.
        max_outbound: bytes a client may fall behind before it is disconnected.
    """

    socket: type[Socket]
    pubsub: str
    path: str = "/socket/websocket"
    routes: Mapping[str, Route] = attrs.field(factory=dict)
    check_origin: Sequence[str] | None = None
    idle_timeout: float = 60.0
    max_frame_size: int = 1 << 20
    max_channels: int = 100
    max_outbound: int = 1 << 20

    def origin_allowed(self, origin: str | None) -> bool:
        if self.check_origin is None:
            return True
        # No Origin header: not a browser (load tools, other servers); Phoenix accepts it.
        return origin is None or origin in self.check_origin

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        route = self.routes.get(request.path)
        if route is None:
            return HttpResponse(404, b"not found")
        return await route(request)


def bind(host: str, port: int, *, reuse_port: bool = False) -> stdlib_socket.socket:
    """A non-blocking listening socket (port 0 picks a free one).

    ``reuse_port`` sets SO_REUSEPORT: several nodes (OS processes) of one cluster then
    listen on the same port and the kernel spreads the connections between them.
    """
    family = stdlib_socket.AF_INET6 if ":" in host else stdlib_socket.AF_INET
    sock = stdlib_socket.socket(family, stdlib_socket.SOCK_STREAM)
    sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


async def _listen(listener: stdlib_socket.socket, connections: str, endpoint: Endpoint) -> None:
    """The listener process: accept sockets and start a connection process for each."""
    try:
        while True:
            await trio.lowlevel.wait_readable(listener)
            while True:
                try:
                    sock, peer = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    await trio.sleep(0.01)  # e.g. out of file descriptors: back off
                    break
                spec = ChildSpec(
                    "connection",
                    trouper.spawn_link,
                    (serve_connection, sock, peer, endpoint),
                    restart="temporary",
                    shutdown=1.0,
                )
                await start_child(connections, spec)
    finally:
        listener.close()


async def start_endpoint(
    endpoint: Endpoint,
    host: str = "127.0.0.1",
    port: int = 4000,
    *,
    name: str = "endpoint",
    reuse_port: bool = False,
) -> tuple[trouper.Pid, int]:
    """Bind ``host:port`` and start the endpoint's tree, linked to the caller.

    Returns the endpoint supervisor's pid and the bound port. ``reuse_port``: see
    :func:`bind` (``trouper.cluster.run_nodes`` starts nodes that share one port).
    """
    listener = bind(host, port, reuse_port=reuse_port)
    bound_port = listener.getsockname()[1]
    connections = f"{name}.connections"
    sup = await Supervisor.start_link(
        [
            DynamicSupervisor.child_spec("connections", name=connections),
            ChildSpec("listener", trouper.spawn_link, (_listen, listener, connections, endpoint)),
        ],
        strategy="rest_for_one",
        name=name,
    )
    return sup, bound_port


def endpoint_spec(
    endpoint: Endpoint, host: str, port: int, *, name: str = "endpoint", reuse_port: bool = False
) -> Any:
    """A child spec running the endpoint's tree (for an Application)."""

    async def start() -> trouper.Pid:
        pid, _ = await start_endpoint(endpoint, host, port, name=name, reuse_port=reuse_port)
        return pid

    return ChildSpec(name, start, type="supervisor")
