"""The Channel behaviour: one process per joined topic, under its connection.

==========================================  ================================================
what happens                                callback
==========================================  ================================================
a client joins the topic                    ``join(topic, payload)`` -> a response (dict or
                                            None) to accept; ``raise JoinRefused(response)``
                                            to refuse (an error reply)
the client pushes an event                  ``handle_in(event, payload)`` -> ``Reply(status,
                                            response)``, None (no reply) or ``Stop``
a broadcast of an intercepted event         ``handle_out(event, payload)`` (default: push it)
any other message                           ``handle_info(message)``
the channel ends (leave, stop, crash)       ``terminate(reason)``
==========================================  ================================================

``self.socket`` holds the topic, the connection's assigns and the helpers ``push``,
``broadcast`` and ``broadcast_from``. Plain-def callbacks make a reactive channel (no task,
~1 KB); any async callback a task channel. A crash in a callback ends this channel only: the
client gets ``phx_error`` and rejoins.

Broadcasts on the topic do not wake the channel at all: the connection subscribed with a
fastlane entry, and the frame goes straight to the socket, unless the event is in
``intercept``, in which case ``handle_out`` gets it.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import attrs

import trouper
from trouper import pubsub

from . import protocol
from ._fastlane import Broadcast, FastlaneEntry, dispatcher
from ._frames import ws_frame


class JoinRefused(Exception):
    """Raise from ``join`` to refuse it; ``response`` goes in the error reply."""

    def __init__(self, response: Any = None) -> None:
        super().__init__(response)
        self.response = {} if response is None else response


@attrs.frozen
class Reply:
    """Returned from ``handle_in``: answer the push with ``status`` and ``response``."""

    status: str = "ok"
    response: Any = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class ClientPush:
    """Connection -> channel: the client pushed ``event``."""

    event: str
    payload: Any
    ref: str | None


class ClientLeave:
    """Connection -> channel: the client left the topic."""

    __slots__ = ()


@attrs.define
class ChannelSocket:
    """What a channel knows of its connection (``self.socket``)."""

    topic: str
    join_ref: str | None
    assigns: Any
    transport: trouper.Pid
    pubsub: str
    fastlane: FastlaneEntry
    join_response: Any = None  # what join returned, for the connection's join reply

    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this client."""
        self._write(protocol.Message(self.join_ref, None, self.topic, event, payload))

    def reply(self, ref: str | None, status: str, response: Any) -> None:
        """Answer the client's push ``ref`` (what returning ``Reply`` from handle_in does)."""
        self._write(protocol.Reply(self.join_ref, ref, self.topic, status, response))

    def _write(self, message: protocol.Message | protocol.Reply) -> None:
        # Straight to the socket, as the fastlane writes broadcasts: a push and a broadcast
        # from this channel reach the client in the order they were made. (Through the
        # connection's mailbox, a push could arrive after a later broadcast.)
        fastlane = self.fastlane
        fastlane.write(ws_frame(fastlane.serializer.encode(message)))

    def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every subscriber of the topic, this client included."""
        pubsub.broadcast(
            self.pubsub, self.topic, Broadcast(self.topic, event, payload), dispatcher=dispatcher
        )

    def broadcast_from(self, event: str, payload: Any) -> None:
        """Send ``event`` to every subscriber of the topic except this client."""
        pubsub.broadcast_from(
            self.pubsub,
            trouper.self(),
            self.topic,
            Broadcast(self.topic, event, payload),
            dispatcher=dispatcher,
        )


LEFT = ("shutdown", "left")
"""The exit reason of a channel whose client left (clean: no crash report)."""


class Channel(trouper.GenServer):
    """Base class of channels; see the module docstring for the callbacks."""

    intercept: ClassVar[frozenset[str]] = frozenset()
    _trouper_callbacks: ClassVar[tuple[str, ...]] = (
        "join",
        "handle_in",
        "handle_out",
        "handle_info",
        "terminate",
    )
    socket: ChannelSocket

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        task = cls._trouper_task_mode
        cls.init = Channel._init_async if task else Channel._init_sync  # type: ignore[method-assign,assignment]
        cls.handle_cast = Channel._cast_async if task else Channel._cast_sync  # type: ignore[method-assign,assignment]
        cls._trouper_default_init = False

    # -- callbacks (override these) ---------------------------------------------------------

    def join(self, topic: str, payload: Any) -> Any:
        return None

    def handle_in(self, event: str, payload: Any) -> Any:
        return None

    def handle_out(self, event: str, payload: Any) -> Any:
        self.socket.push(event, payload)
        return None

    def terminate(self, reason: Any) -> Any:
        return None

    # -- engine -----------------------------------------------------------------------------

    def _joined(self, socket: ChannelSocket, response: Any) -> None:
        pubsub.subscribe(socket.pubsub, socket.topic, socket.fastlane)
        socket.join_response = response

    def _init_sync(self, socket: ChannelSocket, payload: Any) -> Any:
        # As Phoenix's channel server: trap exits, so the connection's end (an Exit from the
        # parent) runs terminate instead of killing the channel outright.
        trouper.trap_exit(True)
        self.socket = socket
        try:
            response = self.join(socket.topic, payload)
        except JoinRefused as refused:
            return trouper.Stop(("shutdown", ("join_refused", refused.response)))
        self._joined(socket, response)
        return None

    async def _init_async(self, socket: ChannelSocket, payload: Any) -> Any:
        trouper.trap_exit(True)
        self.socket = socket
        try:
            response = self.join(socket.topic, payload)
            if inspect.isawaitable(response):
                response = await response
        except JoinRefused as refused:
            return trouper.Stop(("shutdown", ("join_refused", refused.response)))
        self._joined(socket, response)
        return None

    def _route(self, message: Any) -> tuple[Any, tuple[Any, ...]]:
        if type(message) is pubsub.ShardRestarted and self.socket.topic in message.topics:
            return self._resubscribe, (message,)
        return super()._route(message)

    def _resubscribe(self, message: Any) -> None:
        # The pubsub shard holding our subscription crashed and was restarted.
        pubsub.subscribe(self.socket.pubsub, self.socket.topic, self.socket.fastlane)

    def _answer(self, message: ClientPush, result: Any) -> Any:
        if isinstance(result, Reply):
            self.socket.reply(message.ref, result.status, result.response)
            return None
        return result  # None or Stop

    def _cast_sync(self, message: Any) -> Any:
        if type(message) is ClientPush:
            return self._answer(message, self.handle_in(message.event, message.payload))
        if type(message) is Broadcast:
            return self.handle_out(message.event, message.payload)
        if type(message) is ClientLeave:
            return trouper.Stop(LEFT)
        return None

    async def _cast_async(self, message: Any) -> Any:
        if type(message) is ClientPush:
            result = self.handle_in(message.event, message.payload)
        elif type(message) is Broadcast:
            result = self.handle_out(message.event, message.payload)
        elif type(message) is ClientLeave:
            return trouper.Stop(LEFT)
        else:
            return None
        if inspect.isawaitable(result):
            result = await result
        return self._answer(message, result) if type(message) is ClientPush else result
