"""No branching on the database's name outside the backend classes (`engine/backends/`).

Whatever differs between SQLite and PostgreSQL is a method of `SqliteBackend` / `PostgresBackend`
(specs/engine-core.md, "Backends"); the rest of the engine and the adapters ask their backend. The
few other places that may look at the dialect are named below with their reason; an allowance
that is no longer used must go, so the list only shrinks.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("engine", "adapters")

BRANCHING = re.compile(
    r"is_sqlite"
    r"|dialect\.name"
    r"|get_backend_name\(\)"
    r"|\bdialect\s*[=!]="
    r"|\.name\s*[=!]=\s*[\"'](sqlite|postgresql|postgres)[\"']"
    r"|[=!]=\s*[\"'](sqlite|postgresql|postgres)[\"']"
    r"|[\"'](sqlite|postgresql)[\"']\s*:"  # SQL kept in a dict by dialect name
)

BACKENDS = "engine/backends/"
"""The backend classes: the one place for what differs between the databases."""

ALLOWED = {
    # Column types: SQLAlchemy hands a type the dialect it binds for.
    "engine/log/schema.py": "UtcDateTime binds naive instants on SQLite",
    "engine/values/tables.py": "JsonValue is JSONB on PostgreSQL and TEXT on SQLite",
    # Domain queries whose SQL differs by database. They are the domains' own query logic, to be
    # moved behind their backends when the domains are reshaped (issue #17, items 1-3).
    "engine/records/queries.py": "full-text title search (FTS5 / trigrams), collations, planner settings",
    "engine/objects/search/queries.py": "message search (FTS5 / tsvector) and a planner hint on SQLite",
    "engine/objects/search/terms.py": "the term index's SQLite function and triggers",
    "engine/objects/graphs/traversal.py": "graph traversal statements per database",
    "engine/objects/envelopes/queries.py": "alias order in the C collation on PostgreSQL",
    "engine/values/queries.py": "the SQLite point read that skips SQLAlchemy",
}


def _branching_files() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if BRANCHING.search(line):
                    found.setdefault(relative, []).append(f"{relative}:{number}: {line.strip()}")
    return found


def test_only_the_backend_classes_branch_on_the_database() -> None:
    found = _branching_files()
    outside = [
        line
        for relative, lines in found.items()
        if not relative.startswith(BACKENDS) and relative not in ALLOWED
        for line in lines
    ]
    assert outside == [], "branching on the database's name outside engine/backends/:\n" + "\n".join(outside)


def test_every_allowance_is_still_needed() -> None:
    found = _branching_files()
    stale = sorted(relative for relative in ALLOWED if relative not in found)
    assert stale == [], f"these files no longer branch on the database: drop them from ALLOWED: {stale}"


def test_the_pattern_sees_the_old_forms() -> None:
    """The forms the engine used before the backend classes, so the scan would have caught them."""
    for line in (
        "if self.backend.is_sqlite:",
        'p = "?" if connection.dialect.name == "sqlite" else "%s"',
        'if context.dialect == "postgresql":',
        'UPSERT = {"sqlite": _UPSERT.format(p="?"), "postgresql": _UPSERT.format(p="%s")}',
        'if backend.name == "sqlite":',
    ):
        assert BRANCHING.search(line), line
