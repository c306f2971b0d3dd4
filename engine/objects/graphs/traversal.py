"""The graph query language (a small Gremlin), compiled step by step into nested SQL.

Semantics (specs/objects.md): every step yields a *set* of elements; results are ordered by
creation; `limit` keeps the first n by creation. Each step is an indexed semi-join on the
previous step's subquery, so nothing is loaded into Python except the final, capped page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from session_engine.engine.log.bounds import MAX_BIGINT
from session_engine.engine.objects.answers import GraphCount, GraphResults
from session_engine.engine.objects.graphs import store as graph_store
from session_engine.engine.objects.graphs.errors import InvalidGraphQuery
from session_engine.engine.objects.graphs.queries import graph_id
from session_engine.engine.objects.graphs.tables import graph_elements as ge
from session_engine.engine.objects.graphs.tables import vertex_labels as vl
from session_engine.engine.objects.limits import MAX_ID, MAX_PAGE, MAX_QUERY_STEPS

MOVES = {"out": "vertex", "in": "vertex", "both": "vertex", "outE": "edge", "inE": "edge", "bothE": "edge"}
OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte")
TERMINALS = ("values", "properties", "project", "count")
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Query:
    kind: str
    start_id: str | None
    steps: list[list[Any]]
    terminal: list[Any] | None


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise InvalidGraphQuery(f"{what} must be a string of 1 to {MAX_ID} characters")
    return value


def parse_query(raw: Any) -> Query:
    """Check a query's shape and step typing (vertex steps on vertices, edge steps on edges)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("start"), list):
        raise InvalidGraphQuery("query must be {start: [...], steps: [...]}")
    start, steps = raw["start"], raw.get("steps", [])
    if not start or start[0] not in ("V", "E") or len(start) > 2:
        raise InvalidGraphQuery('start must be ["V"], ["E"], ["V", id] or ["E", id]')
    start_id = _label(start[1], "start id") if len(start) == 2 else None
    if not isinstance(steps, list) or len(steps) > MAX_QUERY_STEPS:
        raise InvalidGraphQuery(f"steps must be a list of at most {MAX_QUERY_STEPS} steps")
    kind = "vertex" if start[0] == "V" else "edge"
    checked: list[list[Any]] = []
    terminal: list[Any] | None = None
    for index, step in enumerate(steps):
        if not isinstance(step, list) or not step or not isinstance(step[0], str):
            raise InvalidGraphQuery(f"step {index} must be a non-empty list starting with its name")
        name, args = step[0], step[1:]
        if name in TERMINALS:
            if index != len(steps) - 1:
                raise InvalidGraphQuery(f"{name} must be the last step")
            terminal = _terminal(name, args)
            continue
        kind = _check_step(name, args, kind)
        checked.append(step)
    return Query("vertex" if start[0] == "V" else "edge", start_id, checked, terminal)


def _check_step(name: str, args: list[Any], kind: str) -> str:
    """Validate one step; returns the element kind it yields."""
    if name in MOVES:
        if kind != "vertex" or len(args) > 1:
            raise InvalidGraphQuery(f"{name} applies to vertices and takes an optional label")
        if args:
            _label(args[0], "edge label")
        return MOVES[name]
    if name in ("inV", "outV"):
        if kind != "edge" or args:
            raise InvalidGraphQuery(f"{name} applies to edges and takes no argument")
        return "vertex"
    if name == "hasLabel":
        if len(args) != 1:
            raise InvalidGraphQuery("hasLabel takes one label")
        _label(args[0], "label")
        return kind
    if name == "has":
        if len(args) != 3 or not isinstance(args[0], str) or args[1] not in OPERATORS:
            raise InvalidGraphQuery(f"has takes [key, op, value] with op in {', '.join(OPERATORS)}")
        key, _, value = args
        if not key or '"' in key or "\\" in key:
            raise InvalidGraphQuery('has: property keys must be non-empty, without " or \\')
        if not isinstance(value, str | int | float | bool | None):
            raise InvalidGraphQuery("has compares with a string, number, boolean or null")
        return kind
    if name == "limit":
        if len(args) != 1 or not isinstance(args[0], int) or isinstance(args[0], bool) or args[0] < 0:
            raise InvalidGraphQuery("limit takes one non-negative integer")
        return kind
    raise InvalidGraphQuery(f"unknown step {name!r}")


def _terminal(name: str, args: list[Any]) -> list[Any]:
    if name == "values" and (len(args) != 1 or not isinstance(args[0], str)):
        raise InvalidGraphQuery("values takes one property key")
    if name in ("properties", "count") and args:
        raise InvalidGraphQuery(f"{name} takes no argument")
    if name == "project" and (
        len(args) != 1 or not isinstance(args[0], list) or not all(isinstance(k, str) for k in args[0])
    ):
        raise InvalidGraphQuery("project takes a list of property keys")
    return [name, *args]


def _in(column: Any, stage: Select[Any]) -> ColumnElement[bool]:
    """Membership in the previous step's set: an indexed semi-join."""
    result: ColumnElement[bool] = column.in_(stage)
    return result


def compile_stage(query: Query, object_id: int, dialect: str) -> Select[Any]:
    """The SQL selecting the element ids of the last step's set: one CTE per step, each referenced once."""
    scope = ge.c.object_id == object_id
    first = sa.select(ge.c.element_id).where(scope, ge.c.type == query.kind)
    if query.start_id is not None:
        first = first.where(ge.c.element_id == query.start_id)
    current = first.cte("step0")
    kind = query.kind
    for index, (name, *args) in enumerate(query.steps, start=1):
        previous = sa.select(current.c.element_id)
        label = args[0] if args else None
        stage: Any
        if name in MOVES:
            parts = []
            base = name.rstrip("E")
            for end, other in (("from_id", "to_id"), ("to_id", "from_id")):
                if base == ("in" if end == "from_id" else "out"):
                    continue
                # No `type = 'edge'` here: only edges have endpoints, and it would tempt the planner
                # away from the (object_id, from_id / to_id) indexes.
                target = ge.c.element_id if name.endswith("E") else ge.c[other]
                part = sa.select(target.label("element_id")).where(scope, _in(ge.c[end], previous))
                if label is not None:
                    part = part.where(ge.c.label == label)
                parts.append(part)
            stage = parts[0] if len(parts) == 1 else sa.union(*parts)
        elif name in ("inV", "outV"):
            endpoint = ge.c.to_id if name == "inV" else ge.c.from_id
            stage = sa.select(endpoint.label("element_id")).where(scope, _in(ge.c.element_id, previous))
        elif name == "hasLabel" and kind == "vertex":
            stage = sa.select(vl.c.element_id).where(
                vl.c.object_id == object_id, vl.c.label == label, _in(vl.c.element_id, previous)
            )
        elif name == "hasLabel":
            stage = sa.select(ge.c.element_id).where(
                scope, _in(ge.c.element_id, previous), ge.c.label == label
            )
        elif name == "has":
            key, op, value = args
            stage = sa.select(ge.c.element_id).where(
                scope, _in(ge.c.element_id, previous), has_predicate(dialect, key, op, value)
            )
        else:  # limit; a larger one than SQL can bind keeps every element, as MAX_BIGINT does
            stage = (
                sa.select(ge.c.element_id)
                .where(scope, _in(ge.c.element_id, previous))
                .order_by(graph_store.SORTED_BY_CREATION)
                .limit(min(args[0], MAX_BIGINT))
            )
        current = stage.cte(f"step{index}")
        kind = MOVES.get(name, "vertex" if name in ("inV", "outV") else kind)
    return sa.select(current.c.element_id)


def _kind(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def has_predicate(dialect: str, key: str, op: str, value: Scalar) -> ColumnElement[bool]:
    """`has(key, op, value)`: numbers with numbers, strings with strings (by code point), else false."""
    kind = _kind(value)
    # An integer beyond SQL's 64 bits cannot be bound (SQLite's JSON reads such a property as a
    # double): then both sides are compared as doubles, on both backends alike.
    as_double = kind == "number" and not -MAX_BIGINT - 1 <= value <= MAX_BIGINT  # type: ignore[operator]
    if as_double:
        value = float(value)  # type: ignore[arg-type]
    compared: Any = value
    if dialect == "postgresql":
        node = sa.cast(ge.c.props, postgresql.JSON)[key]
        json_type: Any = sa.func.json_typeof(node)
        text = node.as_string()
        types = {"number": ["number"], "string": ["string"], "boolean": ["boolean"], "null": ["null"]}[kind]
        typed: Any = {
            "number": sa.case((json_type == "number", sa.cast(text, sa.Numeric)), else_=None),
            "string": text.collate("C"),
        }.get(kind, text)
        if kind == "boolean":
            compared = "true" if value else "false"
        by_type_only = kind == "null"
    else:
        path = f'$."{key}"'
        json_type = sa.func.json_type(ge.c.props, path)
        types = {
            "number": ["integer", "real"],
            "string": ["text"],
            "boolean": ["true" if value else "false"],
            "null": ["null"],
        }[kind]
        typed = sa.func.json_extract(ge.c.props, path)
        by_type_only = kind in ("null", "boolean")
    if as_double:
        typed = sa.cast(typed, sa.Double())
    same = json_type.in_(types)
    equal = same if by_type_only else sa.and_(same, typed == compared)
    if op == "eq":
        return equal
    if op == "neq":
        return sa.and_(json_type.is_not(None), sa.not_(equal))
    if kind not in ("number", "string"):
        return sa.false()
    compare = {"lt": typed < value, "lte": typed <= value, "gt": typed > value, "gte": typed >= value}[op]
    return sa.and_(same, compare)


def run_query(
    connection: Connection, namespace: str, session_id: str, alias: str, raw: Any
) -> GraphCount | GraphResults:
    """The count for a count query, otherwise the results (at most MAX_PAGE of them)."""
    query = parse_query(raw)
    object_id = graph_id(connection, namespace, session_id, alias)
    stage = compile_stage(query, object_id, connection.dialect.name)
    terminal = query.terminal or ["elements"]
    if terminal[0] == "count":
        counted = sa.select(sa.func.count()).where(ge.c.object_id == object_id, _in(ge.c.element_id, stage))
        total = connection.execute(counted).scalar()
        return GraphCount(int(total or 0))
    final = (
        sa.select(*graph_store.COLUMNS)
        .where(ge.c.object_id == object_id, _in(ge.c.element_id, stage))
        .order_by(graph_store.SORTED_BY_CREATION)
        .limit(MAX_PAGE + 1)
    )
    elements = [graph_store.to_element(row) for row in connection.execute(final)]
    truncated = len(elements) > MAX_PAGE
    elements = elements[:MAX_PAGE]
    if terminal[0] == "values":
        results: list[Any] = [e.props[terminal[1]] for e in elements if terminal[1] in e.props]
    elif terminal[0] == "properties":
        results = [{"element_id": e.element_id, "props": e.props} for e in elements]
    elif terminal[0] == "project":
        results = [{key: e.props.get(key) for key in terminal[1]} for e in elements]
    else:
        results = list(elements)
    return GraphResults(results, truncated)
