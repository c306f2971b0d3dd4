"""Session listing (Distri's GET /v1/sessions) and user parts."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.engine import Engine, ManualClock, Metadata, ValidationFailed

pytestmark = pytest.mark.anyio
NS = "tenant"


async def test_listing_is_newest_change_first_and_paged(engine: Engine, clock: ManualClock) -> None:
    for sid in ("s1", "s2", "s3"):
        await engine.values.set(NS, sid, "a", 1)
        clock.advance(1)
    await engine.values.set(NS, "s1", "b", 2)  # s1 is now the newest
    await engine.values.set("other-tenant", "s9", "a", 1)
    listed = await engine.values.list_sessions(NS)
    assert [s.session_id for s in listed] == ["s1", "s3", "s2"]
    assert (listed[0].key_count, listed[0].keys, listed[0].updated_at) == (2, ["a", "b"], clock.now())
    pages = [await engine.values.list_sessions(NS, limit=1, offset=i) for i in range(4)]
    assert [[s.session_id for s in page] for page in pages] == [["s1"], ["s3"], ["s2"], []]
    only = await engine.values.list_sessions(NS, session_id="s2")
    assert [(s.session_id, s.keys) for s in only] == [("s2", ["a"])]


async def test_listing_leaves_out_sessions_without_live_values(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, "expiring", "a", 1, ttl_seconds=5)
    await engine.values.set(NS, "expiring", "b", 1, ttl_seconds=50)
    await engine.values.set(NS, "cleared", "a", 1)
    await engine.values.clear(NS, "cleared")
    await engine.values.open_connection_session(NS, "conn", client_id="cli1")  # no values yet
    listed = await engine.values.list_sessions(NS)
    assert [(s.session_id, s.keys) for s in listed] == [("expiring", ["a", "b"])]
    clock.advance(5)
    assert [s.keys for s in await engine.values.list_sessions(NS)] == [["b"]]  # expired keys not counted
    clock.advance(45)
    assert await engine.values.list_sessions(NS) == []


@pytest.mark.parametrize("paging", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": True}])
async def test_listing_refuses_bad_paging(engine: Engine, paging: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        await engine.values.list_sessions(NS, **paging)


async def test_parts_have_distri_shapes_and_creation_order(engine: Engine) -> None:
    await engine.values.set_text_part(NS, "t", "zeta", "first")
    await engine.values.set_image_part(
        NS, "t", "alpha", bytes_b64="aGk=", mime_type="image/png", filename="s.png"
    )
    await engine.values.set_image_part(NS, "t", "mid", url="https://x/y.png", mime_type="image/png")
    await engine.values.set_text_part(NS, "t", "zeta", "first, edited")  # keeps its place
    await engine.values.set(NS, "t", "plain", "not a part")
    assert await engine.values.get_parts(NS, "t") == [
        {"part_type": "text", "data": "first, edited"},
        {
            "part_type": "image",
            "data": {"type": "bytes", "bytes": "aGk=", "mime_type": "image/png", "name": "s.png"},
        },
        {
            "part_type": "image",
            "data": {"type": "url", "url": "https://x/y.png", "mime_type": "image/png", "name": None},
        },
    ]
    values = await engine.values.get_all(NS, "t")
    assert set(values) == {"__user_part_zeta", "__user_part_alpha", "__user_part_mid", "plain"}
    assert await engine.values.delete_part(NS, "t", "zeta") is True
    assert await engine.values.delete_part(NS, "t", "zeta") is False
    await engine.values.set_text_part(NS, "t", "zeta", "again")  # re-created: goes last
    assert [p["data"] for p in await engine.values.get_parts(NS, "t")][-1] == "again"
    head = await engine.head()
    assert await engine.values.clear_parts(NS, "t") == 3
    assert await engine.head() == head + 1  # one event, atomic
    assert await engine.values.get_parts(NS, "t") == []
    assert await engine.values.get_all(NS, "t") == {"plain": "not a part"}
    assert await engine.values.clear_parts(NS, "t") == 0
    assert await engine.head() == head + 1
    assert await engine.verify() == []


async def test_expired_part_set_again_goes_last(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, "t", "__user_part_a", {"part_type": "text", "data": "a"}, ttl_seconds=5)
    await engine.values.set_text_part(NS, "t", "b", "b")
    clock.advance(5)
    await engine.values.set(NS, "t", "__user_part_a", {"part_type": "text", "data": "a2"})
    assert [p["data"] for p in await engine.values.get_parts(NS, "t")] == ["b", "a2"]
    assert await engine.verify() == []


async def test_part_prefix_is_matched_literally(engine: Engine) -> None:
    await engine.values.set(
        NS, "t", "xx_user_part_a", {"part_type": "text", "data": "no"}
    )  # _ is no wildcard
    await engine.values.set_text_part(NS, "t", "a%", "yes")
    assert await engine.values.get_parts(NS, "t") == [{"part_type": "text", "data": "yes"}]
    assert await engine.values.clear_parts(NS, "t") == 1
    assert set(await engine.values.get_all(NS, "t")) == {"xx_user_part_a"}


@pytest.mark.parametrize(
    "image",
    [
        {"mime_type": "image/png"},
        {"bytes_b64": "aGk=", "url": "https://x", "mime_type": "image/png"},
        {"bytes_b64": "not base64!", "mime_type": "image/png"},
        {"bytes_b64": "aGk=", "mime_type": ""},
    ],
)
async def test_bad_image_parts_are_refused(engine: Engine, image: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed):
        await engine.values.set_image_part(NS, "t", "img", **image)


async def test_parts_on_a_connection_session_are_refused(engine: Engine) -> None:
    await engine.values.open_connection_session(NS, "c", client_id="cli1")
    with pytest.raises(ValidationFailed):
        await engine.values.set_text_part(NS, "c", "a", "text")


async def test_user_part_writes_record_their_metadata(engine: Engine) -> None:
    who = Metadata(actor="alice", adapter="test", correlation_id="c-1")
    await engine.values.set_text_part("ns", "s-meta", "greeting", "hello", metadata=who)
    await engine.values.clear_parts("ns", "s-meta", metadata=who)
    events = await engine.read_stream("ns", "s-meta")
    assert [e.type for e in events][-2:] == ["value_set", "user_parts_cleared"]
    for event in events[-2:]:
        assert {k: event.metadata[k] for k in ("actor", "adapter", "correlation_id")} == {
            "actor": "alice",
            "adapter": "test",
            "correlation_id": "c-1",
        }
