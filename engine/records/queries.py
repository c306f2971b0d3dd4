"""Read functions of the records domain: pure queries on a connection, one index walk each.

Order everywhere: `lastActivityAt` descending, then `sessionId` descending (code point order) -
the tie-breaker that lets one index serve both keys, backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.errors import ValidationFailed
from engine.objects.messages import matching_sessions, message_stats
from engine.records.errors import InvalidSearchSyntax
from engine.records.models import (
    DEFAULT_LIST_LIMIT,
    DEFAULT_SEARCH_LIMIT,
    STATUSES,
    ChildSession,
    ListedSession,
    ListRequest,
    ListResponse,
    Preview,
    SearchedSession,
    SearchRequest,
    SearchResponse,
    SessionRecord,
    StatusCounts,
)
from engine.records.projection import fold_title
from engine.records.tables import session_records, session_status_counts

MAX_CHILDREN = 1000
"""getChildren has no paging on the wire: at most this many children, oldest first."""
PREVIEW_CHARS = 500
"""firstUserMessage is cut to this many characters: a preview, not the message."""

_r, _c = session_records.c, session_status_counts.c
_newest_first = (_r.last_activity_at.desc(), _r.session_id.desc())
_by_id = sa.select(_r.record).where(_r.namespace == sa.bindparam("ns"), _r.session_id == sa.bindparam("sid"))
_by_adapter = (
    sa.select(_r.record)
    .where(_r.namespace == sa.bindparam("ns"), _r.adapter_session_id == sa.bindparam("asid"))
    .order_by(*_newest_first)
    .limit(1)
)
_children = (
    sa.select(_r.record)
    .where(_r.namespace == sa.bindparam("ns"), _r.parent_session_id == sa.bindparam("sid"))
    .order_by(_r.created_at, _r.session_id)
    .limit(MAX_CHILDREN)
)
_parents = (
    sa.select(_r.parent_session_id)
    .where(_r.namespace == sa.bindparam("ns"), _r.parent_session_id.in_(sa.bindparam("ids", expanding=True)))
    .distinct()
)
_counts = sa.select(_c.status, _c.count).where(_c.namespace == sa.bindparam("ns"))


def get_record(connection: Connection, namespace: str, session_id: str) -> SessionRecord | None:
    record = connection.execute(_by_id, {"ns": namespace, "sid": session_id}).scalar()
    return None if record is None else SessionRecord.model_validate(record)


def get_by_adapter_session_id(
    connection: Connection, namespace: str, adapter_session_id: str
) -> SessionRecord | None:
    """Several records may share an adapter session id: the most recently active one wins."""
    record = connection.execute(_by_adapter, {"ns": namespace, "asid": adapter_session_id}).scalar()
    return None if record is None else SessionRecord.model_validate(record)


def previews(connection: Connection, namespace: str, session_ids: Sequence[str]) -> dict[str, Preview]:
    stats = message_stats(connection, namespace, session_ids)
    return {
        sid: Preview(
            message_count=count, first_user_message=first[:PREVIEW_CHARS] if first is not None else None
        )
        for sid, (count, first) in stats.items()
    }


def children(connection: Connection, namespace: str, session_id: str) -> list[ChildSession]:
    """Direct children, oldest first; messageCount counts each child's own messages only."""
    records = list(connection.execute(_children, {"ns": namespace, "sid": session_id}).scalars())
    if not records:
        return []
    ids = [r["sessionId"] for r in records]
    parents = set(connection.execute(_parents, {"ns": namespace, "ids": ids}).scalars())
    stats = message_stats(connection, namespace, ids)
    return [
        ChildSession.model_validate(
            {
                "sessionId": r["sessionId"],
                "title": r.get("title"),
                "forkPointMessageId": r.get("forkPointMessageId"),
                "branchKind": r.get("branchKind"),
                "messageCount": stats[r["sessionId"]][0],
                "hasChildren": r["sessionId"] in parents,
                **({"spawningToolCallId": r["spawningToolCallId"]} if "spawningToolCallId" in r else {}),
            }
        )
        for r in records
    ]


def status_counts(connection: Connection, namespace: str) -> StatusCounts:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, count in connection.execute(_counts, {"ns": namespace}):
        counts[status] = int(count)
    return StatusCounts.model_validate({**counts, "all": sum(counts.values())})


def _filtered(namespace: str, status: str | None) -> list[sa.ColumnElement[bool]]:
    where = [_r.namespace == namespace]
    if status is not None and status != "all":
        where.append(_r.status == status)
    return where


def list_sessions(connection: Connection, namespace: str, request: ListRequest) -> ListResponse:
    where = _filtered(namespace, request.status)
    if request.execution_target_id is not None:
        where.append(_r.execution_target_id == request.execution_target_id)
    page = (
        sa.select(_r.record)
        .where(*where)
        .order_by(*_newest_first)
        .limit(request.limit or DEFAULT_LIST_LIMIT)
        .offset(request.offset or 0)
    )
    records = list(connection.execute(page).scalars())
    if request.execution_target_id is None:
        # The counts table answers without touching the records: O(statuses), not O(sessions).
        counts = status_counts(connection, namespace)
        total = counts.all if request.status in (None, "all") else getattr(counts, str(request.status))
    else:
        total = int(connection.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
    found = (
        previews(connection, namespace, [r["sessionId"] for r in records]) if request.include_preview else {}
    )
    sessions = [ListedSession.model_validate({**r, **_preview(found, r["sessionId"])}) for r in records]
    return ListResponse(sessions=sessions, total=total)


def _preview(found: dict[str, Preview], session_id: str) -> dict[str, Any]:
    preview = found.get(session_id)
    return {} if preview is None else {"preview": preview}


def search(connection: Connection, namespace: str, request: SearchRequest) -> SearchResponse:
    """Sessions with a message matching the full-text query, or whose title contains it."""
    query = request.query.strip()
    if not query:
        return SearchResponse(sessions=[], total=0)
    try:
        by_messages = matching_sessions(connection, namespace, query)
    except ValidationFailed as error:
        raise InvalidSearchSyntax(str(error), ("query",)) from None
    title = fold_title(query)
    by_title = sa.select(_r.session_id).where(
        _r.namespace == namespace, _r.title_folded.contains(title, autoescape=True)
    )
    # Start from the matching ids (a full-text index and a title index answer those) rather than
    # walking every record in recency order and testing each: that walk was the whole cost.
    candidates = sa.union(by_messages, by_title).subquery()
    where = _filtered(namespace, request.status)
    where.append(_r.session_id.in_(sa.select(candidates.c.session_id)))
    if request.is_imported is not None:
        where.append(_r.is_imported == request.is_imported)
    limit = request.limit or DEFAULT_SEARCH_LIMIT
    # One pass over the candidates gives the page's ids and the total (a window count); `+ 0`
    # sorts the candidates instead of walking the recency index looking for them. The records
    # themselves (large JSON) are read for the page only.
    page_ids = (
        sa.select(_r.session_id, sa.func.count().over().label("total"))
        .where(*where)
        .order_by((_r.last_activity_at + 0).desc(), _r.session_id.desc())
        .limit(limit)
    )
    try:
        rows = connection.execute(page_ids).all()
    except sa.exc.DBAPIError as error:
        # The parser builds only well-formed expressions; should a backend still refuse one,
        # the caller gets a validation error, not a server error.
        if "fts5" not in str(error.orig) and "tsquery" not in str(error.orig):
            raise
        raise InvalidSearchSyntax("the search query could not be run", ("query",)) from None
    total = int(rows[0].total) if rows else 0
    ids = [row.session_id for row in rows]
    by_id = dict(
        connection.execute(
            sa.select(_r.session_id, _r.record).where(_r.namespace == namespace, _r.session_id.in_(ids))
        ).all()
    )
    records = [by_id[session_id] for session_id in ids]
    found = previews(connection, namespace, [r["sessionId"] for r in records])
    sessions = [SearchedSession.model_validate({**r, "preview": found[r["sessionId"]]}) for r in records]
    return SearchResponse(sessions=sessions, total=total)
