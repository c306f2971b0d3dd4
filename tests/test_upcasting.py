"""Schema evolution: a v1 event stored long ago reads back as v2 through an upcaster."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from session_engine.engine import DomainEvent, Engine, EventRegistry

pytestmark = pytest.mark.anyio


class RenamedV1(DomainEvent):
    event_type: ClassVar[str] = "session_renamed"
    schema_version: ClassVar[int] = 1
    name: str


class RenamedV2(DomainEvent):
    """v2 split `name` into a title and kept who renamed it."""

    event_type: ClassVar[str] = "session_renamed"
    schema_version: ClassVar[int] = 2
    title: str
    renamed_by: str | None = None


async def test_v1_event_reads_back_as_v2(database_url: str) -> None:
    old = EventRegistry([RenamedV1])
    async with Engine.open(database_url, migrate=False, events=old) as engine:
        await engine.append("ns", "s", [RenamedV1(name="Planning")])
        [stored] = await engine.read_stream("ns", "s")
        assert (stored.schema_version, stored.data) == (1, {"name": "Planning"})

    new = EventRegistry([RenamedV2])

    @new.upcaster("session_renamed", from_version=1)
    def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        return {"title": data["name"], "renamed_by": None}

    async with Engine.open(database_url, migrate=False, events=new) as engine:
        [event] = await engine.read_stream("ns", "s")
        assert event.schema_version == 2
        payload = engine.payload(event)
        assert isinstance(payload, RenamedV2)
        assert payload == RenamedV2(title="Planning")
        # history is never rewritten: the stored row is still v1
        exported = await engine.read(
            lambda c: c.exec_driver_sql("SELECT schema_version FROM events").scalar()
        )
        assert exported == 1
        await engine.append("ns", "s", [RenamedV2(title="Later", renamed_by="bob")])
        assert [e.schema_version for e in await engine.read_stream("ns", "s")] == [2, 2]


async def test_missing_upcaster_is_a_clear_error(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False, events=EventRegistry([RenamedV1])) as engine:
        await engine.append("ns", "s", [RenamedV1(name="x")])
    async with Engine.open(database_url, migrate=False, events=EventRegistry([RenamedV2])) as engine:
        with pytest.raises(
            Exception, match="no upcaster for event type 'session_renamed' from schema version 1"
        ):
            await engine.read_stream("ns", "s")
