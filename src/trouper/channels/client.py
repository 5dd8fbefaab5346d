"""A Phoenix Channels client on trio-websocket, for tests and load tools.

```python
async with open_client("ws://127.0.0.1:4000/socket/websocket", {"token": "abc"}) as client:
    lobby = await client.join("rooms:lobby", {"nick": "ann"})
    status, response = await lobby.push("new:msg", {"body": "hi"})
    event, payload = await lobby.receive("new:msg")  # the broadcast came back
    await lobby.leave()
```

==================================  ==========================================================
call                                on the wire / what it waits for
==================================  ==========================================================
``open_client(url, params, vsn)``   ``GET url?params&vsn=2.0.0`` upgrade; an HTTP refusal
                                    raises ``ConnectionRejectedError(status_code)``
``client.join(topic, payload)``     ``phx_join``; its reply (``JoinError`` on an error reply)
``channel.push(event, payload)``    a push; returns its reply's ``(status, response)``
``channel.receive(event)``          nothing sent: the next server push or broadcast (or the
                                    next one named ``event``), ``phx_close``/``phx_error``
                                    included
``channel.leave()``                 ``phx_leave``; its ok reply
``client.ping()``                   a ``heartbeat``; its reply (the round trip, in seconds)
(every ``heartbeat_interval``)      a ``heartbeat``; no reply by the next one closes the
                                    socket (1000, "heartbeat timeout"), as phoenix.js does
==================================  ==========================================================

How this works: one background task per client reads every frame, decodes it with the
protocol package's ``CLIENT`` serializer and routes it, as phoenix.js does. A reply wakes the
task waiting on its ref (a reply nobody waits for any more, after a timeout, is dropped); any
other message goes to the channel of its topic unless it carries another join_ref (a stale
message of an earlier join of that topic). The same task sends the heartbeats: it reads
inside a cancel scope whose deadline is the next heartbeat, so a busy connection costs no
extra timer per frame.

Unlike phoenix.js the client never rejoins or reconnects by itself: a channel that gets
``phx_error``, or whose connection closes, stays closed, and the caller (a test, a load
tool) decides what to do. A push waiting for its reply fails at once (``ChannelClosedError``
or ``ConnectionClosedError``) when its channel or connection ends first.

Per connection the client keeps the WebSocket, two dicts and a counter; a channel's inbox is
created by its first message, and none at all with ``on_message`` (called in the reader
task, as the frame arrives: what a load tool measuring broadcast latency wants). Measured:
about 27 KiB of RSS per idle joined client, nearly all of it trio-websocket's connection,
its reader task and wsproto; this module's own objects are about 1.4 KB of it.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Literal, NoReturn, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit

import trio
import trio_websocket

from .protocol import (
    CLIENT,
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    PHX_REPLY,
    Frame,
    Message,
    Payload,
    ProtocolError,
    Serializer,
    serializer_for_vsn,
)

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "ChannelClosedError",
    "ChannelState",
    "Client",
    "ClientError",
    "ClientTimeoutError",
    "ConnectError",
    "ConnectionClosedError",
    "ConnectionRejectedError",
    "JoinError",
    "JoinedChannel",
    "open_client",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds a join, push, leave or receive waits (phoenix.js's ``DEFAULT_TIMEOUT``)."""
DEFAULT_HEARTBEAT_INTERVAL = 30.0
"""Seconds between heartbeats (phoenix.js's ``heartbeatIntervalMs``)."""

ChannelState: TypeAlias = Literal["joining", "joined", "closed", "errored"]
OnMessage: TypeAlias = Callable[[str, Payload], None]

# A closed WebSocket whose peer sent no close frame (RFC 6455 7.1.5).
_ABNORMAL_CLOSURE = 1006


# --- Errors -------------------------------------------------------------------------------------


class ClientError(Exception):
    """Base class of the client's errors."""


class ConnectError(ClientError):
    """The WebSocket could not be opened (refused, unreachable, timed out)."""


class ConnectionRejectedError(ConnectError):
    """The server answered the upgrade request with an HTTP status instead of 101.

    Attributes:
        status_code: e.g. 403 when the socket's ``connect`` refused, the ``vsn`` is not
            supported or the Origin is not allowed.
        body: the response body.
    """

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__(f"the server rejected the WebSocket upgrade with HTTP {status_code}")
        self.status_code = status_code
        self.body = body


class ConnectionClosedError(ClientError):
    """The WebSocket is closed (by either side), so nothing more can be sent or received.

    Attributes:
        code: the close code (1006 when the TCP connection ended without a close frame).
        reason: the close reason, if any.
    """

    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(f"the connection is closed ({code}{f': {reason}' if reason else ''})")
        self.code = code
        self.reason = reason


class ChannelClosedError(ClientError):
    """The channel was closed: left, replaced by a new join of its topic, or ended by the
    server (``phx_close``, or ``phx_error`` when it crashed).

    Attributes:
        state: ``"closed"`` or ``"errored"``.
    """

    def __init__(self, topic: str, state: ChannelState) -> None:
        super().__init__(f"channel {topic!r} is {state}")
        self.topic = topic
        self.state = state


class JoinError(ClientError):
    """The server answered a join with a status other than ``ok``.

    Attributes:
        status: the reply's status (``"error"``).
        response: the reply's response, e.g. ``{"reason": "unauthorized"}``.
    """

    def __init__(self, status: str, response: Payload) -> None:
        super().__init__(f"join refused ({status}): {response!r}")
        self.status = status
        self.response = response


class ClientTimeoutError(ClientError, TimeoutError):
    """No reply (or, for ``receive``, no message) came within the timeout."""


# --- Internal -----------------------------------------------------------------------------------


class _Waiter:
    """A task waiting for the reply to one ref; settled by the reader task.

    ``channel`` is the channel the push went to (None for heartbeats): if it ends first,
    the waiter is woken without a reply.
    """

    __slots__ = ("channel", "response", "status", "task")

    def __init__(self, channel: JoinedChannel | None) -> None:
        self.channel = channel
        self.task: trio.lowlevel.Task | None = None
        self.status: str | None = None
        self.response: Payload = None

    def abort(self, _: object) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


def _deadline(timeout: float | None) -> float:
    return math.inf if timeout is None else trio.current_time() + timeout


def _open(channel: JoinedChannel | None) -> bool:
    return channel is None or channel.state == "joining" or channel.state == "joined"


# --- The channel --------------------------------------------------------------------------------


class JoinedChannel:
    """One joined topic on a :class:`Client`; made by :meth:`Client.join`.

    Attributes:
        topic: the topic.
        join_ref: the ref of the join that created this channel instance.
        response: the join reply's response (``{}`` when the channel said nothing).
    """

    __slots__ = (
        "_client",
        "_inbox",
        "_on_message",
        "_receiver",
        "_state",
        "join_ref",
        "response",
        "topic",
    )

    def __init__(
        self, client: Client, topic: str, join_ref: str, on_message: OnMessage | None
    ) -> None:
        self._client = client
        self.topic = topic
        self.join_ref = join_ref
        self.response: Payload = None
        self._state: ChannelState = "joining"
        self._on_message = on_message
        self._inbox: deque[Message] | None = None
        self._receiver: trio.lowlevel.Task | None = None

    def __repr__(self) -> str:
        return f"<JoinedChannel {self.topic!r} join_ref={self.join_ref} {self._state}>"

    @property
    def state(self) -> ChannelState:
        """``"joined"``; ``"closed"`` after a leave, a ``phx_close`` or a newer join of the
        topic; ``"errored"`` after a ``phx_error`` or when the connection closed."""
        return self._state

    async def push(
        self, event: str, payload: Payload = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> tuple[str, Payload]:
        """Push ``event`` and wait for the channel's reply.

        Args:
            event: the event name.
            payload: a JSON value (default ``{}``), or bytes for a binary frame (V2 only).
            timeout: seconds to wait for the reply; None waits forever.

        Returns:
            The reply's ``(status, response)``; the response is bytes for a binary reply.

        Raises:
            ClientTimeoutError: no reply in time.
            ChannelClosedError: the channel is closed, or closed before replying (it crashed
                or stopped: ``receive`` returns its ``phx_error`` or ``phx_close``).
            ConnectionClosedError: the connection closed before the reply.
            ProtocolUsageError: bytes with the V1 serializer.
        """
        self._check_open()
        client = self._client
        ref = client._next_ref()
        message = Message(self.join_ref, ref, self.topic, event, {} if payload is None else payload)
        return await client._request(ref, client._serializer.encode(message), timeout, self)

    async def receive(
        self, event: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> tuple[str, Payload]:
        """Take the oldest message the server pushed or broadcast to this channel.

        ``phx_close`` and ``phx_error`` are messages too (the last ones a channel gets).

        Args:
            event: only a message with this event; the others stay queued, in order.
            timeout: seconds to wait; None waits forever.

        Returns:
            ``(event, payload)``; the payload is bytes for a binary frame.

        Raises:
            ClientTimeoutError: nothing (matching) came in time.
            ChannelClosedError: the channel is closed and nothing matching is queued.
            ConnectionClosedError: the connection closed and nothing matching is queued.
            trio.BusyResourceError: another task is receiving on this channel.
            RuntimeError: the channel was joined with ``on_message``.
        """
        if self._on_message is not None:
            raise RuntimeError(f"channel {self.topic!r} delivers its messages to on_message")
        await trio.lowlevel.checkpoint_if_cancelled()
        with trio.CancelScope(deadline=_deadline(timeout)):
            while True:
                message = self._take(event)
                if message is not None:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return message.event, message.payload
                if not _open(self):
                    raise self._client._closed_error() or ChannelClosedError(
                        self.topic, self._state
                    )
                if self._receiver is not None:
                    raise trio.BusyResourceError(f"another task is receiving on {self.topic!r}")
                self._receiver = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._abort_receive)
        raise ClientTimeoutError(
            f"no {event or 'message'} on {self.topic!r} within {timeout} seconds"
        )

    async def leave(self, *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        """Send ``phx_leave`` and wait for its reply; the channel is closed afterwards.

        Returns at once if the channel or its connection is already closed.

        Raises:
            ClientTimeoutError: no reply in time (the channel is closed all the same).
        """
        if not _open(self):
            await trio.lowlevel.checkpoint()
            return
        client = self._client
        ref = client._next_ref()
        frame = client._serializer.encode(Message(self.join_ref, ref, self.topic, PHX_LEAVE, {}))
        try:
            with contextlib.suppress(ConnectionClosedError, ChannelClosedError):
                await client._request(ref, frame, timeout, self)
        finally:
            self._end("closed")

    # --- Internal -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not _open(self):
            raise self._client._closed_error() or ChannelClosedError(self.topic, self._state)

    def _abort_receive(self, _: object) -> trio.lowlevel.Abort:
        self._receiver = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _take(self, event: str | None) -> Message | None:
        inbox = self._inbox
        if not inbox:
            return None
        if event is None:
            return inbox.popleft()
        for index, message in enumerate(inbox):
            if message.event == event:
                del inbox[index]
                return message
        return None

    def _deliver(self, message: Message) -> None:
        """Route one server message to this channel (called by the reader task)."""
        event = message.event
        if event == PHX_CLOSE or event == PHX_ERROR:
            # Both carry the channel's join_ref as their ref too; V1 sends only the ref.
            owner = message.join_ref if message.join_ref is not None else message.ref
            if owner is not None and owner != self.join_ref:
                return  # the end of an earlier channel of this topic
            self._end("closed" if event == PHX_CLOSE else "errored")
        elif message.join_ref is not None and message.join_ref != self.join_ref:
            return  # stale: sent to an earlier join of this topic
        if self._on_message is not None:
            self._on_message(event, message.payload)
            return
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(message)
        self._wake()

    def _end(self, state: ChannelState) -> None:
        if not _open(self):
            return
        self._state = state
        client = self._client
        if client._channels.get(self.topic) is self:
            del client._channels[self.topic]
        for waiter in client._pending.values():
            if waiter.channel is self and waiter.task is not None:
                trio.lowlevel.reschedule(waiter.task)
                waiter.task = None
        self._wake()

    def _wake(self) -> None:
        task = self._receiver
        if task is not None:
            self._receiver = None
            trio.lowlevel.reschedule(task)


# --- The client ---------------------------------------------------------------------------------


class Client:
    """One Phoenix socket connection; made by :func:`open_client`."""

    __slots__ = (
        "_channels",
        "_close_code",
        "_close_reason",
        "_close_timeout",
        "_closed_event",
        "_heartbeat_interval",
        "_heartbeat_ref",
        "_pending",
        "_ref",
        "_serializer",
        "_stream",
        "_ws",
    )

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.abc.Stream,
        serializer: Serializer,
        heartbeat_interval: float | None,
        close_timeout: float,
    ) -> None:
        self._ws = ws
        self._stream = stream
        self._serializer = serializer
        self._heartbeat_interval = heartbeat_interval
        self._close_timeout = close_timeout
        self._ref = 0
        self._pending: dict[str, _Waiter] = {}
        self._channels: dict[str, JoinedChannel] = {}
        self._heartbeat_ref: str | None = None
        self._close_code: int | None = None
        self._close_reason: str | None = None
        self._closed_event: trio.Event | None = None

    def __repr__(self) -> str:
        state = "open" if self._close_code is None else f"closed {self._close_code}"
        return f"<Client vsn={self._serializer.vsn} {state}>"

    @property
    def vsn(self) -> str:
        """The serializer version in use: ``"2.0.0"`` or ``"1.0.0"``."""
        return self._serializer.vsn

    @property
    def closed(self) -> bool:
        """Whether the WebSocket is closed (by either side)."""
        return self._close_code is not None

    @property
    def close_code(self) -> int | None:
        """The close code once closed (1006: the TCP connection ended without a close frame)."""
        return self._close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once closed, if one was given."""
        return self._close_reason

    async def join(
        self,
        topic: str,
        payload: Mapping[str, Payload] | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_message: OnMessage | None = None,
    ) -> JoinedChannel:
        """Join ``topic`` and wait for the reply.

        A channel of this client already on ``topic`` is closed: the server replaces it with
        the new one (phoenix.js leaves it first; the effect is the same).

        Args:
            topic: e.g. ``"rooms:lobby"``.
            payload: the join params (default ``{}``).
            timeout: seconds to wait for the reply; None waits forever. On a timeout a
                ``phx_leave`` is sent, as phoenix.js does, so a late join does not linger.
            on_message: if given, called with ``(event, payload)`` for each message of this
                channel as it arrives (in the reader task; it must not block), instead of
                queueing it for ``receive``. An exception it raises closes the client and
                comes out of ``open_client``.

        Returns:
            The channel; its ``response`` is the join reply's response.

        Raises:
            JoinError: the reply's status is not ``ok`` (``{"reason": "unmatched topic"}``,
                a refusal, ``{"reason": "join crashed"}``...).
            ClientTimeoutError: no reply in time.
            ConnectionClosedError: the connection is closed.
        """
        ref = self._next_ref()
        channel = JoinedChannel(self, topic, ref, on_message)
        previous = self._channels.get(topic)
        if previous is not None:
            previous._end("closed")
        self._channels[topic] = channel  # messages may arrive before the join reply
        message = Message(ref, ref, topic, PHX_JOIN, {} if payload is None else dict(payload))
        try:
            frame = self._serializer.encode(message)
            status, response = await self._request(ref, frame, timeout, channel)
        except ClientTimeoutError:
            channel._end("closed")
            leave = Message(ref, self._next_ref(), topic, PHX_LEAVE, {})
            with contextlib.suppress(ConnectionClosedError):  # best effort
                await self._send(self._serializer.encode(leave))
            raise
        except BaseException:
            channel._end("closed")
            raise
        if status != "ok":
            channel._end("closed")
            raise JoinError(status, response)
        if channel._state == "joining":
            channel._state = "joined"
        channel.response = response
        return channel

    async def ping(self, *, timeout: float | None = DEFAULT_TIMEOUT) -> float:
        """Send a heartbeat and wait for its reply (phoenix.js's ``ping``).

        Returns:
            The round trip, in seconds.

        Raises:
            ClientTimeoutError: no reply in time.
            ConnectionClosedError: the connection is closed.
        """
        ref = self._next_ref()
        frame = self._serializer.encode(Message(None, ref, PHOENIX_TOPIC, HEARTBEAT, {}))
        started = trio.current_time()
        await self._request(ref, frame, timeout)
        return trio.current_time() - started

    async def wait_closed(self) -> int:
        """Wait until the WebSocket is closed (by either side); return its close code."""
        if self._close_code is None:
            if self._closed_event is None:
                self._closed_event = trio.Event()
            await self._closed_event.wait()
        else:
            await trio.lowlevel.checkpoint()
        assert self._close_code is not None
        return self._close_code

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the WebSocket (waiting at most ``close_timeout`` for the server's answer).

        Idempotent; leaving the ``open_client`` block calls it.
        """
        with trio.CancelScope(deadline=trio.current_time() + self._close_timeout, shield=True):
            self._closed(code, reason)
            await self._ws.aclose(code, reason)
        await self._abort(code, reason)

    # --- Internal -------------------------------------------------------------------------------

    async def _abort(self, code: int, reason: str | None) -> None:
        """Close the TCP connection without a close handshake (nobody may read the answer)."""
        self._closed(code, reason)
        # A TLS stream sends close_notify first, which a stuck peer could block.
        with trio.CancelScope(deadline=trio.current_time() + self._close_timeout, shield=True):
            await self._stream.aclose()

    def _next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    def _closed_error(self) -> ConnectionClosedError | None:
        if self._close_code is None:
            return None
        return ConnectionClosedError(self._close_code, self._close_reason)

    async def _send(self, frame: Frame) -> None:
        try:
            await self._ws.send_message(frame)
        except trio_websocket.ConnectionClosed as exc:
            self._closed_from(exc.reason)
            error = self._closed_error()
            assert error is not None
            raise error from None

    async def _request(
        self, ref: str, frame: Frame, timeout: float | None, channel: JoinedChannel | None = None
    ) -> tuple[str, Payload]:
        """Send ``frame`` and wait for the reply to ``ref``: ``(status, response)``."""
        error = self._closed_error()
        if error is not None:
            await trio.lowlevel.checkpoint()
            raise error
        waiter = _Waiter(channel)
        self._pending[ref] = waiter  # before sending: the reply may beat our wake-up
        try:
            with trio.CancelScope(deadline=_deadline(timeout)):
                await self._send(frame)
                if waiter.status is None and self._close_code is None and _open(channel):
                    waiter.task = trio.lowlevel.current_task()
                    await trio.lowlevel.wait_task_rescheduled(waiter.abort)
        finally:
            self._pending.pop(ref, None)
        if waiter.status is not None:
            return waiter.status, waiter.response
        error = self._closed_error()
        if error is not None:
            raise error
        if channel is not None and not _open(channel):
            raise ChannelClosedError(channel.topic, channel.state)
        raise ClientTimeoutError(f"no reply to ref {ref} within {timeout} seconds")

    async def _run(self) -> None:
        """The reader task: route every frame; send a heartbeat every interval."""
        ws = self._ws
        interval = self._heartbeat_interval
        try:
            while True:
                with trio.CancelScope(deadline=_deadline(interval)):
                    while True:
                        frame = await ws.get_message()
                        try:
                            message = self._serializer.decode(frame)
                        except ProtocolError as exc:
                            await self._abort(exc.close_code, str(exc)[:120])
                            return
                        self._route(message)
                if self._heartbeat_ref is not None:
                    # The server is gone or stuck: phoenix.js closes without waiting either.
                    await self._abort(1000, "heartbeat timeout")
                    return
                ref = self._heartbeat_ref = self._next_ref()
                heartbeat = Message(None, ref, PHOENIX_TOPIC, HEARTBEAT, {})
                await ws.send_message(self._serializer.encode(heartbeat))
        except trio_websocket.ConnectionClosed as exc:
            self._closed_from(exc.reason)

    def _route(self, message: Message) -> None:
        if message.event == PHX_REPLY:
            ref = message.ref
            if ref is None:
                return
            if ref == self._heartbeat_ref:
                self._heartbeat_ref = None
                return
            waiter = self._pending.pop(ref, None)
            if waiter is None:
                return  # its push timed out: dropped, as phoenix.js does
            payload = message.payload
            if isinstance(payload, dict):
                status = payload.get("status")
                waiter.status = status if isinstance(status, str) else repr(status)
                waiter.response = payload.get("response")
            else:
                waiter.status, waiter.response = "invalid", payload
            if waiter.task is not None:
                trio.lowlevel.reschedule(waiter.task)
            return
        channel = self._channels.get(message.topic)
        if channel is not None:
            channel._deliver(message)

    def _closed_from(self, reason: trio_websocket.CloseReason | None) -> None:
        if reason is None:
            self._closed(_ABNORMAL_CLOSURE, None)
        else:
            self._closed(reason.code, reason.reason)

    def _closed(self, code: int, reason: str | None) -> None:
        """The connection is closed: fail every waiter, close every channel (errored)."""
        if self._close_code is not None:
            return
        self._close_code = code
        self._close_reason = reason
        for waiter in self._pending.values():
            if waiter.task is not None:
                trio.lowlevel.reschedule(waiter.task)
                waiter.task = None
        for channel in list(self._channels.values()):
            channel._end("errored")
        if self._closed_event is not None:
            self._closed_event.set()


# --- Opening ------------------------------------------------------------------------------------


def _resource(path: str, query: str, params: Mapping[str, object], vsn: str | None) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    pairs.extend((key, str(value)) for key, value in params.items())
    if vsn is not None:
        pairs.append(("vsn", vsn))
    resource = path or "/"
    return f"{resource}?{urlencode(pairs)}" if pairs else resource


def _unwrap_single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception of a nursery's group (the body's, or the reader's), if only one."""
    if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
        return group.exceptions[0]
    return None


def _reraise(exc: BaseException) -> NoReturn:
    """Raise ``exc`` again as it was: its own cause and context, not the group around it."""
    cause, context, suppress = exc.__cause__, exc.__context__, exc.__suppress_context__
    try:
        raise exc
    finally:
        exc.__cause__, exc.__context__, exc.__suppress_context__ = cause, context, suppress
        del exc


@asynccontextmanager
async def open_client(
    url: str,
    params: Mapping[str, object] | None = None,
    *,
    vsn: str | None = "2.0.0",
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    connect_timeout: float = DEFAULT_TIMEOUT,
    close_timeout: float = 5.0,
    max_message_size: int = 1 << 20,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Client]:
    """Open a Phoenix socket; close it when the block ends.

    Args:
        url: the WebSocket URL, ``ws://host:port/socket/websocket`` (phoenix.js users write
            ``/socket``; it appends ``/websocket``). ``wss://`` uses TLS.
        params: query parameters for the socket's ``connect`` (values are str()-ed).
        vsn: the serializer: ``"2.0.0"`` (phoenix.js's default), or ``"1.0.0"`` or None
            (no ``vsn`` parameter: what Tsung sends) for V1 JSON.
        heartbeat_interval: seconds between heartbeats; None sends none. A heartbeat still
            unanswered when the next is due closes the socket.
        headers: extra request headers, e.g. ``{"Origin": "http://localhost:4000"}``.
        connect_timeout: seconds for the TCP connection and the upgrade.
        close_timeout: seconds to wait for the server to answer our close frame.
        max_message_size: a larger frame from the server closes the socket (1009).
        ssl_context: for ``wss://``; the default context if None.

    Raises:
        ConnectionRejectedError: the server answered with an HTTP status (403...).
        ConnectError: the server is unreachable or the upgrade failed or timed out.
        UnsupportedVersionError: ``vsn`` is neither 1.0.x nor 2.0.x.
        ValueError: ``url`` is not a ws:// or wss:// URL, or ``heartbeat_interval`` is not
            positive.
    """
    serializer = serializer_for_vsn(vsn, role=CLIENT)
    if heartbeat_interval is not None and not heartbeat_interval > 0:
        raise ValueError(f"heartbeat_interval must be positive or None, not {heartbeat_interval}")
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    resource = _resource(parts.path, parts.query, params or {}, vsn)
    host_header = parts.hostname if port == (443 if secure else 80) else f"{parts.hostname}:{port}"
    items = headers.items() if isinstance(headers, Mapping) else headers
    extra = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in items]

    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    stream: trio.abc.Stream
                    if secure:
                        stream = await trio.open_ssl_over_tcp_stream(
                            parts.hostname,
                            port,
                            ssl_context=ssl_context or ssl.create_default_context(),
                            https_compatible=True,
                        )
                    else:
                        stream = await trio.open_tcp_stream(parts.hostname, port)
                    try:
                        ws = await trio_websocket.wrap_client_stream(
                            nursery,
                            stream,
                            host_header,
                            resource,
                            extra_headers=extra,
                            max_message_size=max_message_size,
                        )
                    except BaseException:
                        deadline = trio.current_time() + close_timeout
                        with trio.CancelScope(deadline=deadline, shield=True):
                            await stream.aclose()
                        raise
            except trio.TooSlowError:
                raise ConnectError(f"no connection to {url} within {connect_timeout} s") from None
            except OSError as exc:
                raise ConnectError(f"cannot connect to {url}: {exc}") from exc
            client = Client(ws, stream, serializer, heartbeat_interval, close_timeout)
            nursery.start_soon(client._run)
            try:
                yield client
            except BaseException:
                # Cancelled, or failed: the reader may be cancelled too and could not read
                # the server's answer to a close frame, so do not wait for one.
                await client._abort(_ABNORMAL_CLOSURE, None)
                raise
            else:
                await client.aclose()
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        single = _unwrap_single(group)
        if single is None:
            raise
        if isinstance(single, trio_websocket.ConnectionRejected):
            raise ConnectionRejectedError(single.status_code, single.body or b"") from None
        _reraise(single)
