"""Socket connections as reactive processes, woken by one poller per endpoint.

How this works
--------------
A task connection (``_transport``) costs a trio task, two cancel scopes on every pass of its
loop and two ``epoll_ctl`` calls on every wait. Here a connection is a *reactive* process:
no task at all while it waits. The endpoint's :class:`Poller` process owns one
edge-triggered epoll set; each socket is added to it once, when its connection starts, and
each time data arrives the poller sends that connection :data:`READABLE`. The connection's
handler then reads until the socket is empty and feeds the bytes to h11 (the request head)
and then to wsproto and the same :class:`~._session.Session` as the task transport. Writes
go through the same non-blocking ``Wire``; the fastlane writes broadcasts to it directly.

Timeouts are node timers: one for the handshake, then one per idle period that re-arms
itself for the rest of the period when frames came meanwhile (a timer per frame would cost
more than the frames).

The endpoint uses this transport when its Socket's ``connect`` and every channel's callbacks
are plain ``def`` (nothing can await); plain HTTP requests are handed to a task process
(``serve_http``), since routes are async.
"""

from __future__ import annotations

import contextlib
import select
import socket as stdlib_socket
from typing import TYPE_CHECKING, Any

import h11
import trio
from wsproto.connection import Connection as WSConnection

import trouper
from trouper.actors.lowlevel import add_exit_hook

from ._http import new_request_parser, next_request
from ._session import CLOSED, Session
from ._transport import HANDSHAKE_TIMEOUT, serve_http
from ._wire import Admission, FrameReader, admit, feed, open_session, refused

if TYPE_CHECKING:
    from ._endpoint import Endpoint

RECV_SIZE = 65536


class _Readable:
    __slots__ = ()

    def __repr__(self) -> str:
        return "READABLE"


class _Timeout:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TIMEOUT"


READABLE = _Readable()
"""The poller's message to a connection: data (or the peer's close) arrived on its socket."""
TIMEOUT = _Timeout()


class Poller:
    """One edge-triggered epoll set for an endpoint's sockets, and who owns each."""

    __slots__ = ("epoll", "owners")

    EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET

    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.owners: dict[int, trouper.Pid] = {}

    def register(self, sock: stdlib_socket.socket, pid: trouper.Pid) -> None:
        fd = sock.fileno()
        self.owners[fd] = pid
        # Edge-triggered: an event per arrival; adding a socket that already holds data
        # reports it at once, so nothing sent before the registration is missed.
        self.epoll.register(fd, self.EVENTS)

    def unregister(self, sock: stdlib_socket.socket) -> None:
        fd = sock.fileno()
        if fd < 0:
            return
        self.owners.pop(fd, None)
        with contextlib.suppress(OSError):  # already gone
            self.epoll.unregister(fd)


async def run_poller(poller: Poller) -> None:
    """The poller process: turn epoll events into ``READABLE`` messages, forever.

    A restarted poller keeps the same epoll set, so no connection loses its registration.
    """
    epoll = poller.epoll
    owners = poller.owners
    send = trouper.send
    while True:
        await trio.lowlevel.wait_readable(epoll.fileno())
        for fd, _ in epoll.poll(0):
            pid = owners.get(fd)
            if pid is not None:
                send(pid, READABLE)
        await trio.lowlevel.checkpoint()  # let the woken connections run between rounds


class SocketConnection(trouper.Actor):
    """A reactive WebSocket connection process (see the module docstring)."""

    __slots__ = (
        "endpoint",
        "http",
        "last_seen",
        "peer",
        "poller",
        "reader",
        "session",
        "sock",
        "stage",
        "timer",
        "ws",
    )

    def init(
        self,
        sock: stdlib_socket.socket,
        peer: tuple[str, int] | None,
        endpoint: Endpoint,
        poller: Poller,
    ) -> None:
        trouper.trap_exit(True)
        sock.setblocking(False)
        self.sock: stdlib_socket.socket | None = sock
        # "request" (reading the head), "page" (a task process serves it), "session", "closed"
        self.stage = "request"
        self.peer = peer
        self.endpoint = endpoint
        self.poller = poller
        self.http: h11.Connection | None = new_request_parser()
        self.session: Session | None = None
        self.ws: WSConnection | None = None
        self.reader: FrameReader | None = None
        self.last_seen = trio.current_time()
        me = trouper.self()
        self.timer = trouper.send_after(HANDSHAKE_TIMEOUT, me, TIMEOUT)
        poller.register(sock, me)
        # However this process ends (a kill runs no terminate), its socket closes with it.
        add_exit_hook(me, self)

    def handle(self, message: Any) -> Any:
        if message is READABLE:
            self._read()
        elif message is TIMEOUT:
            self._timed_out()
        elif self.session is not None:
            self.session.handle_message(message)
        elif type(message) is trouper.Exit:
            return self._end(message.reason)  # the supervisor, or the page's server, ended
        session = self.session
        if session is not None and session.closing is not None:
            return self._end(CLOSED if session.stop_reason is None else session.stop_reason)
        if self.stage == "closed":
            return self._end("normal")
        return None

    def terminate(self, reason: Any) -> None:
        self._close_socket()

    def process_exited(self, pid: trouper.Pid, reason: Any) -> None:
        """The exit hook: close the socket (a no-op if the connection closed it already)."""
        self._close_socket()

    # -- reading ------------------------------------------------------------------------------

    def _read(self) -> None:
        sock = self.sock
        while sock is not None and sock is self.sock:
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if self.session is None:
                self._request_data(data)
            elif not data:
                self.session.closing = self.session.closing or "client gone"
                return
            else:
                self.last_seen = trio.current_time()
                assert self.ws is not None and self.reader is not None
                self.ws.receive_data(data)
                self._feed()
            if self.session is not None and self.session.closing is not None:
                return

    def _feed(self) -> None:
        assert self.session is not None and self.ws is not None and self.reader is not None
        join = feed(self.ws.events(), self.ws, self.session, self.reader)
        assert join is None, "the endpoint picks this transport only for reactive channels"

    def _request_data(self, data: bytes) -> None:
        http = self.http
        assert http is not None and self.sock is not None
        http.receive_data(data)
        head = next_request(http, self.peer)
        if head is True:
            return
        self.http = None
        if head is None or head is False:
            self._close_socket()
            return
        request, trailing = head
        endpoint = self.endpoint
        if request.path != endpoint.path or not request.is_websocket_upgrade:
            # Routes are async: a task process answers, and owns the socket from now on.
            self.poller.unregister(self.sock)
            trouper.cancel_timer(self.timer)
            trouper.spawn_link(serve_http, self.sock, request, endpoint)
            self.sock = None
            self.stage = "page"
            return
        admission = admit(request, endpoint)
        if not isinstance(admission, Admission):
            self._refuse(admission)
            return
        handler = endpoint.socket()
        assigns = handler.connect(admission.params, admission.connect_info)
        if assigns is None:
            self._refuse(refused(403, "forbidden"))
            return
        session, ws, accept = open_session(
            self.sock, admission, endpoint, handler, assigns, trailing
        )
        session.transport.write(accept)
        self.session, self.ws, self.stage = session, ws, "session"
        self.reader = FrameReader(endpoint.max_frame_size)
        trouper.cancel_timer(self.timer)
        self.last_seen = trio.current_time()
        self.timer = trouper.send_after(endpoint.idle_timeout, trouper.self(), TIMEOUT)
        self._feed()  # frames the client sent right behind its upgrade request

    def _refuse(self, response: bytes) -> None:
        # A refusal is short: the kernel buffer of a fresh socket takes it whole.
        assert self.sock is not None
        with contextlib.suppress(OSError):
            self.sock.send(response)
        self._close_socket()

    # -- timers and the end -------------------------------------------------------------------

    def _timed_out(self) -> None:
        session = self.session
        if session is None:
            if self.stage == "request":  # no complete request in time
                self._close_socket()
            return
        idle = self.endpoint.idle_timeout
        left = self.last_seen + idle - trio.current_time()
        if left > 0:
            self.timer = trouper.send_after(left, trouper.self(), TIMEOUT)
        else:
            session.close(1000, "idle timeout")

    def _end(self, reason: Any) -> trouper.Stop:
        self._close_socket()
        return trouper.Stop(reason)

    def _close_socket(self) -> None:
        if self.stage != "page":
            self.stage = "closed"
        sock = self.sock
        if sock is None:
            return
        self.sock = None
        self.poller.unregister(sock)
        trio.lowlevel.notify_closing(sock)  # wakes a writer still waiting on it
        sock.close()
        trouper.cancel_timer(self.timer)
