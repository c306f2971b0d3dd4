"""The websocket protocol's flow control: reading pauses only while two messages wait unread.

Driven in-process on the protocol class `serve` uses (`adapters.websocket.transport`), with a
transport that records pause and resume, and frames a real `websockets` client encodes."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from session_engine.adapters.config import Limits
from session_engine.adapters.websocket.transport import websocket_protocol


class RecordingTransport(asyncio.Transport):
    """Keeps what is written; remembers whether reading is paused and how often it was."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.pauses = 0
        self.written: list[bytes] = []

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


async def accepting_app(scope: Any, receive: Any, send: Any) -> None:
    """Accepts the upgrade, then reads nothing: the test takes the messages itself."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()


async def opened() -> tuple[Any, RecordingTransport, ClientProtocol]:
    """A protocol past its handshake, its transport, and the client that encodes frames for it."""
    config = uvicorn.Config(accepting_app, ws_ping_interval=None, log_config=None, lifespan="off")
    config.load()
    protocol = websocket_protocol(Limits())(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws"))
    client.send_request(client.connect())
    protocol.data_received(b"".join(client.data_to_send()))
    for _ in range(10):  # the app task accepts
        await asyncio.sleep(0)
    assert protocol.handshake_complete
    client.receive_data(b"".join(transport.written))  # the 101 response: the client is open
    assert protocol.queue.empty()  # the app took websocket.connect
    return protocol, transport, client


def frame(client: ClientProtocol, text: str) -> bytes:
    client.send_text(text.encode())
    return b"".join(client.data_to_send())


def test_a_client_that_waits_for_each_answer_never_pauses_reading() -> None:
    async def run() -> None:
        protocol, transport, client = await opened()
        for number in range(5):
            protocol.data_received(frame(client, f"packet {number}"))
            assert transport.reading
            assert (await protocol.receive())["text"] == f"packet {number}"
        assert transport.pauses == 0

    asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=30))
def test_reading_pauses_only_while_two_messages_wait(steps: list[bool]) -> None:
    """True: a frame arrives; False: the app takes a message (when one waits). Reading is paused
    exactly when a second unread message was queued since the app last emptied the queue."""

    async def run() -> None:
        protocol, transport, client = await opened()
        sent = taken = 0
        for arrives in steps:
            if arrives:
                protocol.data_received(frame(client, str(sent)))
                sent += 1
            elif sent > taken:
                assert (await protocol.receive())["text"] == str(taken)
                taken += 1
            waiting = sent - taken
            assert waiting == protocol.queue.qsize()
            if waiting == 0 or transport.pauses == 0:
                assert transport.reading
            if waiting >= 2:
                assert not transport.reading
            assert transport.pauses <= max(0, sent - 1)

    asyncio.run(run())
