"""uvicorn's websocket protocol, taught two things the ASGI interface cannot express.

1. Ping frames: the protocol answers them itself, so the application never sees them; the
   reference counts them toward the rate limit. Each connection's scope gets a `ConnectionHooks`
   under `scope["extensions"]["session_engine"]`; the protocol calls `on_ping` for every ping.
2. Graceful shutdown: uvicorn closes every websocket with 1012 at once. We ask the application to
   finish the packet in flight and close with 1000 instead (`on_shutdown`); uvicorn then waits for
   the connection to close, up to its graceful-shutdown timeout.
3. A text frame that is not UTF-8 is the peer's error: it is closed with 1007, as uvicorn does, but
   logged as such (info) rather than as a server error with a traceback.

Without this protocol class (another ASGI server) everything else works; pings are then not
counted and shutdown closes the way that server does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "session_engine"
INVALID_FRAME_PAYLOAD = 1007
log = logging.getLogger("session_engine.websocket")


@dataclass
class ConnectionHooks:
    on_ping: Callable[[], None] | None = None
    on_shutdown: Callable[[], None] | None = None


def hooks_of(scope: Mapping[str, Any]) -> ConnectionHooks | None:
    hooks = scope.get("extensions", {}).get(EXTENSION)
    return hooks if isinstance(hooks, ConnectionHooks) else None


class HookedWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        self.hooks = ConnectionHooks()
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the upgrade was accepted by the handshake layer
            scope["extensions"][EXTENSION] = self.hooks

    def handle_ping(self) -> None:
        super().handle_ping()
        if self.hooks.on_ping is not None:
            self.hooks.on_ping()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent and not _is_utf8(self.frames):
            self.frames = []
            log.info("text frame is not UTF-8: closing the connection", extra={"code": INVALID_FRAME_PAYLOAD})
            self.conn.send_close(INVALID_FRAME_PAYLOAD)
            self.handle_parser_exception()  # tells the application, sends the close, drops the transport
            return
        super().send_receive_event_to_app()

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


def _is_utf8(frames: list[bytes]) -> bool:
    try:
        (frames[0] if len(frames) == 1 else b"".join(frames)).decode()
    except UnicodeDecodeError:
        return False
    return True
