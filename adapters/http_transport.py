"""uvicorn's HTTP protocol (httptools), taught the timeouts it lacks: a connection is closed when
its client is too slow, so silent or trickling clients cannot hold connections forever.

uvicorn closes a keep-alive connection that stays silent after a response (`timeout_keep_alive`),
and nothing else: a connection that never sends a byte, a request whose headers trickle in
(slowloris) or whose body never completes holds its socket and its file descriptor forever.
Here, from `[limits]`:

- `idle_timeout_seconds`: no request in progress, no byte received: closed (uvicorn's keep-alive
  timeout, also armed when the connection opens).
- `header_timeout_seconds`: a request's headers must be complete this long after its first byte,
  however steadily they trickle; else `408` and closed.
- `body_timeout_seconds`: its body must be complete this long after its headers (a total, so a
  body sent a byte at a time cannot hold the connection either); else `408` and closed, and the
  application's `receive()` answers `http.disconnect`.

A websocket upgrade leaves this protocol (uvicorn hands the socket to the websocket protocol),
and with it these timers.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from session_engine.adapters.config import Limits
from session_engine.adapters.metrics import Metrics

REQUEST_TIMEOUT = 408
HTTP = "http"
_TIMED_OUT = b"request timed out"


class TimedHttpProtocol(HttpToolsProtocol):
    """Use `timed_protocol(limits, metrics)`: the class carries its settings (uvicorn builds one per
    connection)."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 60.0
    metrics: ClassVar[Metrics | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None
        self._due: float | None = None
        """When the request in progress times out (loop time); its timer is set only if the
        request is still unfinished once the bytes that arrived are parsed (`data_received`): a
        request that comes in one piece, as most do, never sets one."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.metrics is not None:
            self.metrics.opened(HTTP)
        # Silent from the start: the same rule as silent between requests.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.metrics is not None:
            self.metrics.closed(HTTP)
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        if self.metrics is not None:
            self.metrics.closed(HTTP)  # the websocket protocol counts it from here on
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._due is not None and self._deadline is None:  # a request is still unfinished
            self._deadline = self.loop.call_at(self._due, self._timed_out)

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # -- the deadline -------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        """The request times out `seconds` from now (its timer is set by `data_received`)."""
        self._disarm()
        self._due = self.loop.time() + seconds

    def _disarm(self) -> None:
        self._due = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = self._due = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[REQUEST_TIMEOUT],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(_TIMED_OUT),
                        b"connection: close\r\n\r\n",
                        _TIMED_OUT,
                    ]
                )
            )
        if cycle is not None and not cycle.response_complete:
            # The application's `receive()` answers `http.disconnect` and its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def timed_protocol(limits: Limits, metrics: Metrics | None = None) -> type[TimedHttpProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with `limits`' header and body timeouts,
    counting open connections in `metrics`."""
    settings = {
        "header_timeout": limits.header_timeout_seconds,
        "body_timeout": limits.body_timeout_seconds,
        "metrics": metrics,
    }
    return type("TimedHttpProtocol", (TimedHttpProtocol,), settings)
