"""Clients that speak the protocols to any target, writing every frame and request to a transcript.

The transcript is the replayable script the runner prints on a disagreement: one line per frame or
request sent (`>`), one per answer (`<`), tagged with the connection it travelled on. A target that
cannot be reached raises `Unreachable` (a usage error, exit 2); an answer that is not there in time,
or is not the protocol's JSON, is a `Disagreement` (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

TIMEOUT = 10.0
SERVER_EVENT_ID = 2**64 - 1
"""Websocket packets the server pushes carry this id."""


class Unreachable(Exception):
    """The target could not be reached or refused the connection: nothing was tested."""


class Disagreement(AssertionError):
    """The target answered otherwise than the model: what was checked, expected and actual."""

    def __init__(self, what: str, expected: Any, actual: Any) -> None:
        super().__init__(f"{what}: expected {expected!r}, got {actual!r}")
        self.what, self.expected, self.actual = what, expected, actual


def check(what: str, expected: Any, actual: Any) -> None:
    if expected != actual:
        raise Disagreement(what, expected, actual)


@dataclass
class Transcript:
    lines: list[str] = field(default_factory=list)
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def channel(self, kind: str) -> str:
        return f"{kind}{next(self._names)}"

    def add(self, channel: str, arrow: str, text: str) -> None:
        self.lines.append(f"{channel} {arrow} {text}")


@dataclass(frozen=True)
class Target:
    """Where the server is (its base URL, http://host:port) and the credentials it was given."""

    url: str
    api_key: str | None = None
    bus_secret: str | None = None

    def endpoint(self, path: str, scheme: str = "ws") -> str:
        parts = urlsplit(self.url)
        secure = parts.scheme in ("https", "wss")
        scheme = (scheme + "s" if secure else scheme) if scheme in ("ws", "http") else scheme
        return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"


def _text(message: Any) -> str:
    return message if isinstance(message, str) else orjson.dumps(message).decode()


class Frames:
    """One websocket connection whose every frame goes to the transcript."""

    kind = "ws"

    def __init__(self, url: str, log: Transcript, headers: dict[str, str] | None = None) -> None:
        self.log = log
        self.name = log.channel(self.kind)
        log.add(self.name, "CONNECT", url + "".join(f" {k}: {v}" for k, v in (headers or {}).items()))
        try:
            connection = connect(url, additional_headers=headers, open_timeout=TIMEOUT, max_size=None)
            # Entered by hand: the connection outlives this call (closed by `close`).
            self.ws: ClientConnection = connection.__enter__()
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise Unreachable(f"cannot open {url}: {error}") from None
        response = self.ws.response
        self.headers = dict(response.headers) if response is not None else {}

    def send(self, message: Any) -> None:
        text = message if isinstance(message, bytes) else _text(message)
        self.log.add(self.name, ">", repr(text) if isinstance(text, bytes) else text)
        try:
            self.ws.send(text)
        except ConnectionClosed as closed:
            raise Disagreement("the server closed the connection", "open", _closed(closed)) from None

    def recv(self, timeout: float = TIMEOUT) -> Any:
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            raise Disagreement(f"an answer within {timeout:g} s", "an answer", "nothing") from None
        except ConnectionClosed as closed:
            raise Disagreement("the server closed the connection", "an answer", _closed(closed)) from None
        self.log.add(self.name, "<", raw if isinstance(raw, str) else repr(raw))
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Disagreement("a JSON frame", "JSON", raw) from None

    def closed_with(self, timeout: float = TIMEOUT) -> int | None:
        """Read until the server closes: the close code it sent (None: no close frame)."""
        try:
            while True:
                raw = self.ws.recv(timeout=timeout)
                self.log.add(self.name, "<", raw if isinstance(raw, str) else repr(raw))
        except TimeoutError:
            what = f"a close within {timeout:g} s"
            raise Disagreement(what, "a close frame", "the connection open") from None
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            self.log.add(self.name, "CLOSED", str(code))
            return code

    def close(self) -> None:
        self.ws.close()


def _closed(closed: ConnectionClosed) -> str:
    return f"close {closed.rcvd.code}" if closed.rcvd is not None else "dropped"


class CacheClient(Frames):
    """The BlazeAuth-style value cache at /ws."""

    def __init__(self, target: Target, log: Transcript, resume_id: str | None = None) -> None:
        super().__init__(target.endpoint("/ws"), log, {"Resume-Id": resume_id} if resume_id else None)
        self.resume_id: str | None = self.headers.get("resume-id") or self.headers.get("Resume-Id")
        self._ids = itertools.count(2)

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        packet_id = next(self._ids)
        self.send({"type": kind, "id": packet_id, **fields})
        while True:
            answer = self.recv()
            if isinstance(answer, dict) and answer.get("id") == SERVER_EVENT_ID:
                continue
            check("the answer's id", packet_id, answer.get("id") if isinstance(answer, dict) else answer)
            return dict(answer)


def sign(secret: str, nonce: str) -> str:
    """The bus handshake's answer to a challenge: HMAC-SHA256 of the nonce, hex."""
    return hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()


class BusClient(Frames):
    """A Makaio bus peer at /bus: authenticated, subscribed, events kept aside in `events`."""

    kind = "bus"

    def __init__(self, target: Target, log: Transcript, subjects: dict[str, list[int]] | None = None) -> None:
        if target.bus_secret is None:
            raise Unreachable("the bus needs --bus-secret")
        super().__init__(target.endpoint("/bus"), log)
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        challenge = self.recv()
        check("the bus challenge", "auth-challenge", challenge.get("type"))
        self.send({"type": "auth-response", "signature": sign(target.bus_secret, challenge["nonce"])})
        result = self.recv()
        if result != {"type": "auth-result", "success": True}:
            raise Unreachable(f"the bus refused the secret: {result}")
        check("the server's subscriptions", "subscribe", self.recv().get("type"))
        check("the end of the server's subscriptions", {"type": "subscribe-sync-complete"}, self.recv())
        self.send({"type": "subscribe", "subjects": subjects or {}})
        self.send({"type": "subscribe-sync-complete"})

    def request(self, subject: str, payload: Any) -> dict[str, Any]:
        correlation = f"c-{next(self._ids)}"
        message = {
            "type": "request",
            "namespace": "storage:session",
            "subject": subject,
            "correlationId": correlation,
            "messageId": uuid.uuid4().hex,
            "payload": payload,
        }
        self.send(message)
        while True:
            answer = self.recv()
            if answer.get("type") == "event":
                self.events.append(answer)
                continue
            check("the response's correlationId", correlation, answer.get("correlationId"))
            return dict(answer)

    def event(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        while not self.events:
            message = self.recv(timeout)
            check("the next message's type", "event", message.get("type"))
            self.events.append(message)
        return self.events.pop(0)


class HttpClient:
    """HTTP requests to the target; every request and answer goes to the transcript."""

    def __init__(self, target: Target, log: Transcript) -> None:
        self.log = log
        self.name = log.channel("http")
        headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
        self.client = httpx.Client(base_url=target.endpoint("", "http"), headers=headers, timeout=TIMEOUT)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        content = None if body is None else orjson.dumps(body)
        self.log.add(self.name, ">", f"{method} {path}" + ("" if content is None else f" {content.decode()}"))
        try:
            response = self.client.request(method, path, content=content)
        except httpx.TimeoutException:
            raise Disagreement(f"an answer within {TIMEOUT:g} s", "an answer", "nothing") from None
        except httpx.HTTPError as error:
            raise Unreachable(f"{method} {path}: {error}") from None
        self.log.add(self.name, "<", f"{response.status_code} {response.text}".rstrip())
        try:
            document = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            raise Disagreement(f"{method} {path}: a JSON answer", "JSON", response.text) from None
        return response.status_code, document

    def tidy(self, method: str, path: str) -> None:
        """A request outside the comparison (cleaning up after an example): not in the transcript,
        its answer and any failure ignored."""
        with contextlib.suppress(httpx.HTTPError):
            self.client.request(method, path)

    def close(self) -> None:
        self.client.close()
