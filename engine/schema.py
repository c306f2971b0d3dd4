"""The complete schema: the log's tables plus every domain's read-model tables, on one MetaData."""

from __future__ import annotations

from sqlalchemy import MetaData

from session_engine.engine.log.schema import metadata


def all_metadata() -> MetaData:
    """The metadata with every domain's tables registered (importing the domains registers them)."""
    from session_engine.engine import parking  # noqa: F401 - declares `parked_sessions` (not a domain's)
    from session_engine.engine.modules import domains

    domains()
    return metadata


def extra_tables() -> set[str]:
    """Tables that migrations create outside the metadata (FTS indexes and their shadow tables)."""
    from session_engine.engine.modules import domains

    return {name for domain in domains() for p in domain.projections for name in p.extra_tables}
