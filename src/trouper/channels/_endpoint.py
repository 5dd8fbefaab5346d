"""The endpoint: one port for HTTP pages and the Phoenix socket, and its process tree.

``await start_endpoint(endpoint, host, port)`` binds the port, then starts (linked to the
caller) a supervisor (rest_for_one) with: the poller, when connections are reactive (see
``_reactive``); a DynamicSupervisor of connections (each temporary: a dead socket is not
restarted); and the listener, a task process that accepts sockets and starts a connection
process for each. A poller crash restarts the connections and the listener too.
"""

from __future__ import annotations

import inspect
import socket as stdlib_socket
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import structlog
import trio

import trouper
from trouper.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorError,
    send_start_child,
    start_child_result,
)

from ._http import HttpRequest, HttpResponse, Route
from ._reactive import Poller, SocketConnection, run_poller
from ._socket import Socket
from ._transport import serve_connection

log = structlog.get_logger("trouper.channels")

LISTEN_BACKLOG = 4096
MAX_STARTING = 256  # connection starts the listener has asked for and not yet heard back on


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
        transport: how connection processes run. ``"auto"`` (the default): *reactive*
            (no trio task; one poller wakes them) when the Socket's ``connect`` and every
            channel's callbacks are plain ``def``, else ``"task"`` (a trio task each, so
            ``connect`` and task channels' joins may await). ``"task"`` forces the latter.
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
    transport: Literal["auto", "task"] = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "task"))
    )

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


def reactive_transport(endpoint: Endpoint) -> bool:
    """True when nothing a connection runs can await: its Socket's ``connect`` and every
    channel's callbacks are plain ``def``. Such connections run as reactive processes."""
    if endpoint.transport == "task" or inspect.iscoroutinefunction(endpoint.socket.connect):
        return False
    return not any(channel._trouper_task_mode for _, channel in endpoint.socket.channels)


def _connection_spec(
    sock: stdlib_socket.socket,
    peer: tuple[str, int] | None,
    endpoint: Endpoint,
    poller: Poller | None,
) -> ChildSpec:
    if poller is not None:
        return ChildSpec(
            "connection",
            SocketConnection,
            (sock, peer, endpoint, poller),
            restart="temporary",
            shutdown=1.0,
        )
    return ChildSpec(
        "connection",
        trouper.spawn_link,
        (serve_connection, sock, peer, endpoint),
        restart="temporary",
        shutdown=1.0,
    )


async def _listen(
    listener: stdlib_socket.socket, connections: str, endpoint: Endpoint, poller: Poller | None
) -> None:
    """The listener process: accept sockets and start a connection process for each.

    Start requests go out without waiting for each answer (``send_start_child``): a burst
    of arrivals costs the supervisor one wake-up, not one round trip per socket.
    """
    in_flight = 0
    try:
        while True:
            with trouper.wake_on_message():
                await trio.lowlevel.wait_readable(listener)
            for answer in trouper.receive_all_nowait():
                if type(answer) is trouper.Reply:
                    in_flight -= 1
                    try:
                        start_child_result(answer)
                    except SupervisorError as exc:
                        log.warning("connection_not_started", reason=repr(exc.reason))
            while in_flight < MAX_STARTING:
                try:
                    sock, peer = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    await trio.sleep(0.01)  # e.g. out of file descriptors: back off
                    break
                send_start_child(connections, _connection_spec(sock, peer, endpoint, poller))
                in_flight += 1
            await trio.lowlevel.checkpoint()
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
    children = [
        DynamicSupervisor.child_spec("connections", name=connections),
        ChildSpec("listener", trouper.spawn_link, (_listen, listener, connections, endpoint, None)),
    ]
    if reactive_transport(endpoint):
        poller = Poller()
        children = [
            ChildSpec("poller", trouper.spawn_link, (run_poller, poller)),
            children[0],
            ChildSpec(
                "listener", trouper.spawn_link, (_listen, listener, connections, endpoint, poller)
            ),
        ]
    sup = await Supervisor.start_link(children, strategy="rest_for_one", name=name)
    return sup, bound_port


def endpoint_spec(
    endpoint: Endpoint, host: str, port: int, *, name: str = "endpoint", reuse_port: bool = False
) -> Any:
    """A child spec running the endpoint's tree (for an Application)."""

    async def start() -> trouper.Pid:
        pid, _ = await start_endpoint(endpoint, host, port, name=name, reuse_port=reuse_port)
        return pid

    return ChildSpec(name, start, type="supervisor")
