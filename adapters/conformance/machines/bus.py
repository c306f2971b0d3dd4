"""Makaio `storage:session` over the bus (`/bus`) driven against the records model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from session_engine.adapters.conformance import strategies as records
from session_engine.adapters.conformance.machines.base import WireMachine
from session_engine.adapters.conformance.models import records as records_model
from session_engine.adapters.conformance.wire import BusClient, Disagreement, check

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
