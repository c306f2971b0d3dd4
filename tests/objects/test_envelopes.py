"""Envelopes: upload/download/list/delete, typed validation, cascades, append, BlobHub events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from session_engine.adapters.blobhub.events import blobhub_event
from session_engine.engine import Engine, ManualClock
from session_engine.engine.objects.answers import StoredObject
from session_engine.engine.objects.envelopes.errors import (
    InvalidMessagesEnvelope,
    SessionObjectTooLarge,
    UnknownObjectType,
)
from session_engine.engine.objects.errors import InvalidSessionObject, ObjectNotFound
from session_engine.engine.objects.limits import MAX_VALUE_BYTES
from session_engine.engine.objects.threads.errors import InvalidThreadEnvelope

pytestmark = pytest.mark.anyio
NS, S = "rev_001", "sess_001"


def message(role: str, text: str) -> dict[str, Any]:
    return {
        "role": role,
        "content": [{"type": "text", "text": text}],
        "attributes": {"id": f"m-{text[:8]}", "created_at": 1780000000000, "syntax_mode": "text"},
        "providers": [
            {
                "interface": "genai.chat",
                "ports": [{"route": "temperature", "value": {"type": "integer", "integer": 1}}],
            }
        ],
    }


async def test_upload_download_list_delete(engine: Engine, clock: ManualClock) -> None:
    objects = engine.objects
    value = {"type": "message", "message": message("user", "hello there")}
    summary = await objects.upload(NS, S, "greeting", value)
    assert summary.type == "message"
    envelope = await objects.download(NS, S, "greeting")
    assert envelope == StoredObject(
        scope=NS,
        session_id=S,
        alias="greeting",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        value=value,
    )
    clock.advance(5)
    await objects.upload(
        NS, S, "conv", {"type": "messages", "messages": [message("user", "a"), message("assistant", "b")]}
    )
    await objects.upload(
        NS, S, "t", {"type": "thread", "thread": {"attributes": {"name": "n"}, "metadata": {}}}
    )
    listing = await objects.list_objects(NS, S)
    assert [(o.alias, o.type) for o in listing.objects] == [
        ("conv", "messages"),
        ("greeting", "message"),
        ("t", "thread"),
    ]
    assert listing.objects[0].updated_at == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    await objects.delete(NS, S, "greeting")
    with pytest.raises(ObjectNotFound):
        await objects.download(NS, S, "greeting")
    with pytest.raises(ObjectNotFound):
        await objects.delete(NS, S, "greeting")
    assert await engine.verify() == []


async def test_bad_values_are_refused_and_change_nothing(engine: Engine) -> None:
    objects = engine.objects
    head = await engine.head()
    with pytest.raises(UnknownObjectType) as unknown:
        await objects.upload(NS, S, "x", {"type": "spreadsheet"})
    assert unknown.value.code == "unknown_object_type"
    bad = [
        {"type": "message", "message": {"role": "robot", "content": []}},
        {"type": "message", "message": {"role": "user", "content": [{"type": "text"}]}},
        {"type": "messages", "messages": "nope"},
        {"type": "thread"},
        {"type": "graph", "graph": {"attributes": {}, "extra": 1}},
        {"nope": 1},
        {"type": "message", "message": {"role": "user", "content": [{"type": "text", "text": "a\x00b"}]}},
        {"type": "thread", "thread": {"metadata": {"lone": "\ud800"}}},  # not encodable as UTF-8
    ]
    for value in bad:
        with pytest.raises(InvalidSessionObject):
            await objects.upload(NS, S, "x", value)
    with pytest.raises(SessionObjectTooLarge):
        await objects.upload(
            NS, S, "x", {"type": "thread", "thread": {"metadata": {"a": "x" * MAX_VALUE_BYTES}}}
        )
    with pytest.raises(InvalidSessionObject):
        await objects.upload(NS, S, "", {"type": "thread", "thread": {}})
    assert await engine.head() == head


async def test_messages_append_and_replace(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(NS, S, "conv", {"type": "messages", "messages": [message("user", "first question")]})
    appended = await objects.append_messages(
        NS, S, "conv", [message("assistant", "answer"), message("user", "more")]
    )
    assert (appended.first_ordinal, appended.count) == (1, 2)
    value = (await objects.download(NS, S, "conv")).value
    assert [m["content"][0]["text"] for m in value["messages"]] == ["first question", "answer", "more"]
    with pytest.raises(InvalidMessagesEnvelope):
        await objects.append_messages(NS, S, "missing", [message("user", "x")])
    await objects.upload(NS, S, "conv", {"type": "messages", "messages": [message("system", "reset")]})
    value = (await objects.download(NS, S, "conv")).value
    assert [m["role"] for m in value["messages"]] == ["system"]
    assert await engine.verify() == []


async def test_delete_cascades_and_replace_keeps_same_type_children(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "hello"}])
    await objects.upload(NS, S, "t", {"type": "thread", "thread": {"attributes": {"name": "renamed"}}})
    assert len((await objects.list_thread_items(NS, S, "t")).items) == 1
    await objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    await objects.apply_graph_mutations(
        NS, S, "g", [{"op": "add_vertex", "labels": ["a"], "element_id": "v1"}]
    )
    await objects.delete(NS, S, "t")
    with pytest.raises(InvalidThreadEnvelope):
        await objects.list_thread_items(NS, S, "t")
    await objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    assert (await objects.list_thread_items(NS, S, "t")).items == []
    # replacing a graph with another type drops its elements
    await objects.upload(NS, S, "g", {"type": "message", "message": message("user", "now a message")})
    assert (await objects.message_stats(NS, [S, "other"])) == {S: (1, "now a message"), "other": (0, None)}
    await objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    assert (await objects.list_graph_elements(NS, S, "g")).elements == []
    assert (await objects.message_stats(NS, [S]))[S] == (0, None)
    assert await engine.verify() == []


async def test_blobhub_events(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    item = await objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "x"}], user_id="u1")
    await objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    await objects.apply_graph_mutations(
        NS, S, "g", [{"op": "add_vertex", "labels": ["p"], "element_id": "v"}]
    )
    await objects.delete(NS, S, "t")
    events = [blobhub_event(e) for e in await engine.read_all()]
    translated = [e for e in events if e is not None]
    assert [e["type"] for e in translated] == [
        "session_object_modified",
        "session_thread_item_posted",
        "session_object_modified",
        "session_graph_changed",
        "session_object_deleted",
    ]
    first = translated[0]
    assert first == {
        "id": first["id"],
        "revision_id": NS,
        "session_id": S,
        "created_at": 1767225600000,
        "type": "session_object_modified",
        "session_object": {"alias": "t"},
    }
    assert translated[1]["alias"] == "t" and translated[1]["item_id"] == item.id
    assert translated[3]["changes"] == [{"element_id": "v", "type": "vertex", "change": "created", "rev": 1}]
    assert [e["id"] for e in translated] == sorted(e["id"] for e in translated)


async def test_state_as_of_an_earlier_version(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "one"}])
    await objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "two"}])
    await objects.delete(NS, S, "t")
    state = await engine.state_as_of(NS, S, version=2)
    items = state.objects["t"].items.values()
    assert [i["content"][0]["text"] for i in items] == ["one"]
    assert (await engine.state_as_of(NS, S, version=4)).objects == {}
