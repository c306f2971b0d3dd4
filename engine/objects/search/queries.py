"""The messages read model's contract: per-session stats and full-text session matching.

Query syntax (both backends, parsed here so they agree): words, `word*` prefixes, "quoted
phrases", `or` between groups, `-word` / `-"phrase"` to exclude. Each `or`-separated group needs
one positive term. SQLite runs it as an FTS5 MATCH (porter unicode61), PostgreSQL as a
`to_tsquery` built from the same parse (websearch_to_tsquery has no prefix operator).

A query of bare words only, one per group (`word`, `word or word2`), is answered from the
per-session term index `message_terms` instead (engine/objects/search/terms.py): the same sessions, one
index range per term rather than one row per matching message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from session_engine.engine.objects.answers import MessageHit
from session_engine.engine.objects.limits import MAX_SEARCH_QUERY
from session_engine.engine.objects.search.errors import InvalidSearchQuery
from session_engine.engine.objects.search.tables import (
    FTS_CONFIG,
    FTS_TABLE,
    message_terms,
    messages,
    search_vector,
)
from session_engine.engine.objects.search.terms import query_terms

_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
_fts = sa.table(FTS_TABLE, sa.column("rowid"))
USE_TERM_INDEX = True
"""False sends every query through the full-text index (tests compare the two paths)."""


@dataclass
class _Group:
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


def parse_search(query: str) -> list[_Group]:
    """Groups of (positive, negative) terms; raises `InvalidSearchQuery` (a ValidationFailed)."""
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_SEARCH_QUERY:
        raise InvalidSearchQuery(f"a search query is 1 to {MAX_SEARCH_QUERY} characters")
    if query.count('"') % 2:
        raise InvalidSearchQuery("unbalanced quote in search query")
    groups = [_Group()]
    for match in _TOKEN.finditer(query):
        negated, phrase, word = match.groups()
        if word is not None and word.lower() == "or":
            groups.append(_Group())
            continue
        if word is not None:
            negated, phrase = ("-", word[1:]) if word.startswith("-") else ("", word)
        words = re.findall(r"\w+", phrase or "")
        if not words:
            continue
        # A bare word ending in `*` is a prefix; the marker stays on the term for the builders.
        prefix = word is not None and phrase is not None and phrase.endswith("*") and len(words) == 1
        term = " ".join(words) + ("*" if prefix else "")
        (groups[-1].negative if negated else groups[-1].positive).append(term)
    groups = [g for g in groups if g.positive or g.negative]
    if not groups or any(not g.positive for g in groups):
        raise InvalidSearchQuery("every part of a search query needs at least one word to look for")
    return groups


def _fts5_term(term: str) -> str:
    return f'"{term[:-1]}"*' if term.endswith("*") else f'"{term}"'


def _fts5(groups: list[_Group]) -> str:
    parts = []
    for group in groups:
        expression = "(" + " AND ".join(_fts5_term(t) for t in group.positive) + ")"
        for term in group.negative:
            expression = f"({expression} NOT {_fts5_term(term)})"
        parts.append(expression)
    return " OR ".join(parts)


def _tsquery_term(term: str) -> str:
    # Terms hold only \w characters, so quoting each lexeme is enough to make them literal.
    if term.endswith("*"):
        return f"'{term[:-1]}':*"
    return "(" + " <-> ".join(f"'{word}'" for word in term.split(" ")) + ")"


def _tsquery(groups: list[_Group]) -> str:
    return " | ".join(
        "("
        + " & ".join([*(_tsquery_term(t) for t in g.positive), *(f"!{_tsquery_term(t)}" for t in g.negative)])
        + ")"
        for g in groups
    )


def _index_terms(connection: Connection, groups: list[_Group]) -> list[str] | None:
    if not USE_TERM_INDEX or any(g.negative or len(g.positive) != 1 for g in groups):
        return None
    words = [g.positive[0] for g in groups]
    if any(word.endswith("*") or " " in word for word in words):
        return None
    per_word = query_terms(connection, words)
    if any(len(terms) > 1 for terms in per_word):
        return None
    return list(dict.fromkeys(term for terms in per_word for term in terms))


def index_terms(connection: Connection, query: str) -> list[str] | None:
    """The terms to look up in `message_terms` for `query`, or None when it needs the full-text index.

    Only an OR of single bare words: the sessions with a message holding one word's term. A word
    that makes no term (a stop word) matches nothing, as in the full-text index; a word that makes
    several (`foo_bar`) is a phrase there, which the term index cannot answer. Raises
    `InvalidSearchQuery` as `parse_search` does.
    """
    return _index_terms(connection, parse_search(query))


def sessions_with_terms(connection: Connection, namespace: str, terms: list[str]) -> Select[Any]:
    """The ids of the sessions holding any of `terms`: one index range per term, distinct per term."""
    t = message_terms.c
    where = [t.namespace == namespace, t.term.in_(terms)]
    if connection.dialect.name == "sqlite":
        # Its statistics give every term the average share of the sessions; for a few common terms
        # that exceeds the records, and SQLite then counts the hits through a Bloom filter built
        # from every record's row (measured slower). Say the lookup yields few rows.
        where.append(sa.func.likelihood(t.messages > 0, sa.literal_column("0.01")))
    return sa.select(t.session_id).where(*where)


def has_term(namespace: str, term: str, session_id: sa.ColumnElement[Any]) -> sa.Exists:
    """Whether the session `session_id` has a message holding `term` (one primary-key probe)."""
    t = message_terms.c
    return sa.exists().where(t.namespace == namespace, t.term == term, t.session_id == session_id)


def has_terms(namespace: str, terms: list[str], session_id: sa.ColumnElement[Any]) -> sa.Exists:
    """Whether the session `session_id` has a message holding any of `terms` (a probe per term)."""
    t = message_terms.c
    return sa.exists().where(t.namespace == namespace, t.term.in_(terms), t.session_id == session_id)


def matching_sessions(
    connection: Connection, namespace: str, query: str, *, distinct: bool = True
) -> Select[Any]:
    """A selectable of the distinct session ids in `namespace` with a message matching `query`.

    `distinct=False`: one id per matching message (repeats), for a caller that deduplicates anyway
    (a `UNION`, an `IN`) and would otherwise pay for the deduplication twice.
    """
    groups = parse_search(query)
    terms = _index_terms(connection, groups)
    if terms is not None:
        by_terms = sessions_with_terms(connection, namespace, terms)
        return by_terms.distinct() if distinct and len(terms) > 1 else by_terms
    if connection.dialect.name == "postgresql":
        tsquery = sa.func.to_tsquery(sa.literal_column(f"'{FTS_CONFIG}'::regconfig"), _tsquery(groups))
        select = sa.select(messages.c.session_id).where(
            messages.c.namespace == namespace, search_vector.bool_op("@@")(tsquery)
        )
    else:
        select = (
            sa.select(messages.c.session_id)
            .select_from(_fts.join(messages, messages.c.id == _fts.c.rowid))
            .where(sa.literal_column(FTS_TABLE).op("MATCH")(_fts5(groups)), messages.c.namespace == namespace)
        )
    return select.distinct() if distinct else select


def message_stats(
    connection: Connection, namespace: str, session_ids: Iterable[str]
) -> dict[str, tuple[int, str | None]]:
    """For each session asked: (messages count, text of the first user message or None).

    "First" is log order: the row written by the earliest event, then its ordinal.
    """
    wanted = list(dict.fromkeys(session_ids))
    stats: dict[str, tuple[int, str | None]] = {s: (0, None) for s in wanted}
    m = messages.c
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        scope = (m.namespace == namespace, m.session_id.in_(chunk))
        counts = connection.execute(
            sa.select(m.session_id, sa.func.count()).where(*scope).group_by(m.session_id)
        )
        for session_id, count in counts:
            stats[session_id] = (int(count), None)
        first = sa.select(sa.func.min(m.id)).where(*scope, m.role == "user").group_by(m.session_id)
        for session_id, text in connection.execute(sa.select(m.session_id, m.text).where(m.id.in_(first))):
            stats[session_id] = (stats[session_id][0], text)
    return stats


def search_messages(
    connection: Connection, namespace: str, query: str, *, session_id: str | None = None, limit: int = 50
) -> list[MessageHit]:
    """Matching messages (newest first): a convenience over `matching_sessions`' index."""
    groups = parse_search(query)
    m = messages.c
    columns = (m.session_id, m.source_alias, m.ordinal, m.role, m.text, m.position)
    if connection.dialect.name == "postgresql":
        tsquery = sa.func.to_tsquery(sa.literal_column(f"'{FTS_CONFIG}'::regconfig"), _tsquery(groups))
        select = sa.select(*columns).where(m.namespace == namespace, search_vector.bool_op("@@")(tsquery))
    else:
        select = (
            sa.select(*columns)
            .select_from(_fts.join(messages, m.id == _fts.c.rowid))
            .where(sa.literal_column(FTS_TABLE).op("MATCH")(_fts5(groups)), m.namespace == namespace)
        )
    if session_id is not None:
        select = select.where(m.session_id == session_id)
    rows = connection.execute(select.order_by(m.id.desc()).limit(max(1, min(limit, 1000))))
    return [MessageHit(*row) for row in rows]
