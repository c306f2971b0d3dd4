"""The Distri store (REST `/v1/sessions/...`) driven against the values model."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from session_engine.adapters.conformance.machines.base import ADVANCES, TIMED, WireMachine
from session_engine.adapters.conformance.models import values
from session_engine.adapters.conformance.wire import HttpClient, check

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
