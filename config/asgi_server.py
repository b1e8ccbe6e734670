"""The one way this project serves ASGI: daphne's ``Server`` with the chat protocol's WebSocket limits.

``scripts/serve`` (production), ``manage.py serve`` and ``manage.py runserver`` (``make dev``) all run ``ChatServer``.
daphne's own default message limit (1 MiB) would drop larger frames with no close frame (1006) before the consumer
could answer ``frame_too_large``; here the limit is ``CHAT_TRANSPORT_MAX_FRAME_BYTES``, above
``CHAT_MAX_FRAME_BYTES``, and a message over even that is closed with a close frame, code 1009.

Import this module before anything imports ``twisted.internet.reactor``: ``daphne.server`` installs the asyncio
reactor on import.
"""

import asyncio
import signal
from typing import Any

from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from twisted.internet import defer, reactor

from config import lifecycle

# RFC 6455's registry gives servers 1011-1014 (1012 service restart, 1013 try again later); autobahn's sendClose
# accepts only 1000 and 3000-4999, so these go out through its lower-level close frame.
_REGISTERED_SERVER_CLOSE_CODES = frozenset({1011, 1012, 1013, 1014})


class ChatWebSocketProtocol(WebSocketProtocol):
    def serverClose(self, code: int | None = None) -> None:
        if code in _REGISTERED_SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
            return
        super().serverClose(code)


def websocket_message_limit() -> int:
    """The transport's limit; a frame up to it reaches the consumer, which applies ``CHAT_MAX_FRAME_BYTES``."""
    limit = settings.CHAT_TRANSPORT_MAX_FRAME_BYTES
    if limit < settings.CHAT_MAX_FRAME_BYTES:
        raise ImproperlyConfigured(
            "CHAT_TRANSPORT_MAX_FRAME_BYTES must be at least CHAT_MAX_FRAME_BYTES, or frames the consumer accepts "
            "would drop the socket"
        )
    return limit


class ChatServer(Server):
    """daphne's Server with the project's WebSocket limits, a real close frame on protocol failures, and a drain
    on SIGTERM/SIGINT (``config.lifecycle``): daphne's own handlers cancel every connection at once.

    The drain stops listening, lets running answers finish for up to ``CHAT_DRAIN_SECONDS`` (sends meanwhile are
    refused ``server_restarting``), interrupts the rest, closes the sockets (1012) and stops. A second signal stops
    at once. Where daphne is asked for no signal handlers (runserver's autoreload child), none are installed.
    """

    def __init__(self, application: Any, **kwargs: Any) -> None:
        limit = websocket_message_limit()
        kwargs["websocket_max_message_size"] = limit
        kwargs["websocket_max_frame_size"] = limit
        self.drain_on_signals = kwargs.get("signal_handlers", True)
        kwargs["signal_handlers"] = False
        super().__init__(application, **kwargs)
        self.ports: list[Any] = []
        self.draining: asyncio.Future | None = None

    def run(self) -> None:
        reactor.callWhenRunning(self._close_with_a_close_frame)
        if self.drain_on_signals:
            reactor.callWhenRunning(self._drain_on_signals)
        super().run()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)  # the listening ports, to stop accepting connections when draining
        super().listen_success(port)

    def _drain_on_signals(self) -> None:
        loop = asyncio.get_event_loop()  # the reactor's loop
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._signalled)

    def _signalled(self) -> None:
        if self.draining is None:
            self.draining = asyncio.ensure_future(self._drain_then_stop())
        elif reactor.running:
            reactor.stop()

    async def _drain_then_stop(self) -> None:
        for port in self.ports:
            port.stopListening()
        await lifecycle.drain(settings.CHAT_DRAIN_SECONDS)
        await asyncio.sleep(0.2)  # the close frames go out
        if reactor.running:
            reactor.stop()

    def kill_all_applications(self) -> Any:
        # daphne's version reads details["application_instance"] of every connection and raises KeyError for one
        # that has none yet (a WebSocket mid-upgrade), cancelling nothing; the apps then get no chance to clean up.
        apps = [details.get("application_instance") for details in self.connections.values()]
        apps = [app for app in apps if app is not None and not app.done()]
        for app in apps:
            app.cancel()
        waiting = asyncio.wait(apps, timeout=5) if apps else asyncio.sleep(0)
        return defer.Deferred.fromFuture(asyncio.ensure_future(waiting))

    def _close_with_a_close_frame(self) -> None:
        # Also: the protocol that can send the registered server close codes (1012 when draining, 1013 for auth).
        # autobahn's default (failByDrop) aborts TCP on a protocol failure, so an oversized message looks like a
        # network drop (1006); with a close handshake the client gets 1009 and knows not to resend it.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        self.ws_factory.protocol = ChatWebSocketProtocol


def serve(application: Any, *, endpoints: list[str], verbosity: int = 1, **options: Any) -> None:
    """Serve ``application`` on daphne endpoint strings (``tcp:port=8000:interface=0.0.0.0``) until stopped."""
    ChatServer(application, endpoints=endpoints, verbosity=verbosity, **options).run()
