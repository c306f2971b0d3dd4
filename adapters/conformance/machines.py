"""Hypothesis state machines that drive a target over the wire and compare every answer with a model.

Each machine class is bound to a target by `bind` (a subclass with `target`, `options` and an
optional `clock`). Every example starts from fresh sessions: the value protocols use session ids with
a per-example token, so a server that serves other traffic (or earlier examples) does not disturb
the comparison; the bus machine owns its namespace (it deletes its five session ids first).

A `clock` (an object with `now()` and `advance(seconds)`, e.g. the engine's ManualClock driving the
server) lets the machines move time, which checks TTLs and expiry; without one, every TTL and expiry
the machines choose is far enough from now that nothing expires during a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from session_engine.adapters.conformance import strategies as records
from session_engine.adapters.conformance.models import graph as graph_model
from session_engine.adapters.conformance.models import objects as objects_model
from session_engine.adapters.conformance.models import records as records_model
from session_engine.adapters.conformance.models import values
from session_engine.adapters.conformance.options import Options
from session_engine.adapters.conformance.wire import (
    BusClient,
    CacheClient,
    Disagreement,
    HttpClient,
    Target,
    Transcript,
    check,
)


class SteppedClock(Protocol):
    def now(self) -> datetime: ...
    def advance(self, seconds: float = 0.0) -> datetime: ...


class WireMachine(RuleBasedStateMachine):
    target: ClassVar[Target]
    options: ClassVar[Options] = Options()
    clock: ClassVar[SteppedClock | None] = None
    last_log: ClassVar[Transcript | None] = None
    """The transcript of the example that ran last: after a failure, the shrunk one."""

    def __init__(self) -> None:
        super().__init__()
        self.log = Transcript()
        type(self).last_log = self.log
        self.token = uuid.uuid4().hex[:8]

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    @classmethod
    def bind(
        cls, target: Target, options: Options | None = None, clock: SteppedClock | None = None
    ) -> type[WireMachine]:
        attributes = {"target": target, "options": options or Options(), "clock": clock, "last_log": None}
        return type(cls.__name__, (cls,), attributes)


TIMED = precondition(lambda self: self.clock is not None)
ADVANCES = st.sampled_from([1, 3600, 86400, 3 * 86400])

# -- the websocket value cache -------------------------------------------------------------------

INITIALIZE, SET, GET, DELETE = 0, 12, 13, 14
OK, ALREADY_INITIALIZED, NOT_FOUND = 1, 4, 700
STORE_STATUS = {None: OK, "StoreOutOfMemory": 701, "StoreOutOfEntries": 702}
RESUME_NOT_FOUND = 4401

KEYS = st.one_of(
    st.sampled_from(["a", "b", "token", "ключ", ""]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
)
WS_VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.builds(lambda char, count: char * count, st.sampled_from(["x", "é", "🔑"]), st.integers(0, 9000)),
)
LONG_TTLS = st.one_of(st.just(0), st.integers(-(2**40), -1), st.integers(3600, 10**6))
"""TTLs <= 0 (the default applies) and TTLs long enough to outlive a run without a clock."""
SHORT_TTLS = st.sampled_from([1, 60, 3600])
BAD_FRAMES = st.sampled_from(
    [
        (b"\x00binary", 4304),
        ("not json", 4300),
        ('{"type":13}', 4300),
        ('{"type":42,"id":1}', 4301),
        ('{"type":12,"id":1,"key":"k","value":5,"ttl":0}', 4302),
        ('{"type":13,"id":1,"key":null}', 4302),
    ]
)
WS_SESSION = "connection"


class CacheMachine(WireMachine):
    """Packets 0/12/13/14 on /ws: statuses, the entry and byte limits, TTLs, resumption, bad frames."""

    def __init__(self) -> None:
        super().__init__()
        self.client: CacheClient | None = None

    @initialize()
    def connect(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = CacheClient(self.target, self.log)
        key = {"websocket_api_key": self.target.api_key} if self.target.api_key else {}
        check(
            "initialize's status",
            OK,
            self.client.call(INITIALIZE, client_id="conformance", **key).get("status"),
        )
        self.model = values.Model(self.now(), self.options)
        self.model.open(WS_SESSION)

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        assert self.client is not None
        self.model.now = self.now()
        return self.client.call(kind, **fields)

    def set(self, key: str, value: str, ttl: int) -> None:
        answer = self.call(SET, key=key, value=value, ttl=ttl)
        expected = STORE_STATUS[self.model.set(WS_SESSION, key, value, ttl)]
        check(f"set {key!r}: status", expected, answer.get("status"))

    @rule(key=KEYS, value=WS_VALUES, ttl=LONG_TTLS)
    def set_value(self, key: str, value: str, ttl: int) -> None:
        self.set(key, value, ttl)

    @TIMED
    @rule(key=KEYS, value=WS_VALUES, ttl=SHORT_TTLS)
    def set_short_lived(self, key: str, value: str, ttl: int) -> None:
        self.set(key, value, ttl)

    @rule(count=st.sampled_from([2, 10, 999]), size=st.integers(0, 300))
    def fill(self, count: int, size: int) -> None:
        """Many keys: the entry count crosses the limit (999 stands for the limit plus two)."""
        count = self.options.ws_max_entries + 2 if count == 999 else count
        for n in range(count):
            self.set(f"fill-{n}", "v" * size, 0)

    @TIMED
    @rule(seconds=ADVANCES)
    def advance_time(self, seconds: float) -> None:
        """Time moves; then every key ever set is read: the ones that expired must be gone."""
        assert self.clock is not None
        self.clock.advance(seconds)
        for key in sorted(self.model.sessions[WS_SESSION].entries):
            self.get_value(key)

    @rule(key=KEYS)
    def get_value(self, key: str) -> None:
        answer = self.call(GET, key=key)
        live = self.model.live(WS_SESSION)
        if key in live:
            check(f"get {key!r}", {"status": OK, "value": live[key].value}, _without_id(answer))
        else:
            check(f"get {key!r}", {"status": NOT_FOUND}, _without_id(answer))

    @rule(data=st.data())
    def get_known(self, data: st.DataObject) -> None:
        known = sorted(self.model.live(WS_SESSION))
        if known:
            self.get_value(data.draw(st.sampled_from(known)))

    @rule(key=KEYS)
    def delete_value(self, key: str) -> None:
        answer = self.call(DELETE, key=key)
        check(
            f"delete {key!r}: status",
            OK if self.model.delete(WS_SESSION, key) else NOT_FOUND,
            answer.get("status"),
        )

    @rule()
    def initialize_again(self) -> None:
        key = {"websocket_api_key": self.target.api_key} if self.target.api_key else {}
        answer = self.call(INITIALIZE, client_id="conformance", **key)
        check("a second initialize: status", ALREADY_INITIALIZED, answer.get("status"))

    @rule()
    def resume(self) -> None:
        """A client-side close, then a connection with the Resume-Id: the session (and values) stay."""
        assert self.client is not None
        resume_id = self.client.resume_id
        self.client.close()
        self.client = CacheClient(self.target, self.log, resume_id=resume_id)

    @rule(frame=BAD_FRAMES)
    def bad_frame(self, frame: tuple[str | bytes, int]) -> None:
        """A bad frame closes with its code and ends the session: resuming it is refused."""
        assert self.client is not None
        payload, code = frame
        self.client.send(payload)
        check(f"the close code after {payload!r}", code, self.client.closed_with())
        refused = CacheClient(self.target, self.log, resume_id=self.client.resume_id)
        check("resuming a session the server closed: close code", RESUME_NOT_FOUND, refused.closed_with())
        self.client = None
        self.connect()

    @invariant()
    def model_within_limits(self) -> None:
        live = self.model.live(WS_SESSION)
        assert len(live) <= self.options.ws_max_entries
        assert sum(e.size for e in live.values()) <= self.options.ws_max_bytes

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "id"}


# -- the Distri store ------------------------------------------------------------------------------

PART = "__user_part_"
DISTRI_KEYS = st.sampled_from(["a", "b", "c", "dir/key", "ключ"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
PART_NAMES = st.sampled_from(["x", "y", "z"])


class DistriMachine(WireMachine):
    """The Distri routes under /v1: values, expiry, user parts, clearing and the session listing."""

    prefix = "/v1"

    @initialize()
    def start(self) -> None:
        self.http = HttpClient(self.target, self.log)
        self.model = values.Model(self.now(), self.options)
        self.sids = [f"{self.token}-{name}" for name in self.options.namespace_ids]

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.model.now = self.now()
        return self.http.request(method, self.prefix + path, body)

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.sids), label="session")

    def write(self, sid: str, key: str, value: Any, expiry: datetime | None) -> None:
        body: dict[str, Any] = {"key": key, "value": value}
        if expiry is not None:
            body["expiry"] = expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        status, answer = self.send("POST", f"/sessions/{quote(sid, safe='')}/values", body)
        refusal = self.model.set(sid, key, value, expires_at=expiry)
        if refusal is None:
            check(f"set {key!r} in {sid}: status", (204, None), (status, answer))
        else:
            check(f"set {key!r} in {sid} ({refusal}): a 4xx status", True, 400 <= status < 500)

    def expiry(self, data: st.DataObject) -> datetime | None:
        choice = data.draw(st.sampled_from(["none", "later", "soon"] if self.clock else ["none", "later"]))
        if choice == "none":
            return None
        seconds = 86400 if choice == "later" else data.draw(st.sampled_from([1, 60, 3600]))
        return (self.now() + timedelta(seconds=seconds)).replace(microsecond=0)

    @rule(data=st.data(), key=DISTRI_KEYS, value=JSON_VALUES)
    def set_value(self, data: st.DataObject, key: str, value: Any) -> None:
        self.write(self.pick(data), key, value, self.expiry(data))

    @rule(data=st.data(), name=PART_NAMES, text=st.text(max_size=20))
    def set_part(self, data: st.DataObject, name: str, text: str) -> None:
        self.write(self.pick(data), PART + name, {"part_type": "text", "data": text}, self.expiry(data))

    @rule(data=st.data(), key=DISTRI_KEYS | PART_NAMES.map(lambda name: PART + name))
    def get_value(self, data: st.DataObject, key: str) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values/{quote(key)}")
        live = self.model.live(sid)
        check(f"get {key!r} in {sid}", (200, {"value": live[key].value if key in live else None}), got)

    @rule(data=st.data())
    def get_values(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values")
        check(f"the values of {sid}", (200, {"values": self.model.values(sid)}), got)

    @rule(data=st.data(), key=DISTRI_KEYS | PART_NAMES.map(lambda name: PART + name))
    def delete_value(self, data: st.DataObject, key: str) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}/values/{quote(key)}")
        self.model.delete(sid, key)
        check(f"delete {key!r} in {sid}", (204, None), got)

    @rule(data=st.data())
    def clear_session(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}")
        self.model.clear(sid)
        check(f"clear {sid}", (204, None), got)

    @rule(data=st.data())
    def get_parts(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/user-parts")
        check(f"the user parts of {sid}", (200, {"parts": self.parts(sid)}), got)

    @rule(data=st.data())
    def clear_parts(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}/user-parts")
        check(f"clear the user parts of {sid}", (200, {"cleared": self.model.clear(sid, PART)}), got)

    @TIMED
    @rule(seconds=ADVANCES)
    def advance_time(self, seconds: float) -> None:
        """Time moves; then every session's values are read: the expired ones must be gone."""
        assert self.clock is not None
        self.clock.advance(seconds)
        for sid in self.sids:
            got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values")
            check(f"the values of {sid}", (200, {"values": self.model.values(sid)}), got)

    @rule()
    def list_sessions(self) -> None:
        """The listing, newest first, narrowed to this example's sessions (the server may hold others)."""
        status, listed = self.send("GET", f"/sessions?limit={self.options.list_page_max}")
        check("the session listing: status", 200, status)
        mine = [s for s in listed if s.get("session_id") in self.sids] if isinstance(listed, list) else listed
        expected = [(sid, count, keys) for sid, count, keys, _ in self.model.listing()]
        actual = [(s["session_id"], s["key_count"], s["keys"]) for s in mine]
        check("the session listing (this run's sessions, in order)", expected, actual)

    @rule(data=st.data())
    def list_one_session(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        status, listed = self.send("GET", f"/sessions?thread_id={quote(sid, safe='')}")
        expected = [
            {"session_id": s, "thread_id": s, "key_count": count, "keys": keys}
            for s, count, keys, _ in self.model.listing()
            if s == sid
        ]
        actual = (
            [{k: v for k, v in s.items() if k != "updated_at"} for s in listed] if status == 200 else listed
        )
        check(f"the listing of {sid}", (200, expected), (status, actual))

    def parts(self, sid: str) -> list[Any]:
        live = self.model.live(sid)
        parts = sorted((e.created, e.value) for k, e in live.items() if k.startswith(PART))
        return [value for _, value in parts if isinstance(value, dict)]

    def teardown(self) -> None:
        """The example's sessions are cleared, so the listing the next example reads stays short."""
        if hasattr(self, "http"):
            for sid in self.sids:
                self.http.tidy("DELETE", f"{self.prefix}/sessions/{quote(sid, safe='')}")
            self.http.close()


# -- Makaio storage:session over the bus -------------------------------------------------------------

ADAPTER_IDS = st.sampled_from(["ad-1", "ad-2"])
BAD_REQUESTS = st.sampled_from(
    [
        ("nope", {}, "NO_HANDLER"),
        ("get", {"sessionId": 7}, "VALIDATION_ERROR"),
        ("set", {"sessionId": "s1"}, "VALIDATION_ERROR"),
        ("update", {"sessionId": "s1", "status": "gone"}, "VALIDATION_ERROR"),
        ("list", {"limit": 0}, "VALIDATION_ERROR"),
    ]
)
ACCOUNT_CHANGED = "session.clientAccount.changed"
BUS_SIDS = ["s1", "s2", "s3", "s4", "s5"]


class BusMachine(WireMachine):
    """The nine subjects of `storage:session`: lineage, counts, refusals and the account-change event.

    The namespace the bus secret serves must hold nothing but the kit's five session ids (deleted
    before each example): counts and listings cover the whole namespace.
    """

    @initialize()
    def start(self) -> None:
        self.bus = BusClient(self.target, self.log)
        self.listener = BusClient(self.target, self.log, {ACCOUNT_CHANGED: []})
        self.listener.request("getStatusCounts", {})  # the subscription is in place once this is answered
        for sid in BUS_SIDS:
            self.call("delete", {"sessionId": sid})
        self.model = records_model.Model()
        self.changes: list[tuple[str, str]] = []

    def call(self, subject: str, payload: Any) -> Any:
        response = self.bus.request(subject, payload)
        check(f"{subject}: an answer without error", None, response.get("error"))
        return response.get("result")

    def write(self, subject: str, payload: dict[str, Any], expected: Callable[[], dict[str, Any]]) -> None:
        before = {sid: record.get("clientAccountId") for sid, record in self.model.records.items()}
        try:
            want: dict[str, Any] | None = expected()
        except records_model.Refused:
            want = None
        response = self.bus.request(subject, payload)
        if want is None:
            check(f"{subject}: refused", "VALIDATION_ERROR", (response.get("error") or {}).get("code"))
            return
        check(f"{subject}: result", want, response.get("result"))
        sid = payload["sessionId"]
        after = self.model.records.get(sid, {}).get("clientAccountId")
        if want.get("clientAccountChanged") and after is not None and after != before.get(sid):
            self.changes.append((sid, after))

    @rule(data=st.data(), sid=records.SIDS, if_absent=st.sampled_from([None, False, True]))
    def set(self, data: st.DataObject, sid: str, if_absent: bool | None) -> None:
        record = data.draw(records.records(sid))
        payload = {
            "sessionId": sid,
            "session": record,
            **({} if if_absent is None else {"ifAbsent": if_absent}),
        }
        self.write("set", payload, lambda: self.model.set(record, bool(if_absent)))

    @rule(data=st.data(), sid=records.SIDS)
    def update(self, data: st.DataObject, sid: str) -> None:
        names = data.draw(st.sets(st.sampled_from(sorted(records.UPDATABLE)), max_size=3))
        changes = {name: data.draw(records.UPDATABLE[name]) for name in sorted(names)}
        if data.draw(st.booleans()):
            changes.update(records.identity(data.draw(records.ACCOUNT)))
        self.write("update", {"sessionId": sid, **changes}, lambda: self.model.update(sid, changes))

    @rule(sid=records.SIDS)
    def delete(self, sid: str) -> None:
        self.write("delete", {"sessionId": sid}, lambda: self.model.delete(sid))

    @rule(sid=records.SIDS)
    def get(self, sid: str) -> None:
        check(f"get {sid}", {"session": self.model.records.get(sid)}, self.call("get", {"sessionId": sid}))

    @rule(asid=ADAPTER_IDS)
    def get_by_adapter_session_id(self, asid: str) -> None:
        got = self.call("getByAdapterSessionId", {"adapterSessionId": asid})
        check(f"getByAdapterSessionId {asid}", {"session": self.model.by_adapter(asid)}, got)

    @rule(sid=records.SIDS)
    def get_children(self, sid: str) -> None:
        got = self.call("getChildren", {"sessionId": sid})
        check(f"getChildren {sid}", {"children": self.model.children(sid)}, got)

    @rule(
        status=records.STATUS_FILTER, limit=st.integers(1, 4), offset=st.integers(0, 4), preview=st.booleans()
    )
    def list(self, status: str | None, limit: int, offset: int, preview: bool) -> None:
        payload: dict[str, Any] = {"limit": limit, "offset": offset, "includePreview": preview}
        if status is not None:
            payload["status"] = status
        check("list", self.model.list(status, None, limit, offset, preview), self.call("list", payload))

    @rule(
        word=st.sampled_from(["alpha", "bravo", "charlie"]),
        status=records.STATUS_FILTER,
        limit=st.integers(1, 3),
    )
    def search(self, word: str, status: str | None, limit: int) -> None:
        payload: dict[str, Any] = {"query": word, "limit": limit, **({"status": status} if status else {})}
        check(f"search {word!r}", self.model.search(word, status, limit), self.call("search", payload))

    @rule(bad=BAD_REQUESTS)
    def refused(self, bad: tuple[str, dict[str, Any], str]) -> None:
        subject, payload, code = bad
        check(
            f"{subject} {payload}: error code",
            code,
            (self.bus.request(subject, payload).get("error") or {}).get("code"),
        )

    @invariant()
    def counts(self) -> None:
        if hasattr(self, "model"):
            check("getStatusCounts", self.model.counts(), self.call("getStatusCounts", {}))

    @invariant()
    def account_changes_announced(self) -> None:
        """Every account change reaches the subscribed peer, in the order the changes were made."""
        if not hasattr(self, "model") or not self.changes:
            return
        self.listener.request("getStatusCounts", {})  # events sent before this answer are now in
        got: list[tuple[Any, Any]] = []
        for _ in self.changes:
            try:
                event = self.listener.event(self.options.event_wait)
            except Disagreement:
                raise Disagreement(
                    f"{ACCOUNT_CHANGED} events (sessionId, clientAccountId)", self.changes, got
                ) from None
            check("the event's name", ACCOUNT_CHANGED, f"{event.get('namespace')}.{event.get('subject')}")
            payload = event.get("payload") or {}
            got.append((payload.get("sessionId"), payload.get("clientAccountId")))
        check(f"{ACCOUNT_CHANGED} events (sessionId, clientAccountId)", self.changes, got)
        self.changes = []

    def teardown(self) -> None:
        for client in (getattr(self, "bus", None), getattr(self, "listener", None)):
            if client is not None:
                client.close()


# -- BlobHub session objects over HTTP ---------------------------------------------------------------

REFUSALS = {
    "ObjectNotFound": (404, "not_found"),
    "ElementNotFound": (404, "not_found"),
    "ElementExists": (409, "element_exists"),
    "RevMismatch": (409, "rev_mismatch"),
    "InvalidGraphOperation": (400, "invalid_graph_operation"),
    "InvalidGraphEnvelope": (400, "invalid_graph_envelope"),
    "InvalidThreadEnvelope": (400, "invalid_thread_envelope"),
    "InvalidThreadItem": (400, "invalid_thread_item"),
    "InvalidMessagesEnvelope": (400, "invalid_messages_envelope"),
}
"""The model's refusal -> BlobHub's (HTTP status, error name)."""
SHOWN = ("element_id", "type", "labels", "label", "from_id", "to_id", "props", "rev")
"""The element fields compared (timestamps and user ids are the server's own)."""
SHOWN_ITEM = ("id", "alias", "content", "parent_id", "metadata")
"""The thread item fields compared (`created_at` and `user_id` are the server's own)."""
TERMINAL_STEPS = frozenset({"values", "properties", "project", "count"})
REVISION = st.sampled_from([0, 0, 0, 1])
"""Which of the kit's two revisions a step works in: mostly the first; the second keeps them apart."""
T = TypeVar("T")
WRITES = frozenset(
    {
        "upload_session_object",
        "delete_session_object",
        "append_session_messages",
        "post_session_thread_item",
        "apply_session_graph_mutations",
    }
)
"""Commands that change objects: after one, the state invariant reads every thread and graph."""
START_GRAPH = [
    {"op": "add_vertex", "element_id": "n0", "labels": ["p"], "props": {"x": 1}},
    {"op": "add_vertex", "element_id": "n1", "labels": ["q"], "props": {}},
    {"op": "add_edge", "element_id": "n2", "label": "k", "from_id": "n0", "to_id": "n1", "props": {}},
]
"""What `g` starts with, so the first batch, neighbour query or traversal already has elements."""


def shown(document: Any, fields: tuple[str, ...]) -> Any:
    """The compared fields of a document (anything else as it came, so a wrong shape shows)."""
    return {k: document[k] for k in fields if k in document} if isinstance(document, dict) else document


def attempt(compute: Callable[[], T]) -> tuple[T | None, graph_model.Refused | None]:
    """The model's answer, or the refusal it expects."""
    try:
        return compute(), None
    except graph_model.Refused as refused:
        return None, refused


class BlobHubMachine(WireMachine):
    """BlobHub session objects through `POST /revisions/{revision}/data`, in two revisions that must
    stay apart: envelopes (upload, download, list, delete, append), thread items (post, get, pages,
    time filters), graph mutation batches (atomic, revisions, refusals), neighbours and traversals."""

    @initialize()
    def start(self) -> None:
        self.http = HttpClient(self.target, self.log)
        self.session = f"{self.token}-objects"
        self.revisions = tuple(dict.fromkeys((self.options.revision, self.options.second_revision)))
        self.models = {revision: objects_model.Session() for revision in self.revisions}
        self.dirty = True
        self.upload(0, "g", {"type": "graph", "graph": {"attributes": {"name": "g"}}})
        self.upload(0, "t", {"type": "thread", "thread": {"attributes": {"name": "t"}}})
        self.mutate(0, "g", START_GRAPH)

    def command(self, which: int, command: str, alias: str | None, **fields: Any) -> tuple[int, Any]:
        revision = self.revisions[which % len(self.revisions)]
        self.dirty = self.dirty or command in WRITES
        body = {"engine": "workflow_blobhub", "command": command, "session_id": self.session}
        path = f"/revisions/{quote(revision, safe='')}/data"
        return self.http.request(
            "POST", path, {**body, **({} if alias is None else {"alias": alias}), **fields}
        )

    def model(self, which: int) -> objects_model.Session:
        return self.models[self.revisions[which % len(self.revisions)]]

    def owner(self, which: int) -> dict[str, str]:
        return {"revision_id": self.revisions[which % len(self.revisions)], "session_id": self.session}

    def alias_of(self, data: st.DataObject, which: int, kind: str) -> str:
        """Mostly the alias of a `kind` object; sometimes any (a command on another type is refused)."""
        chosen = self.model(which).aliases(kind)
        return data.draw(st.sampled_from(chosen) | records.ALIASES if chosen else records.ALIASES)

    @staticmethod
    def refused(what: str, refusal: graph_model.Refused, answer: tuple[int, Any]) -> None:
        status, document = answer
        error = document.get("error") if isinstance(document, dict) else document
        check(f"{what}: refused with {refusal.name}", REFUSALS[refusal.name], (status, error))

    # -- envelopes -----------------------------------------------------------------------------
    def upload(self, which: int, alias: str, value: dict[str, Any]) -> None:
        got = self.command(which, "upload_session_object", alias, value=value)
        self.model(which).upload(alias, value)
        check(f"upload {alias!r}", (200, {}), got)

    @rule(data=st.data(), which=REVISION, alias=records.ALIASES, kind=records.OBJECT_TYPES)
    def upload_object(self, data: st.DataObject, which: int, alias: str, kind: str) -> None:
        self.upload(which, alias, data.draw(records.object_values(kind)))

    @rule(which=REVISION, alias=records.ALIASES)
    def download(self, which: int, alias: str) -> None:
        expected, refusal = attempt(lambda: self.model(which).download(alias))
        status, document = self.command(which, "download_session_object", alias)
        if refusal is not None:
            self.refused(f"download {alias!r}", refusal, (status, document))
            return
        want = {**self.owner(which), "alias": alias, "value": expected}
        fields = ("revision_id", "session_id", "alias", "value")
        check(f"download {alias!r}", (200, want), (status, shown(document, fields)))

    @rule(which=REVISION)
    def list_objects(self, which: int) -> None:
        status, document = self.command(which, "list_session_objects", None)
        listed = document.get("objects") if isinstance(document, dict) else None
        pairs = [(o.get("alias"), o.get("type")) for o in listed] if isinstance(listed, list) else document
        cursor = document.get("cursor") if isinstance(document, dict) else None
        check(
            "the session's objects (alias, type)",
            (200, self.model(which).listing(), None),
            (status, pairs, cursor),
        )

    @rule(which=REVISION, alias=records.ALIASES)
    def delete(self, which: int, alias: str) -> None:
        _, refusal = attempt(lambda: self.model(which).delete(alias))
        got = self.command(which, "delete_session_object", alias)
        if refusal is not None:
            self.refused(f"delete {alias!r}", refusal, got)
        else:
            check(f"delete {alias!r}", (200, {}), got)

    @rule(data=st.data(), which=REVISION, messages=st.lists(records.MESSAGES, min_size=1, max_size=2))
    def append(self, data: st.DataObject, which: int, messages: list[Any]) -> None:
        alias = self.alias_of(data, which, "messages")
        expected, refusal = attempt(lambda: self.model(which).append(alias, messages))
        status, document = self.command(which, "append_session_messages", alias, messages=messages)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"append to {alias!r}", refusal, (status, document))
            return
        first, count = expected
        want = {
            **self.owner(which),
            "alias": alias,
            "type": "messages",
            "first_ordinal": first,
            "count": count,
        }
        check(f"append to {alias!r}", (200, want), (status, shown(document, tuple(want))))

    # -- threads -------------------------------------------------------------------------------
    @rule(
        data=st.data(),
        which=REVISION,
        contents=st.lists(records.ITEM_CONTENT, min_size=1, max_size=2),
        parent=records.PARENTS,
        metadata=records.ITEM_METADATA,
    )
    def post_items(
        self, data: st.DataObject, which: int, contents: list[list[Any]], parent: str | None, metadata: Any
    ) -> None:
        """One or two items posted to one thread, one request each."""
        alias = self.alias_of(data, which, "thread")
        for content in contents:
            self.post(which, alias, content, parent, metadata)

    def post(self, which: int, alias: str, content: list[Any], parent: str | None, metadata: Any) -> None:
        model = self.model(which)
        _, refusal = attempt(lambda: model.check_post(alias, content))
        fields = {"content": content, "parent_id": parent, "metadata": metadata}
        status, document = self.command(which, "post_session_thread_item", alias, **fields)
        if refusal is not None:
            self.refused(f"post to {alias!r}", refusal, (status, document))
            return
        item = document.get("item") if status == 200 and isinstance(document, dict) else None
        want = {"alias": alias, "content": content, **self.owner(which)}
        want |= {k: v for k, v in (("parent_id", parent), ("metadata", metadata)) if v is not None}
        check(f"post to {alias!r}", (200, want), (status, shown(item, (*SHOWN_ITEM[1:], *self.owner(which)))))
        assert isinstance(item, dict)
        try:
            created = datetime.fromisoformat(item["created_at"])
        except (KeyError, TypeError, ValueError):
            raise Disagreement(
                "the item's created_at", "an ISO 8601 instant", item.get("created_at")
            ) from None
        model.post(alias, objects_model.Item(str(item.get("id")), created, content, parent, metadata, None))

    def item_document(self, item: objects_model.Item, alias: str) -> dict[str, Any]:
        document = {"id": item.id, "alias": alias, "content": item.content}
        return document | {
            k: v for k, v in (("parent_id", item.parent_id), ("metadata", item.metadata)) if v is not None
        }

    @rule(
        data=st.data(),
        which=REVISION,
        ascending=st.booleans(),
        limit=st.integers(1, 3),
    )
    def list_items(self, data: st.DataObject, which: int, ascending: bool, limit: int) -> None:
        """Every page of a thread (or its refusal), in the asked order, maybe between two instants."""
        alias, model = self.alias_of(data, which, "thread"), self.model(which)
        known, refusal = attempt(lambda: model.items(alias, ascending=True))
        # An item's instant, chosen by the item's place: ties in the server's clock must not change
        # what is drawn (a replay would draw otherwise).
        times = [i.created_at for i in known or []]
        since = data.draw(st.none() | st.sampled_from(times)) if times else None
        before = data.draw(st.none() | st.sampled_from(times)) if times else None
        bounds = {k: v.isoformat() for k, v in (("created_since", since), ("created_before", before)) if v}
        seen: list[Any] = []
        cursor = None
        for _ in range(50):
            status, document = self.command(
                which,
                "list_session_thread_items",
                alias,
                ascending=ascending,
                limit=limit,
                cursor=cursor,
                **bounds,
            )
            if refusal is not None:
                self.refused(f"the items of {alias!r}", refusal, (status, document))
                return
            page = document.get("items") if status == 200 and isinstance(document, dict) else None
            check(
                f"a page of {alias!r}'s items: status and size <= {limit}",
                (200, True),
                (status, isinstance(page, list) and len(page) <= limit),
            )
            assert isinstance(page, list) and isinstance(document, dict)
            seen += [shown(item, SHOWN_ITEM) for item in page]
            cursor = document.get("cursor")
            if cursor is None:
                break
        expected = [self.item_document(i, alias) for i in model.items(alias, ascending, since, before)]
        order = "oldest first" if ascending else "newest first"
        check(f"the items of {alias!r}, {order}, {bounds or 'unfiltered'}", expected, seen)

    @rule(data=st.data(), which=REVISION)
    def get_item(self, data: st.DataObject, which: int) -> None:
        alias, model = self.alias_of(data, which, "thread"), self.model(which)
        known = [i.id for i in model.thread(alias)] if alias in model.aliases("thread") else []
        item_id = data.draw(st.sampled_from([*known, "absent"]))
        expected, refusal = attempt(lambda: model.item(alias, item_id))
        status, document = self.command(which, "get_session_thread_item", alias, item_id=item_id)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"item {item_id!r} of {alias!r}", refusal, (status, document))
            return
        item = document.get("item") if isinstance(document, dict) else document
        check(
            f"item {item_id!r} of {alias!r}",
            (200, self.item_document(expected, alias)),
            (status, shown(item, SHOWN_ITEM)),
        )

    # -- graphs --------------------------------------------------------------------------------

    def mutate(self, which: int, alias: str, ops: list[dict[str, Any]]) -> None:
        model = self.model(which)
        changes, refusal = attempt(lambda: model.graph(alias).apply(ops, self.now(), None))
        got = self.command(which, "apply_session_graph_mutations", alias, operations=ops)
        if refusal is not None:
            self.refused(f"a batch on {alias!r}", refusal, got)
        else:
            check(f"the batch's changes on {alias!r}", (200, {"elements": changes}), got)

    @rule(data=st.data(), which=REVISION, size=st.integers(1, 4))
    def apply_batch(self, data: st.DataObject, which: int, size: int) -> None:
        alias = self.alias_of(data, which, "graph")
        graph = self.model(which).objects.get(alias)
        ordered = graph.graph.ordered() if graph is not None and graph.type == "graph" else []
        existing = [e["element_id"] for e in ordered]
        vertices = [e["element_id"] for e in ordered if e["type"] == "vertex"]
        ids = st.sampled_from(existing) | records.IDS if existing else records.IDS
        vertex_ids = st.sampled_from(vertices) | records.IDS if vertices else records.IDS
        ops = [data.draw(records.operation(ids, vertex_ids)) for _ in range(size)]
        self.mutate(
            which, alias, [{k: v for k, v in op.items() if v is not None or k != "if_rev"} for op in ops]
        )

    @rule(
        data=st.data(),
        which=REVISION,
        direction=st.sampled_from(["out", "in", "both"]),
        label=st.none() | records.EDGE_LABELS,
        neighbor_label=st.none() | records.VERTEX_LABELS,
        limit=st.integers(1, 3),
    )
    def neighbors(
        self,
        data: st.DataObject,
        which: int,
        direction: str,
        label: str | None,
        neighbor_label: str | None,
        limit: int,
    ) -> None:
        """The whole answer in one page, then its edges page by page."""
        alias = self.alias_of(data, which, "graph")
        graph = self.model(which).objects.get(alias)
        known = [e["element_id"] for e in graph.graph.ordered()] if graph is not None else []
        sources = data.draw(
            st.lists(st.sampled_from(known) | records.IDS if known else records.IDS, min_size=1, max_size=3)
        )
        expected, refusal = attempt(
            lambda: self.model(which).graph(alias).neighbors(sources, direction, label, neighbor_label)
        )
        asked = {"from": sources, "direction": direction, "label": label, "neighbor_label": neighbor_label}
        what = f"the neighbours on {alias!r} of {asked}"
        status, document = self.command(which, "list_session_graph_neighbors", alias, limit=1000, **asked)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(what, refusal, (status, document))
            return
        ids = (
            [[e.get("element_id") for e in document.get(key, [])] for key in ("edges", "vertices")]
            if isinstance(document, dict)
            else document
        )
        check(f"{what} (edge ids, vertex ids)", (200, list(expected)), (status, ids))
        seen: list[Any] = []
        cursor = None
        for _ in range(50):
            status, document = self.command(
                which, "list_session_graph_neighbors", alias, limit=limit, cursor=cursor, **asked
            )
            check(f"{what}: a page's status", 200, status)
            seen += [e.get("element_id") for e in document.get("edges", [])]
            cursor = document.get("cursor")
            if cursor is None:
                break
        check(f"{what}, {limit} edges a page", expected[0], seen)

    @rule(data=st.data(), which=REVISION, query=records.queries())
    def traverse(self, data: st.DataObject, which: int, query: dict[str, Any]) -> None:
        alias = self.alias_of(data, which, "graph")
        expected, refusal = attempt(lambda: self.model(which).graph(alias).query(query))
        status, document = self.command(which, "query_session_graph", alias, query=query)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"the traversal {query} on {alias!r}", refusal, (status, document))
            return
        if not query["steps"] or query["steps"][-1][0] not in TERMINAL_STEPS:  # element documents
            expected = {**expected, "results": [shown(e, SHOWN) for e in expected["results"]]}
            if isinstance(document, dict) and isinstance(document.get("results"), list):
                document = {**document, "results": [shown(e, SHOWN) for e in document["results"]]}
        check(f"the traversal {query} on {alias!r}", (200, expected), (status, document))

    @invariant()
    def state_matches(self) -> None:
        """After a write: every thread's items (newest first, the default order, in one page) and
        every graph's live elements (read by id in the order asked; an absent id is skipped), in
        both revisions. Reads change nothing, so after one there is nothing new to compare."""
        if not getattr(self, "dirty", False):
            return
        for which, revision in enumerate(self.revisions):
            model = self.models[revision]
            for alias in model.aliases("thread"):
                status, document = self.command(which, "list_session_thread_items", alias, limit=1000)
                got = document.get("items") if status == 200 and isinstance(document, dict) else document
                listed = [shown(i, SHOWN_ITEM) for i in got] if isinstance(got, list) else got
                expected = [self.item_document(i, alias) for i in model.items(alias, ascending=False)]
                what = f"the items of {alias!r} in {revision!r}, newest first"
                check(what, (200, expected), (status, listed))
            for alias in model.aliases("graph"):
                ordered = model.graph(alias).ordered()
                ids = [e["element_id"] for e in ordered] + ["absent"]
                status, document = self.command(which, "get_session_graph_elements", alias, element_ids=ids)
                got = document.get("elements") if status == 200 and isinstance(document, dict) else document
                listed = [shown(e, SHOWN) for e in got] if isinstance(got, list) else got
                what = f"the elements of {alias!r} in {revision!r}"
                check(what, (200, [shown(e, SHOWN) for e in ordered]), (status, listed))
        self.dirty = False

    def teardown(self) -> None:
        if hasattr(self, "http"):
            self.http.close()


MACHINES: dict[str, type[WireMachine]] = {
    "websocket": CacheMachine,
    "distri": DistriMachine,
    "bus": BusMachine,
    "blobhub": BlobHubMachine,
}

__all__ = [
    "MACHINES",
    "BlobHubMachine",
    "BusMachine",
    "CacheMachine",
    "Disagreement",
    "DistriMachine",
    "WireMachine",
]
