"""Every bound of the objects domain in one place (documented in specs/objects.md)."""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine import ids

MAX_ID = ids.MAX_ID
"""Scopes, session ids, aliases, item ids, element ids, labels: 1..200 characters."""
MAX_VALUE_BYTES = 1024 * 1024
"""An uploaded envelope value, serialised as JSON."""
MAX_MESSAGES = 10_000
"""Messages in one `messages` upload or in one append; the id scheme allows up to 65,535."""
MAX_APPEND_BYTES = 1024 * 1024
MAX_THREAD_ITEM_BYTES = 64 * 1024
"""A thread item's content plus metadata, serialised as JSON."""
MAX_CONTENT_BLOCKS = 256
MAX_OPERATIONS = 1000
"""Operations in one graph mutation batch (must stay below SEQ_STRIDE)."""
MAX_MUTATION_BYTES = 1024 * 1024
MAX_PROPS_BYTES = 64 * 1024
"""One element's props after a mutation, serialised as JSON."""
MAX_LABELS = 16
MAX_PAGE = 1000
"""Largest page any list or query returns; bigger requested limits are capped."""
DEFAULT_THREAD_PAGE = 50
DEFAULT_GRAPH_PAGE = 100
MAX_NEIGHBOR_SOURCES = 1000
MAX_GET_MANY = 1000
MAX_QUERY_STEPS = 32
MAX_SEARCH_QUERY = 1000

SEQ_STRIDE = 4096
"""Graph elements order by `position * SEQ_STRIDE + operation index`."""
ROW_STRIDE = 65536
"""Message rows are keyed by `position * ROW_STRIDE + index within the event`."""
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""The column type of keys made with a stride (a 64-bit integer; SQLite's INTEGER is one)."""


def page_size(limit: int | None, default: int) -> int:
    """The server caps every page: None means the default, anything above MAX_PAGE means MAX_PAGE."""
    if limit is None:
        return default
    return max(1, min(int(limit), MAX_PAGE))
