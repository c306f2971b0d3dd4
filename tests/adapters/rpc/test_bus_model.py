"""Random request sequences over the bus against the records engineer's in-memory model.

The same strategies and model as `tests/records/test_records_machine.py`, but every request travels
as a bus frame through a real server, and every answer is compared on the wire. Refused requests
must come back as VALIDATION_ERROR and change nothing; `session.clientAccount.changed` events must
reach a subscribed peer in the order the changes were made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from session_engine.adapters.conformance.models.records import STATUSES, Model, Refused
from tests.adapters.rpc.client import BusClient
from tests.adapters.server import ServerThread
from tests.records.test_records_machine import ACCOUNT, SIDS, STATUS_FILTER, UPDATABLE, identity, records

ADAPTER_IDS = st.sampled_from(["ad-1", "ad-2"])
BAD = st.sampled_from(
    [
        ("nope", {}, "NO_HANDLER"),
        ("get", {"sessionId": 7}, "VALIDATION_ERROR"),
        ("set", {"sessionId": "s1"}, "VALIDATION_ERROR"),
        ("update", {"sessionId": "s1", "status": "gone"}, "VALIDATION_ERROR"),
        ("list", {"limit": 0}, "VALIDATION_ERROR"),
    ]
)


class BusMachine(RuleBasedStateMachine):
    url: str

    def __init__(self) -> None:
        super().__init__()
        self.bus = BusClient(self.url)
        self.listener = BusClient(self.url, handshake=False)
        self.listener.handshake({"session.clientAccount.changed": []})
        self.listener.call("getStatusCounts", {})
        self.model = Model()
        self.changes: list[tuple[str, str]] = []

    def write(self, subject: str, payload: dict[str, Any], expected: Callable[[], dict[str, Any]]) -> None:
        before = {sid: record.get("clientAccountId") for sid, record in self.model.records.items()}
        try:
            want: dict[str, Any] | None = expected()
        except Refused:
            want = None
        response = self.bus.request(subject, payload)
        if want is None:
            assert response.get("error", {}).get("code") == "VALIDATION_ERROR", response
            return
        assert response.get("result") == want, response
        sid = payload["sessionId"]
        after = self.model.records.get(sid, {}).get("clientAccountId")
        if want.get("clientAccountChanged") and after is not None and after != before.get(sid):
            self.changes.append((sid, after))

    @rule(data=st.data(), sid=SIDS, if_absent=st.sampled_from([None, False, True]))
    def set(self, data: st.DataObject, sid: str, if_absent: bool | None) -> None:
        record = data.draw(records(sid))
        payload = {
            "sessionId": sid,
            "session": record,
            **({} if if_absent is None else {"ifAbsent": if_absent}),
        }
        self.write("set", payload, lambda: self.model.set(record, bool(if_absent)))

    @rule(data=st.data(), sid=SIDS)
    def update(self, data: st.DataObject, sid: str) -> None:
        names = data.draw(st.sets(st.sampled_from(sorted(UPDATABLE)), max_size=3))
        changes = {name: data.draw(UPDATABLE[name]) for name in sorted(names)}
        if data.draw(st.booleans()):
            changes.update(identity(data.draw(ACCOUNT)))
        self.write("update", {"sessionId": sid, **changes}, lambda: self.model.update(sid, changes))

    @rule(sid=SIDS)
    def delete(self, sid: str) -> None:
        self.write("delete", {"sessionId": sid}, lambda: self.model.delete(sid))

    @rule(sid=SIDS)
    def get(self, sid: str) -> None:
        assert self.bus.call("get", {"sessionId": sid}) == {"session": self.model.records.get(sid)}

    @rule(asid=ADAPTER_IDS)
    def get_by_adapter_session_id(self, asid: str) -> None:
        got = self.bus.call("getByAdapterSessionId", {"adapterSessionId": asid})
        assert got == {"session": self.model.by_adapter(asid)}

    @rule(sid=SIDS)
    def get_children(self, sid: str) -> None:
        assert self.bus.call("getChildren", {"sessionId": sid}) == {"children": self.model.children(sid)}

    @rule(status=STATUS_FILTER, limit=st.integers(1, 4), offset=st.integers(0, 4), preview=st.booleans())
    def list(self, status: str | None, limit: int, offset: int, preview: bool) -> None:
        payload: dict[str, Any] = {"limit": limit, "offset": offset, "includePreview": preview}
        if status is not None:
            payload["status"] = status
        assert self.bus.call("list", payload) == self.model.list(status, None, limit, offset, preview)

    @rule(word=st.sampled_from(["alpha", "bravo", "charlie"]), status=STATUS_FILTER, limit=st.integers(1, 3))
    def search(self, word: str, status: str | None, limit: int) -> None:
        payload: dict[str, Any] = {"query": word, "limit": limit, **({"status": status} if status else {})}
        assert self.bus.call("search", payload) == self.model.search(word, status, limit)

    @rule(bad=BAD)
    def refused(self, bad: tuple[str, dict[str, Any], str]) -> None:
        subject, payload, code = bad
        assert self.bus.request(subject, payload)["error"]["code"] == code

    @invariant()
    def counts(self) -> None:
        counts = self.bus.call("getStatusCounts", {})
        assert counts == self.model.counts() and set(counts) == {*STATUSES, "all"}

    def teardown(self) -> None:
        try:
            got = [self.listener.event() for _ in self.changes]
            assert [(e["payload"]["sessionId"], e["payload"]["clientAccountId"]) for e in got] == self.changes
            for sid in list(self.model.records):  # the next example starts from an empty namespace
                assert self.bus.call("delete", {"sessionId": sid}) == {"success": True}
        finally:
            self.bus.ws.close()
            self.listener.ws.close()


def test_bus_matches_the_records_model(fresh_server: Callable[..., ServerThread]) -> None:
    url = fresh_server().base_url.replace("http://", "ws://") + "/bus"

    class Machine(BusMachine):
        pass

    Machine.url = url
    run_state_machine_as_test(Machine)
