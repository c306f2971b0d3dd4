"""Every event gets `hash`, chained to the previous event's (engine/log/chain.py, specs/audit.md).

Revision ID: 0011_event_hashes
Revises: 0006_events_idempotency_partial
Create Date: 2026-12-05

The column is added, then the chain is computed over the existing rows in position order, a page
at a time, from the exact stored text of their documents; the new writer carries it on from the
head. Downgrade drops the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.chain import GENESIS, hash_stored_row

revision: str = "0011_event_hashes"
down_revision: str | Sequence[str] | None = "0006_events_idempotency_partial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 5000


def upgrade() -> None:
    op.add_column("events", sa.Column("hash", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    postgres = connection.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    text = "{}::text" if postgres else "{}"  # psycopg would parse json; the hash covers its text
    select = (
        "SELECT position, namespace, stream, version, type, schema_version,"
        f" {text.format('data')}, {text.format('metadata')}, recorded_at"
        f" FROM events WHERE position > {mark} ORDER BY position LIMIT {PAGE}"
    )
    update = f"UPDATE events SET hash = {mark} WHERE position = {mark}"
    previous, after = GENESIS, 0
    while True:
        rows = connection.exec_driver_sql(select, (after,)).fetchall()
        if not rows:
            return
        hashes = []
        for row in rows:
            previous = hash_stored_row(previous, tuple(row))
            hashes.append((previous, row[0]))
        connection.exec_driver_sql(update, hashes)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_column("events", "hash")
