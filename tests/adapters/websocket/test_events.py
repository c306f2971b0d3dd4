"""This project's packets: 100 subscribe, 101 unsubscribe, 102 read history, 150 pushed events."""

from __future__ import annotations

from tests.adapters.websocket.client import SERVER_EVENT_ID, Client
from tests.adapters.websocket.conftest import ACME_KEY


def initialized(url: str) -> Client:
    client = Client(url)
    assert client.initialize(ACME_KEY)["status"] == 1
    return client


def test_subscribe_pushes_the_sessions_new_events(ws_url: str) -> None:
    with initialized(ws_url) as client:
        answer = client.call(100, 2)
        assert answer["status"] == 1 and answer["subscription"] == 1 and isinstance(answer["head"], int)
        assert client.call(12, 3, key="k", value="v", ttl=0)["status"] == 1
        pushed = client.push()
        assert pushed["id"] == SERVER_EVENT_ID and pushed["type"] == 150 and pushed["subscription"] == 1
        event = pushed["event"]
        assert (
            event["type"] == "value_set"
            and event["data"]["key"] == "k"
            and event["position"] > answer["head"]
        )
        assert client.call(14, 4, key="k")["status"] == 1
        assert client.push()["event"]["type"] == "value_deleted"


def test_subscribe_from_version_catches_up_first(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(12, 2, key="a", value="1", ttl=0)["status"] == 1
        assert client.call(100, 3, from_version=1)["status"] == 1
        first, second = client.push(), client.push()
        assert first["event"]["version"] == 1 and first["event"]["type"] == "connection_session_opened"
        assert second["event"]["version"] == 2 and second["event"]["type"] == "value_set"
        assert client.call(12, 4, key="b", value="2", ttl=0)["status"] == 1
        assert client.push()["event"]["version"] == 3


def test_subscribe_with_types(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(100, 2, from_version=1, types=["value_deleted"])["status"] == 1
        assert client.call(12, 3, key="a", value="1", ttl=0)["status"] == 1
        assert client.call(14, 4, key="a")["status"] == 1
        assert client.push()["event"]["type"] == "value_deleted"
        assert client.pushed == []


def test_other_sessions_events_are_not_pushed(ws_url: str) -> None:
    with initialized(ws_url) as watcher, initialized(ws_url) as other:
        assert watcher.call(100, 2)["status"] == 1
        assert other.call(12, 2, key="k", value="v", ttl=0)["status"] == 1
        assert watcher.call(12, 3, key="mine", value="v", ttl=0)["status"] == 1
        assert watcher.push()["event"]["data"]["key"] == "mine"


def test_unsubscribe(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(100, 2)["subscription"] == 1
        assert client.call(101, 3, subscription=1) == {"id": 3, "status": 1}
        assert client.call(101, 4, subscription=1) == {"id": 4, "status": 800}
        assert client.call(12, 5, key="k", value="v", ttl=0)["status"] == 1
        assert client.call(13, 6, key="k")["status"] == 1
        assert client.pushed == []


def test_too_many_subscriptions(ws_url: str) -> None:
    with initialized(ws_url) as client:
        for n in range(4):
            assert client.call(100, n + 2)["subscription"] == n + 1
        assert client.call(100, 9) == {"id": 9, "status": 801}
        assert client.call(101, 10, subscription=2)["status"] == 1
        assert client.call(100, 11)["subscription"] == 5


def test_read_history(ws_url: str) -> None:
    with initialized(ws_url) as client:
        for n in range(3):
            assert client.call(12, n + 2, key=f"k{n}", value="v", ttl=0)["status"] == 1
        events = client.call(102, 10)["events"]
        assert [e["version"] for e in events] == [1, 2, 3, 4]
        assert [e["type"] for e in events] == ["connection_session_opened"] + ["value_set"] * 3
        page = client.call(102, 11, from_version=2, limit=2)
        assert page["status"] == 1 and [e["version"] for e in page["events"]] == [2, 3]


def test_catching_up_on_more_than_a_page_sends_every_event_in_order(ws_url: str) -> None:
    """The stored events are read a page ([limits].history_page_limit, 100 here) at a time: a
    subscription from version 1 of a 251-event session gets each exactly once, then live ones."""
    with initialized(ws_url) as client:
        for n in range(250):
            assert client.call(12, n + 2, key=f"k{n % 7}", value=str(n), ttl=0)["status"] == 1
        answer = client.call(100, 300, from_version=1)
        assert answer["status"] == 1
        versions = [client.push()["event"]["version"] for _ in range(251)]
        assert versions == list(range(1, 252))
        assert client.call(12, 301, key="after", value="v", ttl=0)["status"] == 1
        assert client.push()["event"]["version"] == 252
