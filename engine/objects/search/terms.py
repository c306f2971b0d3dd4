"""The per-session term index `message_terms`: which sessions have a message containing a term.

The full-text indexes (FTS5 / GIN) answer with one row per matching *message*; a search wants
sessions. `message_terms` folds the full-text index to sessions - (namespace, term, session) and how
many of the session's messages hold the term - so a word's sessions are one index range.

Database triggers on `messages` keep it, so every writer of messages (the live projection, a replay)
keeps it exact with no code of its own. PostgreSQL's triggers take the lexemes of the GIN index's own
`to_tsvector`. SQLite's triggers cannot tokenize: they call `session_engine_terms(text)`, a Python
function on the connection that asks FTS5 itself (a private in-memory FTS5 table with the tokenizer
of `messages_fts`) for the terms - the tokenizer is never re-implemented here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from itertools import chain
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.objects.search.tables import FTS_CONFIG, FTS_TOKENIZE, message_terms
from session_engine.engine.projections.base import DerivedIndex, dialect_ddl

SQL_FUNCTION = "session_engine_terms"
MAX_CACHED = 100_000
"""Words whose terms are remembered (then the cache starts again): a text's words repeat a lot."""
MAX_CACHED_WORD = 64


class Fts5Terms:
    """The distinct terms FTS5 indexes for a text, with the tokenizer `messages_fts` uses.

    Asking FTS5 is costly (write a row, read the vocabulary, roll back, per call), so a text is
    cut at whitespace first and each word's terms are remembered. That cut is exact: unicode61's
    token characters are letters, numbers and private-use ones (categories L*, N*, Co), never
    whitespace, and porter stems each token on its own - a text's terms are its words' terms.
    The words not yet known all go to FTS5 in one round.
    """

    def __init__(self, tokenize: str = FTS_TOKENIZE) -> None:
        self._tokenize = tokenize
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._known: dict[str, tuple[str, ...]] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            # Contentless, no positions: only the vocabulary (term, doc) is ever read back.
            tokenize = self._tokenize.replace("'", "''")
            db.execute(
                f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{tokenize}', content='', detail=none)"
            )
            db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
            self._db = db
        return self._db

    def _ask(self, words: list[str]) -> list[tuple[str, ...]]:
        """Each word's terms, from FTS5 (one transaction, rolled back: the table stays empty)."""
        found: list[list[str]] = [[] for _ in words]
        with self._lock:
            db = self._connection()
            db.execute("BEGIN")
            try:
                db.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", enumerate(words, start=1))
                for doc, term in db.execute("SELECT doc, term FROM v"):
                    found[doc - 1].append(term)
            finally:
                db.execute("ROLLBACK")
        return [tuple(dict.fromkeys(terms)) for terms in found]

    def of_words(self, words: Iterable[str]) -> list[tuple[str, ...]]:
        """The terms of each word (a word holds no whitespace), in order."""
        words = list(words)
        # Threads share the cache: look each word up once (another thread may clear it meanwhile).
        found = [self._known.get(word) for word in words]
        missing = list(dict.fromkeys(w for w, terms in zip(words, found, strict=True) if terms is None))
        if not missing:
            return cast(list[tuple[str, ...]], found)
        asked = dict(zip(missing, self._ask(missing), strict=True))
        known = self._known
        if len(known) + len(missing) > MAX_CACHED:
            known.clear()
        known.update((w, terms) for w, terms in asked.items() if len(w) <= MAX_CACHED_WORD)
        return [asked[w] if terms is None else terms for w, terms in zip(words, found, strict=True)]

    def of_text(self, text: str) -> list[str]:
        """The distinct terms of a text, as `messages_fts` indexes it."""
        words = text.split()
        known = self._known
        try:  # most texts' words are all known: their terms in one pass of C loops
            return list(dict.fromkeys(chain.from_iterable([known[word] for word in words])))
        except KeyError:
            return list(dict.fromkeys(chain.from_iterable(self.of_words(dict.fromkeys(words)))))


fts5_terms = Fts5Terms()
"""One per process: the SQL function on every SQLite connection and the query side share it."""
_last: tuple[str, bytes] = ("", b"[]")


def _sql_terms(text: str | None) -> bytes:
    """`session_engine_terms(text)`: the text's distinct terms as a JSON array (for `json_each`)."""
    global _last
    if text is None:
        return b"[]"
    # The delete trigger asks twice for the same text (two statements, no CTE in a trigger).
    last = _last
    if last[0] == text:
        return last[1]
    result = orjson.dumps(fts5_terms.of_text(text))
    _last = (text, result)
    return result


def ensure_sqlite_function(connection: Connection) -> None:
    """Register `session_engine_terms` on this connection's SQLite handle, once per handle.

    Called by the objects projection before it writes: its triggers need the function, whoever made
    the connection (the pool record's `info` lives as long as the database handle).
    """
    if connection.dialect.name != "sqlite" or connection.info.get(SQL_FUNCTION):
        return
    dbapi = connection.connection.dbapi_connection
    assert isinstance(dbapi, sqlite3.Connection)
    dbapi.create_function(SQL_FUNCTION, 1, _sql_terms, deterministic=True)
    connection.info[SQL_FUNCTION] = True


_T = message_terms.name
RECORDS = "session_records"
"""The records domain's table (named, not imported: that domain builds on this one). A new term row
copies its session's record status and isImported from it; the records side keeps them after."""
SQLITE_TERMS_DDL = (
    f"CREATE TRIGGER IF NOT EXISTS {_T}_ai AFTER INSERT ON messages BEGIN"
    f" INSERT INTO {_T}(namespace, session_id, term, messages, record_status, record_imported)"
    f" SELECT new.namespace, new.session_id, t.value, 1, r.status, r.is_imported"
    f" FROM json_each({SQL_FUNCTION}(new.text)) AS t LEFT JOIN {RECORDS} AS r"
    " ON r.namespace = new.namespace AND r.session_id = new.session_id WHERE true"
    " ON CONFLICT(namespace, term, session_id) DO UPDATE SET messages = messages + 1; END",
    # Emptied first (a projection's clear) there is nothing to decrement: skip tokenizing every row.
    f"CREATE TRIGGER IF NOT EXISTS {_T}_ad AFTER DELETE ON messages"
    f" WHEN EXISTS (SELECT 1 FROM {_T}) BEGIN"
    f" DELETE FROM {_T} WHERE namespace = old.namespace AND session_id = old.session_id AND messages <= 1"
    f" AND term IN (SELECT value FROM json_each({SQL_FUNCTION}(old.text)));"
    f" UPDATE {_T} SET messages = messages - 1"
    " WHERE namespace = old.namespace AND session_id = old.session_id"
    f" AND term IN (SELECT value FROM json_each({SQL_FUNCTION}(old.text))); END",
)
"""SQLite: row triggers, one upsert / decrement per distinct term of the message."""


def fresh_plan(statement: str, *, using: str = "", unless_empty: str = "") -> str:
    """The body of a trigger function running `statement`, planned afresh at each call.

    For a statement joining the transition table with a table that grows. A plpgsql statement is
    planned once per connection (with parameters, after five calls) and that plan then serves every
    later call: one made while the records were empty (an import's first page: every index ties)
    probed the wrong index and read all of the namespace's records per row once they had grown
    (an import's second page took seconds); one made for a replay's 20,000 rows would hash the
    whole table for each one-row write. `EXECUTE` plans each statement for its own sizes (a small
    cost per statement); JIT never pays for itself here. `unless_empty`: a transition table
    whose emptiness makes the call a no-op (nothing to plan).
    """
    skip = f" IF NOT EXISTS (SELECT FROM {unless_empty}) THEN RETURN NULL; END IF;" if unless_empty else ""
    args = f" USING {using}" if using else ""
    return f"SET jit = off AS $$ BEGIN{skip} EXECUTE $q${statement}$q${args}; RETURN NULL; END $$"


_LEXEMES = f"unnest(tsvector_to_array(to_tsvector('{FTS_CONFIG}'::regconfig, {{row}}.text))) AS t(term)"


def _postgres_term_rows(source: str) -> str:
    """The term rows of the messages in `source` (a table or a transition table), with their
    session's record filters. The record's session id is "C"-collated: compared as such, the lookup
    is its primary key."""
    return (
        f"SELECT n.namespace, n.session_id, t.term, count(*), r.status, r.is_imported FROM {source} n"
        f' LEFT JOIN {RECORDS} r ON r.namespace = n.namespace AND r.session_id = n.session_id COLLATE "C"'
        f" CROSS JOIN LATERAL {_LEXEMES.format(row='n')} GROUP BY 1, 2, 3, 5, 6"
    )


_TERM_COLUMNS = "namespace, session_id, term, messages, record_status, record_imported"


def postgres_terms_ddl(schema: str | None = None) -> tuple[str, ...]:
    """PostgreSQL: statement triggers over the transition tables - a bulk insert is one upsert.

    The functions name their tables unqualified (found on the search_path, as all the engine's SQL
    is): a scratch copy (`schema`) gets functions and triggers of its own.
    """
    prefix = "" if schema is None else f'"{schema}".'
    added, removed = f"{prefix}{_T}_added", f"{prefix}{_T}_removed"
    return (
        f"CREATE OR REPLACE FUNCTION {added}() RETURNS trigger LANGUAGE plpgsql "
        + fresh_plan(
            f"INSERT INTO {_T} AS m ({_TERM_COLUMNS}) {_postgres_term_rows(f'{_T}_new')}"
            " ON CONFLICT (namespace, term, session_id)"
            " DO UPDATE SET messages = m.messages + excluded.messages"
        ),
        # No "skip when the index is empty" test as on SQLite: after a clear, in the same transaction,
        # that test would walk every dead row, for each later delete statement of the replay.
        f"CREATE OR REPLACE FUNCTION {removed}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" WITH gone AS (SELECT o.namespace, o.session_id, t.term, count(*) AS n FROM {_T}_old o,"
        f" {_LEXEMES.format(row='o')} GROUP BY 1, 2, 3),"
        f" emptied AS (DELETE FROM {_T} m USING gone g WHERE m.namespace = g.namespace"
        " AND m.term = g.term AND m.session_id = g.session_id AND m.messages <= g.n)"
        f" UPDATE {_T} m SET messages = m.messages - g.n FROM gone g WHERE m.namespace = g.namespace"
        " AND m.term = g.term AND m.session_id = g.session_id AND m.messages > g.n;"
        " RETURN NULL; END $$",
        f"CREATE TRIGGER {_T}_ai AFTER INSERT ON {prefix}messages REFERENCING NEW TABLE AS {_T}_new"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {added}()",
        f"CREATE TRIGGER {_T}_ad AFTER DELETE ON {prefix}messages REFERENCING OLD TABLE AS {_T}_old"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {removed}()",
    )


term_index = DerivedIndex(
    triggers=(f"{_T}_ai", f"{_T}_ad"),
    fill=dialect_ddl(
        sqlite=[
            f"DELETE FROM {_T}",
            f"INSERT INTO {_T}({_TERM_COLUMNS})"
            f" SELECT m.namespace, m.session_id, t.value, count(*), r.status, r.is_imported"
            f" FROM messages AS m CROSS JOIN json_each({SQL_FUNCTION}(m.text)) AS t LEFT JOIN {RECORDS} AS r"
            " ON r.namespace = m.namespace AND r.session_id = m.session_id"
            " GROUP BY m.namespace, m.session_id, t.value",
        ],
        postgresql=lambda schema: [
            f"DELETE FROM {_T}",
            f"INSERT INTO {_T} ({_TERM_COLUMNS}) {_postgres_term_rows('messages')}",
        ],
    ),
)
"""The term index as its triggers leave it, from the final messages and records in one statement
(each message's terms are distinct, so a term's count is its sessions' messages holding it)."""

create_term_index = dialect_ddl(SQLITE_TERMS_DDL, postgres_terms_ddl)
"""`extra_ddl` for scratch copies: the triggers (the table itself is in the metadata)."""


def query_terms(connection: Connection, words: list[str]) -> list[tuple[str, ...]]:
    """Each query word's terms, the way the messages' text was indexed (order kept)."""
    if connection.dialect.name == "sqlite":
        return fts5_terms.of_words(words)
    config: sa.ColumnClause[Any] = sa.literal_column(f"'{FTS_CONFIG}'::regconfig")
    columns = [sa.func.tsvector_to_array(sa.func.to_tsvector(config, sa.literal(w, sa.Text))) for w in words]
    row = connection.execute(sa.select(*columns)).one()
    return [tuple(terms) for terms in row]
