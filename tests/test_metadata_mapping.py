"""A write's metadata given as a mapping (specs/audit.md, "Metadata on engine.append"):
`engine.append` takes one; every other write refuses anything but a `Metadata` at the call, with
`ValidationFailed`, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.engine import Engine, Metadata, NewEvent, ValidationFailed

pytestmark = pytest.mark.anyio


async def test_append_takes_a_mapping_of_metadata_fields(engine: Engine) -> None:
    await engine.append("ns", "s", [NewEvent("noted", {})], metadata={"actor": "x", "correlation_id": "c-1"})
    await engine.append("ns", "s", [NewEvent("noted", {})], metadata=Metadata(actor="y"))
    await engine.append("ns", "s", [NewEvent("noted", {})], metadata={})
    stored = [event.metadata for event in await engine.read_stream("ns", "s")]
    assert stored == [{"actor": "x", "correlation_id": "c-1"}, {"actor": "y"}, {}]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"actor": "x", "who": "y"}, "unknown metadata keys: who"),
        ({"actor": 7}, "metadata actor must be a string"),
        (["actor"], "metadata must be a Metadata or a mapping"),
        ("x", "metadata must be a Metadata or a mapping"),
    ],
)
async def test_append_refuses_other_metadata_at_the_call(engine: Engine, metadata: Any, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        await engine.append("ns", "s", [NewEvent("noted", {})], metadata=metadata)
    assert await engine.head() == 0


async def test_other_writes_refuse_a_mapping_at_the_call(engine: Engine) -> None:
    with pytest.raises(ValidationFailed, match="metadata must be a Metadata"):
        await engine.values.set("ns", "s", "k", 1, metadata={"actor": "x"})  # type: ignore[arg-type]
    assert await engine.head() == 0
    await engine.values.set("ns", "s", "k", 1, metadata=Metadata.of({"actor": "x"}))
    [event] = await engine.read_stream("ns", "s")
    assert event.metadata == {"actor": "x"}
