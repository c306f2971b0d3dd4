"""Scopes: one session id, disjoint objects per scope, each scope's session its own stream."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_engine.adapters.blobhub.events import blobhub_event
from session_engine.engine import Engine
from session_engine.engine.objects.errors import InvalidSessionObject, ObjectNotFound
from session_engine.engine.objects.graphs.errors import InvalidGraphEnvelope
from session_engine.engine.objects.scopes import SEPARATOR, owner_of, stream_for
from session_engine.engine.objects.threads.errors import InvalidThreadEnvelope

NS, S = "tenant", "sess_001"
ids = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), min_size=1, max_size=60)


@given(namespace=ids, scope=st.none() | ids, session=ids)
def test_a_scoped_stream_names_its_scope_and_session(namespace: str, scope: str | None, session: str) -> None:
    stream = stream_for(namespace, scope, session)
    assert owner_of(namespace, stream) == (namespace if scope is None else scope, session)
    if scope is None or scope == namespace:
        assert stream == session  # the namespace's own objects: the session's own stream
    else:
        assert SEPARATOR in stream  # never a plain session id: those hold no control characters


@given(namespace=ids, first=st.tuples(ids, ids), second=st.tuples(ids, ids))
def test_different_addresses_are_different_streams(
    namespace: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    if first != second and namespace not in (first[0], second[0]):
        assert stream_for(namespace, *first) != stream_for(namespace, *second)


def test_bad_scopes_are_refused() -> None:
    for scope in ("", "a\x01b", "x" * 201):
        with pytest.raises(InvalidSessionObject):
            stream_for(NS, scope, S)
    assert stream_for(NS, "r" * 100, "s" * 99) == f"{'r' * 100}{SEPARATOR}{'s' * 99}"
    with pytest.raises(InvalidSessionObject):
        stream_for(NS, "r" * 100, "s" * 100)  # together over the log's 200-character stream id


def message(text: str) -> dict[str, Any]:
    return {"type": "message", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}


THREAD = {"type": "thread", "thread": {"attributes": {"name": "t"}}}
GRAPH = {"type": "graph", "graph": {"attributes": {"name": "g"}}}


@pytest.mark.anyio
async def test_scopes_of_one_session_are_disjoint(engine: Engine) -> None:
    own, one, two = engine.objects, engine.objects.scoped("rev_001"), engine.objects.scoped("rev_002")
    assert engine.objects.scoped(NS).scope == NS  # the namespace's name: its own objects (below)
    for service, text in ((own, "own"), (one, "one"), (two, "two")):
        summary = await service.upload(NS, S, "greeting", message(text))
        assert (summary.scope, summary.session_id) == (service.scope or NS, S)
    await one.upload(NS, S, "notes", THREAD)
    item = await one.post_thread_item(NS, S, "notes", [{"type": "text", "text": "hi"}])
    assert (item.scope, item.session_id) == ("rev_001", S)
    assert await one.get_thread_item(NS, S, "notes", item.id) == item
    await one.upload(NS, S, "g", GRAPH)
    await one.apply_graph_mutations(NS, S, "g", [{"op": "add_vertex", "element_id": "v", "labels": ["x"]}])
    assert (await one.get_graph_element(NS, S, "g", "v")).labels == ["x"]
    with pytest.raises(InvalidGraphEnvelope):
        await two.get_graph_element(NS, S, "g", "v")
    for service, text in ((own, "own"), (one, "one"), (two, "two")):
        envelope = await service.download(NS, S, "greeting")
        assert envelope.value["message"]["content"][0]["text"] == text
        assert (envelope.scope, envelope.session_id) == (service.scope or NS, S)
    assert (await engine.objects.scoped(NS).download(NS, S, "greeting")).value == message("own")
    assert [o.alias for o in (await one.list_objects(NS, S)).objects] == ["g", "greeting", "notes"]
    assert [o.alias for o in (await two.list_objects(NS, S)).objects] == ["greeting"]
    with pytest.raises(InvalidThreadEnvelope):
        await two.get_thread_item(NS, S, "notes", item.id)
    await two.delete(NS, S, "greeting")
    with pytest.raises(ObjectNotFound) as missing:
        await two.download(NS, S, "greeting")
    assert repr(S) in str(missing.value) and SEPARATOR not in str(missing.value)
    assert (await one.download(NS, S, "greeting")).value == message("one")

    # The log: the scope's session is a stream of its own, read back whole by history and as-of.
    one_stream = stream_for(NS, "rev_001", S)
    events = await engine.read_stream(NS, one_stream)
    assert [e.type for e in events] == [
        "objects.object_uploaded",
        "objects.object_uploaded",
        "objects.thread_item_posted",
        "objects.object_uploaded",
        "objects.graph_mutated",
    ]
    assert [e.type for e in await engine.read_stream(NS, S)] == ["objects.object_uploaded"]
    documents = [blobhub_event(e) for e in events]
    assert all(d is not None and (d["revision_id"], d["session_id"]) == ("rev_001", S) for d in documents)
    state = await engine.state_as_of(NS, one_stream, version=1)
    assert state.version == 1 and list(state.objects) == ["greeting"]
    assert await engine.verify() == []  # rebuilt from the log, the same rows
