"""Read functions of the records domain: pure queries on a connection, one index walk each.

Order everywhere: `lastActivityAt` descending, then `sessionId` descending (code point order) -
the tie-breaker that lets one index serve both keys, backwards. Answers are the domain's own types
(below) holding records as stored (`Record`); adapters shape them for their wire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.errors import ValidationFailed
from session_engine.engine.objects.search.queries import (
    has_term,
    has_terms,
    index_terms,
    matching_sessions,
    message_stats,
    sessions_with_terms,
)
from session_engine.engine.objects.search.tables import message_terms
from session_engine.engine.records.commands import Record
from session_engine.engine.records.errors import InvalidSearchSyntax
from session_engine.engine.records.projection import fold_title
from session_engine.engine.records.tables import TITLE_FTS, session_records, session_status_counts

Status = Literal["discovered", "active", "closed", "archived"]
STATUSES: tuple[Status, ...] = ("discovered", "active", "closed", "archived")
StatusFilter = Literal["discovered", "active", "closed", "archived", "all"]
"""A list or search filter: one status, or "all" (the same as none)."""
MAX_PAGE = 1000
"""The largest page of a list or a search."""
DEFAULT_LIST_LIMIT = 50
DEFAULT_SEARCH_LIMIT = 20
MAX_CHILDREN = 1000
"""Children are not paged: at most this many children, oldest first."""
PREVIEW_CHARS = 500
"""A preview's first user message is cut to this many characters: a preview, not the message."""


@dataclass(frozen=True)
class Preview:
    """A session's messages at a glance: how many, and the first user message (cut)."""

    message_count: int
    first_user_message: str | None


@dataclass(frozen=True)
class Child:
    """A direct child session; `message_count` counts its own messages only."""

    session_id: str
    title: str | None
    fork_point_message_id: str | None
    branch_kind: str | None
    message_count: int
    has_children: bool
    spawning_tool_call_id: str | None = None


@dataclass(frozen=True)
class StatusCounts:
    """Live records per status, and all of them."""

    discovered: int
    active: int
    closed: int
    archived: int
    all: int


@dataclass(frozen=True)
class Listed:
    """A record of a list or a search page, with its preview when one was asked for."""

    record: Record
    preview: Preview | None = None


@dataclass(frozen=True)
class Page:
    """A page of records, newest activity first, and how many there are in all."""

    sessions: list[Listed]
    total: int


@dataclass(frozen=True)
class ListQuery:
    """Which records a list shows: `status` (None or "all": any), `execution_target_id`, and the page."""

    status: StatusFilter | None = None
    execution_target_id: str | None = None
    include_preview: bool = False
    limit: int = DEFAULT_LIST_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class SearchQuery:
    """A full-text `query` (messages and titles), the filters, and the page size."""

    query: str
    status: StatusFilter | None = None
    is_imported: bool | None = None
    limit: int = DEFAULT_SEARCH_LIMIT


_r, _c = session_records.c, session_status_counts.c
_newest_first = (_r.last_activity_at.desc(), _r.session_id.desc())
_by_id = sa.select(_r.record).where(_r.namespace == sa.bindparam("ns"), _r.session_id == sa.bindparam("sid"))
_by_adapter = (
    sa.select(_r.record)
    .where(_r.namespace == sa.bindparam("ns"), _r.adapter_session_id == sa.bindparam("asid"))
    .limit(2)
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


def get_record(connection: Connection, namespace: str, session_id: str) -> Record | None:
    record: Record | None = connection.execute(_by_id, {"ns": namespace, "sid": session_id}).scalar()
    return record


def get_by_adapter_session_id(
    connection: Connection, namespace: str, adapter_session_id: str
) -> Record | None:
    """The one record with this adapter session id; None when there is none - or several, since
    no single answer would be right (the reference's rule)."""
    found = list(connection.execute(_by_adapter, {"ns": namespace, "asid": adapter_session_id}).scalars())
    return found[0] if len(found) == 1 else None


def previews(connection: Connection, namespace: str, session_ids: Sequence[str]) -> dict[str, Preview]:
    stats = message_stats(connection, namespace, session_ids)
    return {
        sid: Preview(
            message_count=count, first_user_message=first[:PREVIEW_CHARS] if first is not None else None
        )
        for sid, (count, first) in stats.items()
    }


def children(connection: Connection, namespace: str, session_id: str) -> list[Child]:
    """Direct children, oldest first."""
    records = list(connection.execute(_children, {"ns": namespace, "sid": session_id}).scalars())
    if not records:
        return []
    ids = [r["sessionId"] for r in records]
    parents = set(connection.execute(_parents, {"ns": namespace, "ids": ids}).scalars())
    stats = message_stats(connection, namespace, ids)
    return [
        Child(
            session_id=r["sessionId"],
            title=r.get("title"),
            fork_point_message_id=r.get("forkPointMessageId"),
            branch_kind=r.get("branchKind"),
            message_count=stats[r["sessionId"]][0],
            has_children=r["sessionId"] in parents,
            spawning_tool_call_id=r.get("spawningToolCallId"),
        )
        for r in records
    ]


def status_counts(connection: Connection, namespace: str) -> StatusCounts:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for status, count in connection.execute(_counts, {"ns": namespace}):
        counts[status] = int(count)
    return StatusCounts(**counts, all=sum(counts.values()))


def _filtered(namespace: str, status: str | None) -> list[sa.ColumnElement[bool]]:
    where = [_r.namespace == namespace]
    if status is not None and status != "all":
        where.append(_r.status == status)
    return where


def list_sessions(connection: Connection, namespace: str, request: ListQuery) -> Page:
    where = _filtered(namespace, request.status)
    if request.execution_target_id is not None:
        where.append(_r.execution_target_id == request.execution_target_id)
    page = (
        sa.select(_r.record)
        .where(*where)
        .order_by(*_newest_first)
        .limit(request.limit)
        .offset(request.offset)
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
    return Page(sessions=[Listed(r, found.get(r["sessionId"])) for r in records], total=total)


WALK_FACTOR = 1.0
"""How a search page is planned (see `search`): walk the records newest first when the matches are
dense enough - `matches ** 2 >= WALK_FACTOR * limit * records` - else sort the matches. Tests set
0 (always walk) or a huge value (always sort) to compare the two plans."""

_titles_fts = sa.table(TITLE_FTS, sa.column("rowid"))
_record_rowid: sa.ColumnClause[int] = sa.literal_column(f"{session_records.name}.rowid")


def _title_matches(connection: Connection, namespace: str, folded: str) -> sa.Select[Any]:
    """Ids of the records whose folded title contains `folded` (LIKE, escaped: the exact rule).

    SQLite narrows the rows with its trigram index first (a phrase of the query's trigrams; under
    3 characters there is no trigram, and the covering title index is scanned instead).
    PostgreSQL's planner takes the pg_trgm index for the LIKE by itself.
    """
    where = [_r.namespace == namespace, _r.title_folded.contains(folded, autoescape=True)]
    if connection.dialect.name == "sqlite" and len(folded) >= 3:
        phrase = '"' + folded.replace('"', '""') + '"'
        trigrams = sa.select(_titles_fts.c.rowid).where(sa.literal_column(TITLE_FTS).op("MATCH")(phrase))
        where.append(_record_rowid.in_(trigrams))
    return sa.select(_r.session_id).where(*where)


def search(connection: Connection, namespace: str, request: SearchQuery) -> Page:
    """Sessions with a message matching the full-text query, or whose title contains it.

    One statement: `hits` counts the matching sessions that are live records passing the filters
    (the total, exact); the page then comes from one of two branches, the other getting `LIMIT 0`
    so it never runs:
    - walk: the records newest first along the list index, each tested for a match, stopping at
      the page - about `limit * records / matches` rows;
    - sort: the matches' records sorted (top-N), for sparse matches where a walk would go far.
    Bare words count from the term index alone (its rows carry the records' filters); any other
    query maps its messages to sessions and joins them with the records (see `_Plan`).
    """
    query = request.query.strip()
    if not query:
        return Page(sessions=[], total=0)
    folded = str(fold_title(query))
    where = _filtered(namespace, request.status)
    if request.is_imported is not None:
        where.append(_r.is_imported == request.is_imported)
    try:
        terms = index_terms(connection, query)
        if terms is not None:
            plan = _by_terms(connection, namespace, terms, folded, request, where)
        else:
            by_messages = matching_sessions(connection, namespace, query, distinct=False)
            plan = _by_messages(connection, namespace, by_messages, folded, where)
    except ValidationFailed as error:
        raise InvalidSearchSyntax(str(error), ("query",)) from None
    limit = request.limit
    hits = plan.count.cte("hits").prefix_with("MATERIALIZED")
    n = sa.select(hits.c.n).scalar_subquery()
    counts = sa.select(sa.func.coalesce(sa.func.sum(_c.count), 0)).where(_c.namespace == namespace)
    if request.status is not None and request.status != "all":
        counts = counts.where(_c.status == request.status)
    walk = n * n >= sa.literal(WALK_FACTOR) * limit * counts.scalar_subquery()
    columns = (_r.session_id, _r.last_activity_at, _r.record)
    # Walk: the list index, walked backwards, gives the order; the match test stays a filter.
    walked = (
        sa.select(*columns)
        .where(*where, plan.walk_test)
        .order_by(*_newest_first)
        .limit(sa.case((walk, limit), else_=0))
        .subquery("walked")
    )
    # Sort: `+ 0` keeps the planners from walking the list index for the order.
    sorted_ = (
        sa.select(*columns)
        .where(*where, _r.session_id.in_(plan.matched))
        .order_by((_r.last_activity_at + 0).desc(), _r.session_id.desc())
        .limit(sa.case((walk, 0), else_=limit))
        .subquery("sorted")
    )
    page = sa.union_all(sa.select(walked, n.label("total")), sa.select(sorted_, n.label("total")))
    if connection.dialect.name == "postgresql":
        # The right plan depends on the values (how many match): after a few executions psycopg
        # prepares the statement and PostgreSQL may settle on a generic plan, which was measured
        # slower here. Plan each search for its own values, for this read transaction only.
        # No JIT either: the walk's cost estimate (a whole index) can pass its threshold, and
        # compiling took far longer than the statement runs (docs/benchmarks.md).
        connection.exec_driver_sql(_SEARCH_SETTINGS)
    try:
        rows = list(connection.execute(page).all())
    except sa.exc.DBAPIError as error:
        # The parser builds only well-formed expressions; should a backend still refuse one,
        # the caller gets a validation error, not a server error.
        if "fts5" not in str(error.orig) and "tsquery" not in str(error.orig):
            raise
        raise InvalidSearchSyntax("the search query could not be run", ("query",)) from None
    # Only one branch has rows, each in order; sorting the page again costs nothing and does not
    # depend on how a backend concatenates the branches (str order = code point order, as SQL's).
    rows.sort(key=lambda row: (row.last_activity_at, row.session_id), reverse=True)
    total = int(rows[0].total) if rows else 0
    records = [row.record for row in rows]
    found = previews(connection, namespace, [r["sessionId"] for r in records])
    return Page(sessions=[Listed(r, found[r["sessionId"]]) for r in records], total=total)


_SEARCH_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true)"
)


@dataclass(frozen=True)
class _Plan:
    """A search's matching sessions, three ways: `count` (one row, `n`: the live ones passing the
    filters - the total), `walk_test` (does this walked record match?) and `matched` (ids, for the
    sort branch's `IN`; the branch adds the filters)."""

    count: sa.Select[Any]
    walk_test: sa.ColumnElement[bool]
    matched: sa.Select[Any]


def _by_terms(
    connection: Connection,
    namespace: str,
    terms: list[str],
    folded: str,
    request: SearchQuery,
    where: list[sa.ColumnElement[bool]],
) -> _Plan:
    """Bare words: the term rows carry their session's record status and isImported (null without a
    live record), so the count is of index ranges only - no record is looked at. A title match
    comes from the records, filtered there (`where`); with one term only those lacking the term
    are added, so nothing needs deduplicating. The walk probes the term index per walked record
    (or hashes the terms' range) and tests the title on the row."""
    by_terms = sessions_with_terms(connection, namespace, terms)
    t = message_terms.c
    if request.status is not None and request.status != "all":
        by_terms = by_terms.where(t.record_status == request.status)
    else:
        by_terms = by_terms.where(t.record_status.is_not(None))
    if request.is_imported is not None:
        by_terms = by_terms.where(t.record_imported == request.is_imported)
    by_title = _title_matches(connection, namespace, folded).where(*where)
    # PostgreSQL: the records' ids are "C"-collated; in the term index's collation a probe of it is
    # a primary-key lookup, not a scan of the term's range.
    session_id = (
        _r.session_id.collate("default") if connection.dialect.name == "postgresql" else _r.session_id
    )
    union: sa.CompoundSelect[Any]
    if len(terms) <= 1:
        if terms:
            by_title = by_title.where(~has_term(namespace, terms[0], session_id))
        union = sa.union_all(by_terms, by_title)
    else:
        union = sa.union(by_terms, by_title)
    matched = union.subquery("matched")
    return _Plan(
        count=sa.select(sa.func.count().label("n")).select_from(matched),
        walk_test=sa.or_(
            has_terms(namespace, terms, session_id), _r.title_folded.contains(folded, autoescape=True)
        ),
        matched=sa.select(matched.c.session_id),
    )


def _by_messages(
    connection: Connection,
    namespace: str,
    by_messages: sa.Select[Any],
    folded: str,
    where: list[sa.ColumnElement[bool]],
) -> _Plan:
    """Any other query: the full-text index gives one session id per matching message. Those and the
    title matches are materialized once (the `UNION` the one deduplication), counted by a join with
    the live records passing the filters, and probed by the walk (PostgreSQL: a hashed subplan;
    SQLite: an ephemeral index; inside `coalesce(...)` so neither planner makes it a join)."""
    union: sa.CompoundSelect[Any] | sa.Select[Any] = sa.union(
        by_messages, _title_matches(connection, namespace, folded)
    )
    if connection.dialect.name == "postgresql":
        # As unbounded text the planner sizes the matches as narrow rows (not 200-character ones)
        # and sorts / hashes them, not every record, to join them with the records.
        matched = union.subquery("matched")
        union = sa.select(sa.cast(matched.c.session_id, sa.Text).label("session_id"))
    matches = union.cte("matches").prefix_with("MATERIALIZED")
    matched_ids = sa.select(matches.c.session_id)
    # The matches are distinct: a plain join counts each live one once - on SQLite a probe of an
    # index on (namespace, session_id[, status, is_imported]) per match, no set to build first.
    count = (
        sa.select(sa.func.count().label("n"))
        .select_from(matches.join(session_records, _r.session_id == matches.c.session_id))
        .where(*where)
    )
    return _Plan(
        count=count,
        walk_test=sa.func.coalesce(_r.session_id.in_(matched_ids), False),
        matched=matched_ids,
    )
