"""The per-session rate limit: JSON packets and websocket ping frames both count."""

from __future__ import annotations

import time

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, ServerFactory

RATE = (4201, "rate limit hit")


def test_packets_over_the_limit_close_4201(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=5)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        for n in range(4):
            assert client.call(13, n + 2, key="k")["status"] == 700
        client.send({"type": 13, "id": 9, "key": "k"})
        assert client.closed_with() == RATE


def test_bad_frames_count_too(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=2)
    with Client(url) as client:
        assert client.initialize("X" * 21)["status"] == 2
        assert client.initialize("X" * 21, packet_id=2)["status"] == 2
        client.send(b"binary")  # the third action: the limit closes first
        assert client.closed_with() == RATE


def test_ping_frames_count(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=5)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        for _ in range(4):
            assert client.ws.ping().wait(timeout=5)  # answered with a pong while under the limit
        client.ws.ping()
        assert client.closed_with() == RATE


def test_the_window_slides(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=3, rate_limit_window_seconds=0.5)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        for round_ in range(3):
            assert client.call(13, 2 + round_, key="k")["status"] == 700
            assert client.call(13, 10 + round_, key="k")["status"] == 700
            time.sleep(0.55)
        assert client.call(13, 20, key="k")["status"] == 700


def test_resuming_does_not_reset_the_limit(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=4, resume_window_seconds=30)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(13, 2, key="k")["status"] == 700
        resume_id = client.resume_id
    with Client(url, resume_id=resume_id) as client:
        assert client.call(13, 3, key="k")["status"] == 700
        assert client.call(13, 4, key="k")["status"] == 700
        client.send({"type": 13, "id": 5, "key": "k"})
        assert client.closed_with() == RATE
