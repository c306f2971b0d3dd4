"""A real server for adapter tests: uvicorn on a free loopback port, in a background thread.

    with running_server(database_url, config) as base_url:   # "http://127.0.0.1:PORT"
        ...websocket at base_url.replace("http", "ws") + "/ws", REST at base_url + "/..."

The same uvicorn settings as `session-engine serve` (`adapters.app.uvicorn_config`). Leaving the
block shuts the server down gracefully (websockets close with 1000) and closes the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from session_engine.adapters.app import create_app, uvicorn_config
from session_engine.adapters.config import ServerConfig

START_TIMEOUT = 20.0


class ServerThread:
    def __init__(self, database_url: str, config: ServerConfig, **engine_options: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.app = create_app(database_url, config, **engine_options)
        settings = uvicorn_config(self.app, config, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(settings)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"server-{self.port}", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.socket]))
        except BaseException as error:  # noqa: BLE001 - reported by start()/stop()
            self.error = error

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.error!r}")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()
        if self.thread.is_alive():
            raise RuntimeError("server did not stop within 30 s")


@contextlib.contextmanager
def running_server(database_url: str, config: ServerConfig, **engine_options: Any) -> Iterator[str]:
    """Serve every adapter on a free loopback port; yields the base URL (http://127.0.0.1:PORT)."""
    server = ServerThread(database_url, config, **engine_options)
    base_url = server.start()
    try:
        yield base_url
    finally:
        server.stop()


def close_frame(ws: Any, timeout: float) -> tuple[int, str]:
    """Read a sync websocket client until the server closes it: the close code and reason it sent."""
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server dropped the connection without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
