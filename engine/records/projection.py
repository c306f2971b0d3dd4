"""The records projection: events -> `session_records`, `session_agents`, `session_status_counts`.

Rows come from event payloads only (never the wall clock), so a rebuild writes the same rows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.log.records import RecordedEvent
from engine.projections.base import Projection, ProjectionContext
from engine.records import events as ev
from engine.records.tables import session_agents, session_records, session_status_counts

records = Projection("records", [session_records, session_agents, session_status_counts])

_r, _a = session_records.c, session_agents.c
_delete_record = session_records.delete().where(
    _r.namespace == sa.bindparam("ns"), _r.session_id == sa.bindparam("sid")
)
_delete_agents = session_agents.delete().where(
    _a.namespace == sa.bindparam("ns"), _a.session_id == sa.bindparam("sid")
)
_insert_agent = session_agents.insert()
_bumps: dict[str, sa.Insert] = {}


def _bump(dialect: str) -> sa.Insert:
    """Add `delta` to a status count, creating the row at first use (rows at 0 stay)."""
    statement = _bumps.get(dialect)
    if statement is None:
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(session_status_counts)
        statement = insert.on_conflict_do_update(
            index_elements=["namespace", "status"],
            set_={"count": session_status_counts.c.count + insert.excluded["count"]},
        )
        _bumps[dialect] = statement
    return statement


def fold_title(title: Any) -> str | None:
    """The form title search compares: Python's casefold, not the database's lower()."""
    return title.casefold() if isinstance(title, str) else None


def record_row(namespace: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "session_id": record["sessionId"],
        "status": record["status"],
        "created_at": record["createdAt"],
        "last_activity_at": record["lastActivityAt"],
        "parent_session_id": record.get("parentSessionId"),
        "adapter_session_id": record.get("adapterSessionId"),
        "execution_target_id": record.get("executionTargetId"),
        "is_imported": bool(record.get("isImported", False)),
        "title_folded": fold_title(record.get("title")),
        "record": record,
    }


def _count(context: ProjectionContext, namespace: str, status: str, delta: int) -> None:
    context.execute(_bump(context.dialect), {"namespace": namespace, "status": status, "count": delta})


def _store(
    context: ProjectionContext, event: RecordedEvent, record: dict[str, Any], previous: str | None
) -> None:
    ids = {"ns": event.namespace, "sid": event.stream}
    upsert = context.upsert(session_records, ["namespace", "session_id"])
    context.execute(upsert, record_row(event.namespace, record))
    if previous is not None:
        context.execute(_delete_agents, ids)
    for ordinal, agent in enumerate(record["agents"]):
        context.execute(
            _insert_agent,
            {
                "namespace": event.namespace,
                "session_id": event.stream,
                "ordinal": ordinal,
                "agent_id": agent["agentId"],
                "role": agent["role"],
                "status": agent["status"],
                "adapter_id": agent["adapterId"],
                "adapter_session_id": agent.get("adapterSessionId"),
            },
        )
    if previous != record["status"]:
        if previous is not None:
            _count(context, event.namespace, previous, -1)
        _count(context, event.namespace, record["status"], 1)


@records.on(ev.SessionRecordSet)
def _set(context: ProjectionContext, event: RecordedEvent) -> None:
    _store(context, event, event.data["record"], event.data.get("previous_status"))


@records.on(ev.SessionRecordUpdated)
def _updated(context: ProjectionContext, event: RecordedEvent) -> None:
    _store(context, event, event.data["record"], event.data["previous_status"])


@records.on(ev.SessionRecordDeleted)
def _deleted(context: ProjectionContext, event: RecordedEvent) -> None:
    ids = {"ns": event.namespace, "sid": event.stream}
    context.execute(_delete_record, ids)
    context.execute(_delete_agents, ids)
    _count(context, event.namespace, event.data["status"], -1)
