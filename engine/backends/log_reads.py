"""The log's reads in driver SQL: a page of the log, a page with chosen payloads, one stream's
rows, and the rows the hash chain covers (`LogReads`, mixed into `Backend`).

The SQL is built here once for both databases, with the backend's parameter marker (`mark`);
a backend changes a piece of it by overriding `_document_text`, `_type_among` or `_cursor`
(PostgreSQL does). The rows come back as driver tuples: SQLAlchemy's result processing would cost
more than the read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.engine import Connection

LogRow = tuple[int, str, str, int, str, int, Any, Any, Any, bytes | None]
"""A log row as the driver returns it: position, namespace, stream, version, type, schema_version,
data, metadata, recorded_at (JSON as text and the instant as stored text on SQLite), and the
payload's sealed bytes (engine/log/sealing.py; None unless sealed so)."""
_LOG_ROW = "position, namespace, stream, version, type, schema_version, data, metadata, recorded_at, sealed"

StreamRow = tuple[int, int, str, int, Any, Any, Any]
"""A row of one stream's read: position, version, type, schema_version, data, metadata, recorded_at.

Every column a driver hands back costs per row (in sqlite3 a GIL release and SQLite's mutex per
column call), so a stream's read leaves out what it knows (namespace and stream) and what is
nearly always NULL (`sealed`: a sealed row's `data` says `sealing.STORED_AS_BYTES`, and its bytes
are read by `sealed_payloads` when one is met). The documents come as JSON text (the metadata as
None when it is the usual `{}`: no text to make and decode), or decoded when the driver decodes
them (SQLite's converters), and the instant as stored (`schema.instant_from_stored`
makes it aware) or already aware."""


class LogReads:
    """The log's page and stream reads of a `Backend`."""

    mark: ClassVar[str]
    """The driver's positional parameter marker."""

    stored_instant: Callable[[datetime], Any]
    """`Backend.stored_instant`: a stream read's `until` in its stored form."""

    def read_log(
        self,
        connection: Connection,
        *,
        after: int,
        limit: int,
        upto: int | None = None,
        namespace: str | None = None,
        stream: str | None = None,
        types: Sequence[str] | None = None,
    ) -> Sequence[LogRow]:
        """A page of the log's rows in position order, strictly after `after` (`types`: not empty)."""
        p = self.mark
        sql = f"SELECT {_LOG_ROW} FROM events WHERE position > {p}"
        params: list[Any] = [after]
        if upto is not None:
            sql += f" AND position <= {p}"
            params.append(upto)
        if namespace is not None:
            sql += f" AND namespace = {p}"
            params.append(namespace)
        if stream is not None:
            sql += f" AND stream = {p}"
            params.append(stream)
        if types is not None:
            sql += f" AND type IN ({', '.join([p] * len(types))})"
            params.extend(types)
        sql += f" ORDER BY position LIMIT {int(limit)}"
        return connection.exec_driver_sql(sql, tuple(params)).fetchall()  # type: ignore[return-value]

    def read_log_page(
        self,
        connection: Connection,
        *,
        after: int,
        upto: int,
        limit: int,
        types: Collection[str] | None,
        payloads: Collection[str] | None,
    ) -> list[LogRow]:
        """Up to `limit` rows in (after, upto] (of `types` only, unless None: not empty), with the
        data and metadata of `payloads` types only (all when None; the others read as NULL)."""
        params: list[Any] = []
        text = self._document_text
        if payloads is None:
            data, metadata, sealed = text.format("data"), text.format("metadata"), "sealed"
        elif not payloads:
            data = metadata = sealed = "NULL"
        else:
            data, metadata, sealed = (
                f"CASE WHEN {self._type_among(payloads, params)} THEN {column} END"
                for column in (text.format("data"), text.format("metadata"), "sealed")
            )
        p = self.mark
        sql = (
            f"SELECT position, namespace, stream, version, type, schema_version, {data}, {metadata},"
            f" recorded_at, {sealed} FROM events WHERE position > {p} AND position <= {p}"
        )
        params.extend([after, upto])
        if types is not None:
            sql += f" AND {self._type_among(types, params)}"
        sql += f" ORDER BY position LIMIT {int(limit)}"
        return self._driver_rows(connection, sql, params)

    _stream_row: ClassVar[str] = "position, version, type, schema_version, data, metadata, recorded_at"
    """The columns of a `StreamRow`, each in the form its driver hands over fastest (SQLite's
    documents decoded by sqlite3 itself, PostgreSQL's as text)."""

    def read_stream_rows(
        self,
        connection: Connection,
        namespace: str,
        stream: str,
        *,
        from_version: int,
        to_version: int | None,
        to_position: int | None,
        until: datetime | None,
        types: Collection[str] | None,
        limit: int | None,
        descending: bool,
        alone: bool = False,
    ) -> Sequence[StreamRow]:
        """One stream's rows in version order (or reversed), cut off as asked: driver tuples read
        on the unique (namespace, stream, version) index, as `read_log_page` reads the log's.

        `alone`: the caller runs no other statement that must see the same state, so on a
        connection with no transaction open the read runs as a statement of its own (on PostgreSQL
        that spares the round trips of a BEGIN and of the ROLLBACK when the connection goes back)."""
        p = self.mark
        sql = f"FROM events WHERE namespace = {p} AND stream = {p} AND version >= {p}"
        params: list[Any] = [namespace, stream, from_version]
        for column, bound in (("version", to_version), ("position", to_position)):
            if bound is not None:
                sql += f" AND {column} <= {p}"
                params.append(bound)
        if until is not None:
            sql += f" AND recorded_at <= {p}"
            params.append(self.stored_instant(until))
        if types is not None:
            sql += f" AND {self._type_among(types, params)}" if types else " AND 1 = 0"
        if descending or limit is not None:
            return self._stream_rows(connection, sql, params, descending=descending, limit=limit, alone=alone)
        return self._whole_stream_rows(connection, sql, params, alone=alone)

    def _stream_rows(
        self,
        connection: Connection,
        where: str,
        params: list[Any],
        *,
        descending: bool = False,
        limit: int | None = None,
        alone: bool,
    ) -> list[StreamRow]:
        """The rows of a stream's read (`where`: its FROM and WHERE), one driver row per event."""
        sql = f"SELECT {self._stream_row} {where} ORDER BY version{' DESC' if descending else ''}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._driver_rows(connection, sql, params, alone=alone)

    def _whole_stream_rows(
        self, connection: Connection, where: str, params: list[Any], *, alone: bool
    ) -> Sequence[StreamRow]:
        """Every row of a stream's read, in version order: how most reads of a session read it
        (SQLite reads them as columns, `SqliteBackend._whole_stream_rows`)."""
        return self._stream_rows(connection, where, params, alone=alone)

    def sealed_payloads(
        self, connection: Connection, namespace: str, stream: str, first: int, last: int
    ) -> dict[int, bytes]:
        """The sealed bytes of a stream's events from version `first` to `last`, by version (the
        rows a `StreamRow` read found sealed: few streams have any)."""
        p = self.mark
        sql = (
            f"SELECT version, sealed FROM events WHERE namespace = {p} AND stream = {p}"
            f" AND version >= {p} AND version <= {p} AND sealed IS NOT NULL"
        )
        rows = self._driver_rows(connection, sql, [namespace, stream, first, last])
        return {version: bytes(sealed) for version, sealed in rows}

    def _driver_rows(
        self, connection: Connection, sql: str, params: list[Any], *, alone: bool = False
    ) -> list[Any]:
        """The rows of a log read as driver tuples, not Row objects: SQLAlchemy's result processing
        would cost more than the read.

        In the connection's transaction, begun here if none is open (what SQLAlchemy's autobegin
        does before its own first statement); `alone` with none open: as a statement of its own,
        outside any transaction of SQLAlchemy's (`_cursor`)."""
        alone = alone and not connection.in_transaction()
        if not alone and not connection.in_transaction():
            connection.begin()
        with self._cursor(connection.connection.driver_connection, alone=alone) as cursor:
            cursor.execute(sql, tuple(params))
            rows: list[Any] = cursor.fetchall()
        return rows

    @contextmanager
    def _cursor(self, driver_connection: Any, *, alone: bool) -> Iterator[Any]:
        """A cursor of the driver's connection for one read (`alone`: a statement of its own; on
        SQLite, out of pysqlite's transaction control, it runs in a read transaction of its own)."""
        cursor = driver_connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    _document_text: ClassVar[str] = "{}"
    """A JSON column as the exact text stored (a format of the column's name)."""

    def read_chain(
        self, connection: Connection, *, after: int, limit: int, upto: int | None = None
    ) -> Sequence[tuple[Any, ...]]:
        """A page of rows as the hash chain covers them, in position order after `after`: position,
        namespace, stream, version, type, schema_version, the data and metadata as their stored
        JSON text, recorded_at as stored, the stored hash, and the payload's sealed bytes (None
        unless sealed so: engine/log/sealing.py)."""
        p, text = self.mark, self._document_text
        sql = (
            "SELECT position, namespace, stream, version, type, schema_version,"
            f" {text.format('data')}, {text.format('metadata')}, recorded_at, hash, sealed"
            f" FROM events WHERE position > {p}"
        )
        params: list[Any] = [after]
        if upto is not None:
            sql += f" AND position <= {p}"
            params.append(upto)
        sql += f" ORDER BY position LIMIT {int(limit)}"
        return connection.exec_driver_sql(sql, tuple(params)).fetchall()  # type: ignore[return-value]

    def _type_among(self, values: Collection[str], params: list[Any]) -> str:
        params.extend(values)
        return f"type IN ({', '.join([self.mark] * len(values))})"
