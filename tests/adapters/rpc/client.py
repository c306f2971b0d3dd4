"""Small synchronous clients for the tests (the `websockets` library's sync client)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect

from session_engine.adapters.rpc.bus.auth import sign
from tests.adapters.rpc.conftest import BUS_SECRET
from tests.adapters.server import close_frame

TIMEOUT = 10.0


class Frames:
    """A connection that reads JSON frames; `closed_with` reads until the server's close frame."""

    def __init__(self, url: str, **options: Any) -> None:
        connection = connect(url, open_timeout=TIMEOUT, max_size=None, **options)
        self.ws: ClientConnection = connection.__enter__()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def send(self, message: Any) -> None:
        self.ws.send(message if isinstance(message, str | bytes) else orjson.dumps(message).decode())

    def recv(self, timeout: float = TIMEOUT) -> Any:
        return orjson.loads(self.ws.recv(timeout=timeout))

    def closed_with(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        return close_frame(self.ws, timeout)


class BusClient(Frames):
    """A bus peer: `handshake()` authenticates and exchanges subscriptions; events are kept aside."""

    def __init__(self, url: str, *, secret: str = BUS_SECRET, handshake: bool = True) -> None:
        super().__init__(url)
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.server_subjects: dict[str, list[int]] | None = None
        self._ids = itertools.count(1)
        if handshake:
            self.handshake()

    def handshake(self, subjects: dict[str, list[int]] | None = None) -> None:
        challenge = self.recv()
        assert challenge["type"] == "auth-challenge" and challenge["nonce"], challenge
        self.send({"type": "auth-response", "signature": sign(self.secret, challenge["nonce"])})
        assert self.recv() == {"type": "auth-result", "success": True}
        announced = self.recv()
        assert announced["type"] == "subscribe", announced
        self.server_subjects = announced["subjects"]
        assert self.recv() == {"type": "subscribe-sync-complete"}
        self.send({"type": "subscribe", "subjects": subjects or {}})
        self.send({"type": "subscribe-sync-complete"})

    def next_message(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next non-event message (events go to `events`)."""
        while True:
            message = self.recv(timeout)
            if message.get("type") == "event":
                self.events.append(message)
                continue
            return dict(message)

    def request(
        self, subject: str, payload: Any = None, *, namespace: str = "storage:session", **extra: Any
    ) -> dict[str, Any]:
        """Send one request and return its whole response message."""
        correlation = f"c-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
        message: dict[str, Any] = {
            "type": "request",
            "namespace": namespace,
            "subject": subject,
            "correlationId": correlation,
            "messageId": uuid.uuid4().hex,
            **extra,
        }
        if payload is not None:
            message["payload"] = payload
        self.send(message)
        response = self.next_message()
        assert response["type"] == "response" and response["correlationId"] == correlation, response
        return response

    def call(self, subject: str, payload: Any = None, **extra: Any) -> Any:
        """The `result` of a request that must succeed."""
        response = self.request(subject, payload, **extra)
        assert "error" not in response, response
        return response["result"]

    def event(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        while not self.events:
            message = self.recv(timeout)
            assert message.get("type") == "event", f"expected an event, got {message}"
            self.events.append(message)
        return self.events.pop(0)


class RpcClient(Frames):
    """JSON-RPC 2.0 over the websocket; notifications are kept aside in `notifications`."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.notifications: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def answer(self, timeout: float = TIMEOUT) -> Any:
        while True:
            message = self.recv(timeout)
            if isinstance(message, dict) and "id" not in message and message.get("method"):
                self.notifications.append(message)
                continue
            return message

    def raw(self, message: Any) -> Any:
        self.send(message)
        return self.answer()

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        answer = self.raw(message)
        assert answer["id"] == message["id"], answer
        return dict(answer)

    def call(self, method: str, **params: Any) -> Any:
        answer = self.request(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    def notification(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        while not self.notifications:
            message = self.recv(timeout)
            assert "id" not in message, f"expected a notification, got {message}"
            self.notifications.append(message)
        return self.notifications.pop(0)
