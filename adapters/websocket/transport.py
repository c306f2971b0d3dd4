"""uvicorn's websocket protocol, taught two things the ASGI interface cannot express.

1. Ping frames: the protocol answers them itself, so the application never sees them; the
   reference counts them toward the rate limit. Each connection's scope gets a `ConnectionHooks`
   under `scope["extensions"]["session_engine"]`; the protocol calls `on_ping` for every ping.
2. Graceful shutdown: uvicorn closes every websocket with 1012 at once. We ask the application to
   finish the packet in flight and close with 1000 instead (`on_shutdown`); uvicorn then waits for
   the connection to close, up to its graceful-shutdown timeout.
3. A text frame that is not UTF-8 is the peer's error: it is closed with 1007, as uvicorn does, but
   logged as such (info) rather than as a server error with a traceback. Reading pauses only when
   a second message waits unread, not after every message (`send_receive_event_to_app`).
4. A peer that does not read: each send waits while the connection's write buffer is over its high
   water mark (asyncio's default, 64 KiB), so a connection holds at most that plus the one message
   each of its senders is waiting to write. A buffer that stays over the mark for
   `[limits].send_stall_seconds` is the peer's fault: the connection closes with 1008 (the close
   frame is queued behind what the peer has not read; the socket is dropped after uvicorn's close
   timeout), and every send waiting on it fails as after a disconnect.

Without this protocol class (another ASGI server) everything else works; pings are then not
counted and shutdown closes the way that server does.
"""

from __future__ import annotations

import logging
from asyncio import TimerHandle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from session_engine.adapters.config import Limits
from session_engine.adapters.metrics import SURFACES, Metrics

EXTENSION = "session_engine"
INVALID_FRAME_PAYLOAD = 1007
POLICY_VIOLATION = 1008
NOT_READING = "the peer does not read"
PING_UNANSWERED = "keepalive ping timeout"
log = logging.getLogger("session_engine.websocket")


@dataclass
class ConnectionHooks:
    on_ping: Callable[[], None] | None = None
    on_shutdown: Callable[[], None] | None = None


def hooks_of(scope: Mapping[str, Any]) -> ConnectionHooks | None:
    hooks = scope.get("extensions", {}).get(EXTENSION)
    return hooks if isinstance(hooks, ConnectionHooks) else None


class HookedWebSocketProtocol(WebSocketsSansIOProtocol):
    """Use `websocket_protocol(limits, metrics)`: the class carries the send stall timeout."""

    send_stall_seconds: ClassVar[float] = 30.0
    metrics: ClassVar[Metrics | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stall_timer: TimerHandle | None = None
        self.surface: str | None = None
        """Set once the upgrade is accepted: the connection counts in `metrics` from then on."""

    def handle_connect(self, event: Any) -> None:
        self.hooks = ConnectionHooks()
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the upgrade was accepted by the handshake layer
            scope["extensions"][EXTENSION] = self.hooks
            self.surface = SURFACES.get(scope["path"], "other")
            if self.metrics is not None:
                self.metrics.opened(self.surface)

    def handle_ping(self) -> None:
        super().handle_ping()
        if self.hooks.on_ping is not None:
            self.hooks.on_ping()

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, but reading pauses only once a message waits besides the one just queued.

        uvicorn pauses reading after every message and resumes it when the application takes
        it: two event-loop calls (and on uvloop two io_uring submissions) per packet, though a
        client that waits for each answer never has a second one unread. Pausing once two wait
        bounds a client that sends without reading the same way (two messages queued, not one)."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:  # past `websocket.close`: dropped, as uvicorn does
            return
        message: dict[str, Any]
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                extra = {"code": INVALID_FRAME_PAYLOAD}
                log.info("text frame is not UTF-8: closing the connection", extra=extra)
                self.conn.send_close(INVALID_FRAME_PAYLOAD)
                self.handle_parser_exception()  # tells the application, sends the close, drops the transport
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        queue = self.queue
        queue.put_nowait(message)  # type: ignore[arg-type]  # the two receive shapes, built above
        if queue.qsize() > 1 and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.stall_timer is None:
            self.stall_timer = self.loop.call_later(self.send_stall_seconds, self._stalled)

    def resume_writing(self) -> None:
        self._cancel_stall()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall()
        if self.metrics is not None and self.surface is not None:
            sent = self.conn.close_sent
            self.metrics.websocket_closed(self.surface, sent.code if sent is not None else 1006)
        super().connection_lost(exc)

    def _cancel_stall(self) -> None:
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None

    def _stalled(self) -> None:
        self.stall_timer = None
        if self.disconnected or self.transport.is_closing():
            return
        log.info("the peer does not read: closing the connection", extra={"code": POLICY_VIOLATION})
        self._give_up(NOT_READING)

    def keepalive_timeout(self) -> None:
        """A ping left unanswered for `ping_timeout_seconds` is the peer's doing (it reads nothing,
        or it is gone): close 1008, as for a stalled send. uvicorn's own close says 1011, which
        the protocols keep for the server's errors."""
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.disconnected or self.close_sent or self.transport.is_closing():
            return
        log.info("a ping went unanswered: closing the connection", extra={"code": POLICY_VIOLATION})
        self._give_up(PING_UNANSWERED)

    def _give_up(self, reason: str) -> None:
        """Close 1008 on a peer that does not read: the app hears of it at once; the peer still
        gets the close frame if it reads before the close timeout, after which the socket is
        dropped (a close would wait for the unread buffer to drain, for ever)."""
        if not self.close_sent:
            self.conn.send_close(POLICY_VIOLATION, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": POLICY_VIOLATION, "reason": reason})
        # Waiting sends fail now, as after a disconnect.
        self.disconnected = True
        self.writable.set()
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    def shutdown(self) -> None:
        hooks: ConnectionHooks | None = getattr(self, "hooks", None)
        if (
            hooks is not None
            and hooks.on_shutdown is not None
            and self.handshake_complete
            and not self.close_sent
        ):
            on_shutdown, hooks.on_shutdown = hooks.on_shutdown, None
            on_shutdown()
            return
        super().shutdown()


def websocket_protocol(limits: Limits, metrics: Metrics | None = None) -> type[HookedWebSocketProtocol]:
    """The protocol class for `uvicorn.Config(ws=...)` with `limits`' send stall timeout, counting
    connections and closes in `metrics`."""
    settings = {"send_stall_seconds": limits.send_stall_seconds, "metrics": metrics}
    return type("HookedWebSocketProtocol", (HookedWebSocketProtocol,), settings)
