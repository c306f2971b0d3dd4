"""Reading and rewriting SQLite DDL as text: quoting identifiers, renaming a table, index or trigger
in its own `CREATE`, and the names in a trigger's body, never inside string literals. The live
rebuild's shadows are the live tables' DDL under other names (engine/backends/sqlite_shadows.py)."""

from __future__ import annotations

import re
from typing import Any

_STRING = re.compile(r"'(?:[^']|'')*'")


def column_list(columns: list[str]) -> str:
    return ", ".join(map(quote, columns))


def placeholders(columns: list[str]) -> str:
    return ", ".join("?" * len(columns))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def like(suffix: str) -> str:
    """A LIKE pattern (with `ESCAPE '\\'`) for names ending in `suffix`."""
    return "%" + suffix.replace("_", "\\_")


def on_table(sql: str) -> str | None:
    """The table a trigger is on."""
    found = re.search(r"\bON\s+[\"`]?(\w+)", _STRING.sub("''", sql), re.IGNORECASE)
    return found.group(1) if found else None


def rename_head(sql: str, old: str, new: str) -> str:
    """`CREATE [UNIQUE|VIRTUAL] TABLE|INDEX|TRIGGER old ...` as `... new ...`."""
    head = r"^(CREATE\s+(?:UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?)"
    pattern = head + rf"[\"`']?{re.escape(old)}[\"`']?"
    renamed, count = re.subn(pattern, lambda m: m.group(1) + quote(new), sql, count=1, flags=re.IGNORECASE)
    if count != 1:
        raise ValueError(f"cannot rename {old} in {sql[:80]!r}")
    return renamed


def rename_on(sql: str, old: str, new: str) -> str:
    """An index's or trigger's `ON old` as `ON new` (the first one, outside string literals)."""
    pattern = rf"(\bON\s+)[\"`]?{re.escape(old)}[\"`]?(?=[\s(])"
    return _outside_strings(
        sql,
        lambda part: re.sub(pattern, lambda m: m.group(1) + quote(new), part, count=1, flags=re.IGNORECASE),
    )


def rename_words(sql: str, renames: dict[str, str]) -> str:
    """Every identifier that `renames` names renamed, outside string literals."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
    return _outside_strings(sql, lambda part: pattern.sub(lambda m: renames[m.group(1)], part))


def _outside_strings(sql: str, change: Any) -> str:
    parts, at = [], 0
    for literal in _STRING.finditer(sql):
        parts.append(change(sql[at : literal.start()]))
        parts.append(literal.group(0))
        at = literal.end()
    parts.append(change(sql[at:]))
    return "".join(parts)


def writes_into(sql: str, tables: set[str]) -> bool:
    """True when a trigger's body inserts into, updates or deletes from one of `tables`."""
    targets = re.findall(
        r"(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+[\"`]?(\w+)", sql, re.IGNORECASE
    )
    return any(target in tables for target in targets)
