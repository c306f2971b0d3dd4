"""The lag figures `/metrics` reads from the engine: how far subscriptions and projections are
behind the log's head (specs/operations.md, "Metrics")."""

from __future__ import annotations

import anyio
import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, NewEvent
from session_engine.engine.log.schema import checkpoints
from session_engine.engine.log.subscriptions import take

pytestmark = pytest.mark.anyio


async def test_a_subscription_lags_by_the_events_committed_that_it_has_not_taken(engine: Engine) -> None:
    """`hub.lags()` (the metrics' subscription lag): a consumer that stops taking events falls
    behind by every commit meanwhile, and is at zero again once it has taken them."""
    await engine.append("ns", "s", [NewEvent("noted", {"n": 0})])
    assert engine.hub.lags() == []
    with anyio.fail_after(10):
        events = engine.subscribe(after=0)
        assert (await take(events, 1))[0].position == 1
        assert engine.hub.lags() == [0]
        for n in range(5):  # the consumer takes nothing meanwhile
            await engine.append("ns", "s", [NewEvent("noted", {"n": n + 1})])
        assert engine.hub.lags() == [5]
        assert [e.position for e in await take(events, 3)] == [2, 3, 4]
        assert engine.hub.lags() == [2]
        await take(events, 2)
        assert engine.hub.lags() == [0]
        await events.aclose()  # type: ignore[attr-defined]
    assert engine.hub.lags() == []


async def test_a_projection_lags_by_the_positions_its_checkpoint_is_behind_the_head(
    engine: Engine, database_url: str
) -> None:
    """Inline projections move with every batch (no lag); one whose checkpoint is behind, as while
    a catch-up or a rebuild runs, lags by the positions between it and the head."""
    for n in range(4):
        await engine.append("ns", "s", [NewEvent("noted", {"n": n})])
    lags = await engine.projection_lag()
    assert lags and set(lags.values()) == {0}
    behind = sorted(lags)[0]
    direct = sa.create_engine(database_url)
    try:
        with direct.begin() as connection:  # the checkpoint as a projection 3 events behind has it
            connection.execute(checkpoints.update().where(checkpoints.c.name == behind).values(position=1))
        assert (await engine.projection_lag())[behind] == 3
        with direct.begin() as connection:
            connection.execute(checkpoints.update().where(checkpoints.c.name == behind).values(position=4))
    finally:
        direct.dispose()
    assert set((await engine.projection_lag()).values()) == {0}
