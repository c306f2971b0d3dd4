"""Session-object packets (110-135): every command's success path on the connection's own session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY, ServerFactory
from tests.adapters.websocket.objects_client import (
    APPEND,
    DELETE,
    DOWNLOAD,
    ELEMENT,
    ELEMENTS,
    GET_ITEM,
    GRAPH_VALUE,
    LIST,
    LIST_ELEMENTS,
    LIST_ITEMS,
    MESSAGE,
    MESSAGE_VALUE,
    MESSAGES_VALUE,
    MUTATE,
    NEIGHBORS,
    OBJECT_PACKETS,
    PEOPLE,
    POST_ITEM,
    QUERY,
    THREAD_VALUE,
    UPLOAD,
    Objects,
    text,
)
from tests.adapters.websocket.rest import eventually, http_base, session_events


@pytest.fixture
def client(objects_ws_url: str) -> Iterator[Objects]:
    with Objects(objects_ws_url, client_id=f"objects-{uuid.uuid4().hex[:8]}") as connected:
        yield connected


def test_message_and_messages_envelopes(client: Objects) -> None:
    assert client.ok(UPLOAD, alias="greeting", value=MESSAGE_VALUE) == {"id": 2, "status": 1}
    envelope = client.ok(DOWNLOAD, alias="greeting")
    assert set(envelope) == {"id", "status", "revision_id", "session_id", "alias", "updated_at", "value"}
    assert envelope["revision_id"] == "acme" and envelope["session_id"].startswith("ws-")
    assert envelope["alias"] == "greeting" and envelope["value"] == MESSAGE_VALUE
    assert envelope["updated_at"].endswith("+00:00")
    client.ok(UPLOAD, alias="log", value=MESSAGES_VALUE)
    appended = client.ok(APPEND, alias="log", messages=[MESSAGE, MESSAGE])
    assert appended["count"] == 2 and appended["first_ordinal"] == 1
    assert len(client.ok(DOWNLOAD, alias="log")["value"]["messages"]) == 3
    client.ok(UPLOAD, alias="greeting", value={"type": "message", "message": {**MESSAGE, "role": "system"}})
    assert client.ok(DOWNLOAD, alias="greeting")["value"]["message"]["role"] == "system"  # replaced


def test_list_and_delete(client: Objects) -> None:
    for alias, value in (("a", MESSAGE_VALUE), ("b", THREAD_VALUE), ("c", GRAPH_VALUE)):
        client.ok(UPLOAD, alias=alias, value=value)
    listing = client.ok(LIST)
    assert [(o["alias"], o["type"]) for o in listing["objects"]] == [
        ("a", "message"),
        ("b", "thread"),
        ("c", "graph"),
    ]
    page = client.ok(LIST, limit=2)
    assert [o["alias"] for o in page["objects"]] == ["a", "b"]
    assert [o["alias"] for o in client.ok(LIST, cursor=page["cursor"])["objects"]] == ["c"]
    for alias in ("a", "b", "c"):
        assert set(client.ok(DELETE, alias=alias)) == {"id", "status"}
    assert client.ok(LIST)["objects"] == []


def test_thread_post_and_page(client: Objects) -> None:
    client.ok(UPLOAD, alias="t", value=THREAD_VALUE)
    posted = [
        client.ok(POST_ITEM, alias="t", content=text(f"#{n}"), metadata={"type": "text"})["item"]
        for n in range(5)
    ]
    reply = client.ok(POST_ITEM, alias="t", content=text("re"), parent_id=posted[0]["id"])["item"]
    assert reply["parent_id"] == posted[0]["id"] and "metadata" not in reply
    first = posted[0]
    assert first["user_id"] == client.client_id and first["metadata"] == {"type": "text"}
    assert first["alias"] == "t" and first["content"] == text("#0") and first["revision_id"] == "acme"
    everything = [*posted, reply]
    newest = client.ok(LIST_ITEMS, alias="t")["items"]
    assert [i["id"] for i in newest] == [i["id"] for i in reversed(everything)]
    seen: list[str] = []
    cursor = None
    while True:
        page = client.ok(LIST_ITEMS, alias="t", ascending=True, limit=4, cursor=cursor)
        seen += [item["id"] for item in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == [i["id"] for i in everything]  # by position: nothing skipped, nothing repeated
    since = client.ok(LIST_ITEMS, alias="t", ascending=True, created_since=posted[2]["created_at"])["items"]
    assert {i["id"] for i in since} <= {i["id"] for i in everything[3:]}
    assert client.ok(GET_ITEM, alias="t", item_id=posted[1]["id"])["item"] == posted[1]
    client.ok(UPLOAD, alias="t", value=THREAD_VALUE)  # thread over thread keeps its items
    assert len(client.ok(LIST_ITEMS, alias="t")["items"]) == 6


def test_graph_mutate_read_and_traverse(client: Objects) -> None:
    client.ok(UPLOAD, alias="g", value=GRAPH_VALUE)
    changed = client.ok(MUTATE, alias="g", operations=PEOPLE)["elements"]
    assert [(e["element_id"], e["change"], e["rev"]) for e in changed] == [
        ("ann", "created", 1),
        ("bob", "created", 1),
        ("e1", "created", 1),
    ]
    updated = client.ok(
        MUTATE,
        alias="g",
        operations=[{"op": "set_vertex_props", "element_id": "ann", "props": {"x": 1}, "if_rev": 1}],
    )
    assert updated["elements"] == [{"element_id": "ann", "type": "vertex", "change": "updated", "rev": 2}]
    ann = client.ok(ELEMENT, alias="g", element_id="ann")["element"]
    assert ann["labels"] == ["person"] and ann["props"] == {"age": 31, "name": "Ann", "x": 1}
    assert ann["user_id"] == client.client_id and ann["rev"] == 2
    many = client.ok(ELEMENTS, alias="g", element_ids=["e1", "zed", "ann"])["elements"]
    assert [e["element_id"] for e in many] == ["e1", "ann"]
    vertices = client.ok(LIST_ELEMENTS, alias="g", element_type="vertex", ids_only=True)
    assert {e["element_id"] for e in vertices["element_ids"]} == {"ann", "bob"}
    edges = client.ok(LIST_ELEMENTS, alias="g", element_type="edge", ascending=True)["elements"]
    assert [e["element_id"] for e in edges] == ["e1"]
    assert len(client.ok(LIST_ELEMENTS, alias="g")["elements"]) == 3
    near = client.ok(NEIGHBORS, alias="g", direction="in", **{"from": ["bob"]})
    assert [e["element_id"] for e in near["edges"]] == ["e1"]
    assert [v["element_id"] for v in near["vertices"]] == ["ann"]
    query = {"start": ["V", "ann"], "steps": [["out", "knows"], ["values", "name"]]}
    assert client.ok(QUERY, alias="g", query=query)["results"] == ["Bob"]
    count = {"start": ["V"], "steps": [["has", "age", "gt", 20], ["count"]]}
    assert client.ok(QUERY, alias="g", query=count)["count"] == 2
    client.ok(MUTATE, alias="g", operations=[{"op": "delete_vertex", "element_id": "bob"}])
    assert [e["element_id"] for e in client.ok(LIST_ELEMENTS, alias="g")["elements"]] == ["ann"]
    client.ok(DELETE, alias="g")
    assert client.ok(LIST)["objects"] == []


def test_writes_are_events_in_the_sessions_history(objects_ws_url: str, client: Objects) -> None:
    client.ok(UPLOAD, alias="m", value=MESSAGES_VALUE)
    client.ok(APPEND, alias="m", messages=[MESSAGE])
    client.ok(UPLOAD, alias="t", value=THREAD_VALUE)
    client.ok(POST_ITEM, alias="t", content=text("hi"))
    client.ok(UPLOAD, alias="g", value=GRAPH_VALUE)
    client.ok(MUTATE, alias="g", operations=PEOPLE)
    last = client.ok(DELETE, alias="m")
    client.ok(DOWNLOAD, alias="t")  # reads append nothing
    events = client.ok(102, from_version=1)["events"]
    assert [e["type"] for e in events] == [
        "connection_session_opened",
        "objects.object_uploaded",
        "objects.messages_appended",
        "objects.object_uploaded",
        "objects.thread_item_posted",
        "objects.object_uploaded",
        "objects.graph_mutated",
        "objects.object_deleted",
    ]
    assert [e["version"] for e in events] == list(range(1, 9))
    # the metadata the value packets record: actor = client id, adapter, correlation id = packet id
    session_id = client.ok(DOWNLOAD, alias="t")["session_id"]
    audited = session_events(objects_ws_url, session_id)
    assert [e["type"] for e in audited] == [e["type"] for e in events]
    assert audited[-1]["metadata"] == {
        "actor": client.client_id,
        "adapter": "websocket",
        "correlation_id": str(last["id"]),
    }
    assert all(e["metadata"]["adapter"] == "websocket" for e in audited)


def test_subscriptions_push_object_events(client: Objects) -> None:
    subscribed = client.ok(100, types=["objects.object_uploaded", "objects.thread_item_posted"])
    client.ok(UPLOAD, alias="t", value=THREAD_VALUE)
    client.ok(POST_ITEM, alias="t", content=text("hi"))
    uploaded, posted = client.push(), client.push()
    assert uploaded["subscription"] == subscribed["subscription"]
    assert (
        uploaded["event"]["type"] == "objects.object_uploaded" and uploaded["event"]["data"]["alias"] == "t"
    )
    assert posted["event"]["type"] == "objects.thread_item_posted"


def test_another_connection_sees_none_of_its_objects(objects_ws_url: str) -> None:
    with (
        Objects(objects_ws_url) as first,
        Objects(objects_ws_url) as second,
        Objects(objects_ws_url, key=GLOBEX_KEY) as other_tenant,
    ):
        first.ok(UPLOAD, alias="secret", value=THREAD_VALUE)
        item = first.ok(POST_ITEM, alias="secret", content=text("mine"))["item"]
        first_session = item["session_id"]
        for peer in (second, other_tenant):
            assert peer.ok(LIST)["objects"] == []
            peer.refused(DOWNLOAD, 900, "not_found", alias="secret")
            # naming the other session in the packet changes nothing: it is ignored (and the
            # revision named like the tenant's namespace is the tenant's own, the default)
            peer.refused(
                DOWNLOAD, 900, "not_found", alias="secret", session_id=first_session, revision_id="acme"
            )
            peer.refused(GET_ITEM, 910, "invalid_thread_envelope", alias="secret", item_id=item["id"])
            peer.ok(UPLOAD, alias="secret", value=GRAPH_VALUE)  # its own object under the same alias
        assert first.ok(DOWNLOAD, alias="secret")["value"] == THREAD_VALUE
        assert second.ok(DOWNLOAD, alias="secret")["session_id"] != first_session
        assert [e["type"] for e in second.ok(102)["events"]] == [
            "connection_session_opened",
            "objects.object_uploaded",
        ]


def test_object_packets_count_against_the_rate_limit(start_server: ServerFactory) -> None:
    url = start_server(rate_limit_actions=4)
    with Objects(url) as client:
        client.ok(UPLOAD, alias="a", value=MESSAGE_VALUE)
        client.ok(DOWNLOAD, alias="a")
        client.refused(DOWNLOAD, 900, "not_found", alias="b")
        client.send({"type": LIST, "id": 99})
        assert client.closed_with() == (4201, "rate limit hit")


@pytest.mark.parametrize("kind", OBJECT_PACKETS)
def test_object_packets_before_initialize_close_4200(ws_url: str, kind: int) -> None:
    with Client(ws_url) as client:
        client.send({"type": kind, "id": 1, "alias": "a", "value": MESSAGE_VALUE})
        assert client.closed_with() == (4200, "connection is not initialized")


@pytest.mark.parametrize("kind", [103, 109, 115, 119, 123, 129, 136, 149])
def test_unassigned_types_between_the_object_packets_close_4301(ws_url: str, kind: int) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        client.send({"type": kind, "id": 2, "alias": "a"})
        assert client.closed_with() == (4301, "invalid handler type specified")


def test_objects_come_back_with_a_resumed_connection(objects_ws_url: str) -> None:
    with Objects(objects_ws_url) as client:
        client.ok(UPLOAD, alias="t", value=THREAD_VALUE)
        resume_id = client.resume_id
    with Client(objects_ws_url, resume_id=resume_id) as resumed:
        answer = resumed.call(DOWNLOAD, 7, alias="t")
        assert answer["status"] == 1 and answer["value"] == THREAD_VALUE


def test_objects_outlive_the_connections_session(objects_ws_url: str) -> None:
    """The session's end clears its values, not its objects: REST still reads them by session id."""
    with Objects(objects_ws_url) as client:
        client.ok(UPLOAD, alias="t", value=THREAD_VALUE)
        session_id = client.ok(DOWNLOAD, alias="t")["session_id"]
        client.send({"type": DOWNLOAD, "id": 9})  # no alias: 4302, a server close ends the session
        assert client.closed_with()[0] == 4302

    def ended() -> list[str] | None:
        types = [e["type"] for e in session_events(objects_ws_url, session_id)]
        return types if "connection_session_ended" in types else None

    assert "objects.object_uploaded" in eventually(ended)
    body = {"command": "download_session_object", "session_id": session_id, "alias": "t"}
    response = httpx.post(
        f"{http_base(objects_ws_url)}/revisions/acme/data",
        json=body,
        headers={"Authorization": f"Bearer {ACME_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["value"] == THREAD_VALUE
