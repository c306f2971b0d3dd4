"""A small synchronous websocket client for the tests (the `websockets` library's sync client)."""

from __future__ import annotations

from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

from tests.adapters.server import close_frame

SERVER_EVENT_ID = 2**64 - 1
TIMEOUT = 10.0


class Client:
    def __init__(self, url: str, *, resume_id: str | None = None) -> None:
        headers = {"Resume-Id": resume_id} if resume_id is not None else None
        connection = connect(url, additional_headers=headers, open_timeout=TIMEOUT, max_size=None)
        self.ws: ClientConnection = connection.__enter__()
        assert self.ws.response is not None
        self.resume_id: str | None = self.ws.response.headers.get("Resume-Id")
        self.pushed: list[dict[str, Any]] = []

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def send(self, packet: dict[str, Any] | str | bytes) -> None:
        self.ws.send(orjson.dumps(packet).decode() if isinstance(packet, dict) else packet)

    def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next response (server-pushed packets are collected in `pushed`)."""
        while True:
            message = orjson.loads(self.ws.recv(timeout=timeout))
            if message.get("id") == SERVER_EVENT_ID:
                self.pushed.append(message)
                continue
            return dict(message)

    def call(self, kind: int, packet_id: int = 1, **fields: Any) -> dict[str, Any]:
        self.send({"type": kind, "id": packet_id, **fields})
        return self.receive()

    def initialize(
        self, key: str | None, client_id: str = "desktop-main", packet_id: int = 1
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"client_id": client_id}
        if key is not None:
            fields["websocket_api_key"] = key
        return self.call(0, packet_id, **fields)

    def closed_with(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        """Read until the server closes; the close code and reason it sent."""
        return close_frame(self.ws, timeout)

    def push(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next server-pushed packet."""
        while not self.pushed:
            message = orjson.loads(self.ws.recv(timeout=timeout))
            assert message.get("id") == SERVER_EVENT_ID, f"expected a pushed event, got {message}"
            self.pushed.append(message)
        return self.pushed.pop(0)
