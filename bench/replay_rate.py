"""Replay rate: rebuild every projection from a log of N events (default 1,000,000).

The log (64 concurrently active sessions of 100 events each, ~200-byte payloads) is written
straight into the events table (fast set-up), then `Engine.rebuild()` drops
and rebuilds all read models from it, and the rate is events applied per second. The baseline in
the same run is a plain full scan of the same log through SQLAlchemy (the cost of just reading it),
and the floor of any replay that decodes every event in this process: the log read in pages on the
driver as a replay reads it, then read and decoded into events (rows per CPU second of each).

The engine runs with the opt-in streams catalog (`engine.catalog`), a projection of every event,
so every event of the log is applied by at least one projection. By default every event is of a
type no domain handles (`noted`), so only the catalog works: that measures reading the log.
`--values 0.5` makes half of them `value_set` events (eight keys per session, ~200-byte values),
so the values projection works too.

`--mix` writes a realistic log instead: each session's 100 events are its record (`session_record_set`
first, then updates; a quarter of sessions end deleted), a thread, a graph and a messages object
uploaded up front, then value sets (40%) and deletes (5%), thread item posts (20%), message appends
(5%), graph mutation batches (10%: vertices, edges, props, deletions), re-uploads of a `message`
draft or of the thread (keep_children) (5%), record updates (5%) and `noted` events (10%), with a
new commit instant every 4 events. Payloads are what the domains' decisions record (graph changes
computed by the same `Workspace`), so every projection works as it would on a real server's log.

    python -m bench.replay_rate [--events 1000000] [--backends sqlite,postgres] [--values 0] [--mix]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson
import sqlalchemy as sa

from bench.common import Stopwatch, database, payload, show
from session_engine.engine import Engine
from session_engine.engine.backends import Backend, normalise_url
from session_engine.engine.catalog import catalog_domain
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.log.schema import events
from session_engine.engine.objects.graphs.operations import (
    Element,
    Workspace,
    dump_operations,
    parse_operations,
)
from session_engine.engine.projections.rebuild import REPLAY_PAGE, collector_paused

ACTIVE = 64
LIFETIME = 100


def session_of(n: int) -> tuple[str, int]:
    """Stream and version of event n: 64 sessions are active at a time, each lives 100 events.

    That is a server with 64 concurrent conversations; sessions start and end continuously.
    """
    slot, turn = (n - 1) % ACTIVE, (n - 1) // ACTIVE
    generation, version = divmod(turn, LIFETIME)
    return f"s{generation}-{slot}", version + 1


def value_set(version: int) -> str:
    """The data of a `value_set` event at this stream version (keys cycle through eight names)."""
    key = f"k{version % 8}"
    value = payload(170)
    return orjson.dumps({"key": key, "value": value, "size": 200, "replaced": version > 8}).decode()


WORDS = ("apple", "river", "stone", "cloud", "paper", "light", "music", "garden", "window", "forest")


def words(n: int, count: int) -> str:
    return " ".join(WORDS[(n * 7 + i * 5) % len(WORDS)] for i in range(count))


def text_message(role: str, n: int) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": words(n, 12)}]}


def record(stream: str, n: int, status: str, activity: int) -> dict[str, Any]:
    return {
        "sessionId": stream,
        "createdAt": 1_700_000_000_000 + n,
        "lastActivityAt": 1_700_000_000_000 + activity,
        "agents": [
            {
                "agentId": f"a-{stream}",
                "adapterId": "claude",
                "adapterName": "Claude",
                "sessionId": stream,
                "role": "lead",
                "status": "active",
                "createdAt": 1,
                "lastActivityAt": 2,
            }
        ],
        "status": status,
        "adapterSessionId": f"ad-{stream}",
        "title": f"Session {stream} about {words(n, 2)}",
    }


@dataclass
class Session:
    """What a session's next command would see: its objects, live keys, graph and record."""

    objects: dict[str, tuple[int, str]] = field(default_factory=dict)
    ordinals: int = 0
    keys: set[str] = field(default_factory=set)
    graph: dict[str, Element] = field(default_factory=dict)
    vertices: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None


# The shape of a session's life from version 5 on, by version % 20 (version 1-4 set it up).
SCRIPT = (
    *("value_set", "post", "value_set", "append", "value_set", "post", "value_set", "graph", "value_set"),
    *("post", "value_set", "upload", "value_set", "post", "value_set", "graph", "value_deleted"),
    *("update", "noted", "noted"),
)
NOTED = orjson.dumps(payload()).decode()


def mixed_event(n: int, stream: str, version: int, at: datetime, state: Session) -> tuple[str, Any]:
    """Type and data of event n (version `version` of `stream`), as the domain's decision records it."""
    if version == 1:
        state.record = record(stream, n, "active", n)
        return "session_record_set", {"record": state.record, "previous_status": None}
    if version in (2, 3, 4):
        alias, value = {
            2: ("chat", {"type": "thread", "thread": {"attributes": {"title": words(n, 3)}}}),
            3: ("memory", {"type": "graph", "graph": {"attributes": {}}}),
            4: (
                "conversation",
                {"type": "messages", "messages": [text_message("system", n), text_message("user", n)]},
            ),
        }[version]
        state.objects[alias] = (n, value["type"])
        if version == 4:
            state.ordinals = 2
        return "objects.object_uploaded", {
            "alias": alias,
            "value": value,
            "previous": None,
            "keep_children": False,
        }
    assert state.record is not None
    if version == LIFETIME:  # the session ends: its record closed, or deleted
        if n % 4 == 0:
            return "session_record_deleted", {"status": state.record["status"]}
        return record_update(state, n, "closed")
    kind = SCRIPT[version % 20]
    if kind == "value_set":
        key = f"k{(version * 3) % 11}"
        replaced = key in state.keys
        state.keys.add(key)
        expires = (at + timedelta(hours=1)).isoformat() if version % 7 == 0 else None
        value = {"text": words(n, 4), "n": n, "tags": ["a", "b"], "pad": "x" * 120}
        data = {"key": key, "value": value, "size": 200, "expires_at": expires, "replaced": replaced}
        return "value_set", data
    if kind == "value_deleted" and state.keys:
        key = min(state.keys)
        state.keys.discard(key)
        return "value_deleted", {"key": key}
    if kind == "post":
        object_id = state.objects["chat"][0]
        content: list[dict[str, Any]] = [{"type": "text", "text": words(n, 10)}]
        if version % 3 == 0:
            content.append({"type": "json", "json": {"n": n}})
        metadata = {"role": "assistant" if version % 2 else "user"} if version % 5 else None
        data = {
            "alias": "chat",
            "object_id": object_id,
            "item_id": f"i{n}",
            "user_id": "u1" if version % 2 else None,
            "content": content,
            "parent_id": None,
            "metadata": metadata,
        }
        return "objects.thread_item_posted", data
    if kind == "append":
        object_id = state.objects["conversation"][0]
        messages = [text_message("assistant", n), text_message("user", n + 1)]
        first, state.ordinals = state.ordinals, state.ordinals + 2
        data = {"alias": "conversation", "object_id": object_id, "first_ordinal": first, "messages": messages}
        return "objects.messages_appended", data
    if kind == "graph":
        return "objects.graph_mutated", graph_mutation(state, n, version, at)
    if kind == "upload":
        alias, value = "draft", {"type": "message", "message": text_message("user", n)}
        if version % 40 == 31:
            alias, value = "chat", {"type": "thread", "thread": {"attributes": {"title": words(n, 3)}}}
        previous = state.objects.get(alias)
        keep = previous is not None and previous[1] == "thread"
        if not keep:
            state.objects[alias] = (n, value["type"])
        old = None if previous is None else {"object_id": previous[0], "type": previous[1]}
        return "objects.object_uploaded", {
            "alias": alias,
            "value": value,
            "previous": old,
            "keep_children": keep,
        }
    if kind == "update":
        return record_update(state, n, "active" if version % 40 < 20 else "archived")
    return "noted", NOTED


def record_update(state: Session, n: int, status: str) -> tuple[str, Any]:
    assert state.record is not None
    before = state.record
    changes = {"status": status, "lastActivityAt": 1_700_000_000_000 + n}
    state.record = {**before, **changes}
    return "session_record_updated", {
        "changes": changes,
        "record": state.record,
        "previous_status": before["status"],
    }


def graph_mutation(state: Session, n: int, version: int, at: datetime) -> dict[str, Any]:
    """A batch of 2-4 operations on the session's graph, named and checked by the same Workspace."""
    raw: list[dict[str, Any]] = [
        {
            "op": "add_vertex",
            "labels": ["Note", "Topic"] if n % 2 else ["Note"],
            "element_id": f"v{n}",
            "props": {"title": words(n, 3), "n": n},
        },
    ]
    alive = [v for v in state.vertices if v in state.graph]
    if alive:
        raw.append(
            {
                "op": "add_edge",
                "label": "about",
                "from_id": f"v{n}",
                "to_id": alive[-1],
                "element_id": f"e{n}",
                "props": {"weight": n % 10},
            }
        )
        raw.append({"op": "set_vertex_props", "element_id": alive[0], "props": {"seen": n}})
    if len(alive) > 4 and version % 3 == 0:
        raw.append({"op": "delete_vertex", "element_id": alive[1]})
    operations = parse_operations(raw)
    graph = state.graph
    workspace = Workspace(
        load=lambda ids: {i: graph[i] for i in ids if i in graph},
        incident=lambda vertex: {i: e for i, e in graph.items() if vertex in (e.from_id, e.to_id)},
    )
    changes = workspace.apply(operations, at=at, user_id="u1", seq_base=n * 4096)
    for element_id in workspace.touched:
        element = workspace.elements[element_id]
        if element is None:
            graph.pop(element_id, None)
        else:
            graph[element_id] = element
    state.vertices.append(f"v{n}")
    return {
        "alias": "memory",
        "object_id": state.objects["memory"][0],
        "user_id": "u1",
        "operations": dump_operations(operations),
        "changes": [asdict(change) for change in changes],
    }


def mixed_rows(count: int, backend: Backend) -> Iterator[tuple[Any, ...]]:
    """The rows of a realistic log of `count` events (see the module docstring)."""
    sessions: dict[str, Session] = {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(1, count + 1):
        stream, version = session_of(n)
        at = start + timedelta(milliseconds=3 * ((n - 1) // 4))  # one commit per 4 events
        state = sessions.setdefault(stream, Session())
        type_, data = mixed_event(n, stream, version, at, state)
        if version == LIFETIME:
            del sessions[stream]
        body = data if isinstance(data, str) else orjson.dumps(data).decode()
        # No chain hash: a replay does not read it, and this log is written below the engine.
        yield (
            n,
            "bench",
            stream,
            version,
            type_,
            1,
            body,
            "{}",
            None,
            backend.stored_instant(at),
            None,
            None,
        )


def fill(url: str, count: int, values: float = 0.0, mix: bool = False) -> dict[str, int]:
    """Write the log; returns how many events of each type it holds."""
    backend = Backend.for_url(url, durability="off")
    engine = backend.create_engine(writer=True)
    data = orjson.dumps(payload()).decode()
    every = round(1 / values) if values else 0  # every n-th event is a value_set
    now = backend.stored_instant(datetime.now(UTC))
    types: dict[str, int] = {}
    try:
        with engine.begin() as connection:
            chunk = 50_000
            if mix:
                rows = []
                for row in mixed_rows(count, backend):
                    types[row[4]] = types.get(row[4], 0) + 1
                    rows.append(row)
                    if len(rows) == chunk:
                        backend.insert_events(connection, rows)
                        rows = []
                if rows:
                    backend.insert_events(connection, rows)
                return types
            for start in range(1, count + 1, chunk):
                rows = []
                for n in range(start, min(count, start + chunk - 1) + 1):
                    stream, version = session_of(n)
                    valued = every and n % every == 0
                    type_, body = ("value_set", value_set(version)) if valued else ("noted", data)
                    rows.append((n, "bench", stream, version, type_, 1, body, "{}", None, now, None, None))
                    types[type_] = types.get(type_, 0) + 1
                backend.insert_events(connection, rows)
        return types
    finally:
        engine.dispose()


def scan(url: str) -> float:
    engine = sa.create_engine(normalise_url(url))
    try:
        with Stopwatch() as watch, engine.connect() as connection:
            result = connection.execution_options(yield_per=5000).execute(sa.select(events))
            count = sum(1 for _ in result)
        return count / watch.seconds
    finally:
        engine.dispose()


def read_and_decode(url: str) -> tuple[float, float]:
    """The floor of any replay in this design, in rows per CPU second of this process: the log read
    in pages on the driver as a replay reads it (`read_page`), then (second) the same read with every
    event decoded as a replay decodes it (`LogRows.events`), before any projection's work or write."""
    backend = Backend.for_url(url)
    engine = backend.create_engine(writer=False)
    rates = []
    try:
        for decode in (False, True):
            with engine.connect() as connection:
                upto, position, count, cpu = reads.head(connection), 0, 0, time.process_time()
                while position < upto:
                    with collector_paused():  # as in a replay: a page's objects die with it
                        page = reads.read_page(
                            connection, backend, EventRegistry(), after=position, upto=upto, limit=REPLAY_PAGE
                        )
                        if decode:
                            page.events()
                    count += len(page.rows)
                    position = page.rows[-1][0]
                rates.append(count / (time.process_time() - cpu))
        return rates[0], rates[1]
    finally:
        engine.dispose()


async def rebuild(url: str) -> tuple[int, float, float]:
    """Events applied, per second of wall clock, and per second of this process's CPU (every thread's:
    on a loaded machine the wall clock counts the other processes' turns too; PostgreSQL's own work
    is in its server processes, not here)."""
    async with Engine.open(url, extra_domains=[catalog_domain]) as engine:
        cpu = time.process_time()
        with Stopwatch() as watch:
            applied = await engine.rebuild()
        return applied, applied / watch.seconds, applied / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--values", type=float, default=0.0, help="share of value_set events (0-1)")
    parser.add_argument("--mix", action="store_true", help="a realistic mix of every domain's events")
    args = parser.parse_args()
    results = []
    types: dict[str, int] = {}
    for backend in args.backends.split(","):
        with database(backend) as url:
            types = fill(url, args.events, args.values, args.mix)
            applied, rate, cpu_rate = anyio.run(rebuild, url)
            results.append((backend, f"{applied:,}", rate, cpu_rate, scan(url), *read_and_decode(url)))
    if args.mix:
        show(
            "The mixed log",
            ["event type", "share"],
            [(t, f"{c / args.events:.1%}") for t, c in sorted(types.items())],
        )
    show(
        f"Replay: rebuild every projection from {args.events:,} events"
        + (" (mixed)" if args.mix else f" ({args.values:.0%} value_set)" if args.values else ""),
        [
            "backend",
            "events applied",
            "replay events/s",
            "per CPU second here",
            "plain scan rows/s (baseline)",
            "read as a replay reads, rows per CPU s",
            "read and decoded, rows per CPU s (the floor)",
        ],
        results,
    )


if __name__ == "__main__":
    main()
