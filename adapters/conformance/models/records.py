"""An in-memory model of the nine subjects: what the engine must answer, computed the plain way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("discovered", "active", "closed", "archived")


class Refused(Exception):
    """The model's verdict: the engine must refuse this request (a validation error)."""


@dataclass
class Model:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    # -- writes -----------------------------------------------------------------------------
    def set(self, record: dict[str, Any], if_absent: bool) -> dict[str, Any]:
        record = {k: v for k, v in record.items() if not (k == "approvalPolicyOverride" and v is None)}
        _check_identity(record)
        sid = record["sessionId"]
        before = self.records.get(sid)
        if before is not None and if_absent:
            return {"success": False, "clientAccountChanged": False}
        self.records[sid] = record
        return {"success": True, "clientAccountChanged": _account(before) != _account(record)}

    def update(self, sid: str, changes: dict[str, Any]) -> dict[str, Any]:
        if not changes:
            return {"success": True, "clientAccountChanged": False}
        before = self.records.get(sid)
        if before is None:
            return {"success": False, "clientAccountChanged": False}
        if changes.get("spawningToolCallId") is not None and "spawningToolCallId" in before:
            changes = {k: v for k, v in changes.items() if k != "spawningToolCallId"}  # filled once
        after = {k: v for k, v in {**before, **changes}.items() if v is not None}
        _check_identity(after)
        self.records[sid] = after
        return {"success": True, "clientAccountChanged": _account(before) != _account(after)}

    def delete(self, sid: str) -> dict[str, Any]:
        self.records.pop(sid, None)
        return {"success": True}

    def say(self, sid: str, role: str, text: str) -> None:
        self.messages.setdefault(sid, []).append((role, text))

    # -- reads ------------------------------------------------------------------------------
    def ordered(self, keep: Any = lambda r: True) -> list[dict[str, Any]]:
        chosen = [r for r in self.records.values() if keep(r)]
        return sorted(chosen, key=lambda r: (r["lastActivityAt"], r["sessionId"]), reverse=True)

    def preview(self, sid: str) -> dict[str, Any]:
        said = self.messages.get(sid, [])
        first = next((text for role, text in said if role == "user"), None)
        return {"messageCount": len(said), "firstUserMessage": first}

    def by_adapter(self, asid: str) -> dict[str, Any] | None:
        found = [r for r in self.records.values() if r.get("adapterSessionId") == asid]
        return found[0] if len(found) == 1 else None  # several: ambiguous, none

    def children(self, sid: str) -> list[dict[str, Any]]:
        kids = sorted(
            (r for r in self.records.values() if r.get("parentSessionId") == sid),
            key=lambda r: (r["createdAt"], r["sessionId"]),
        )
        parents = {r.get("parentSessionId") for r in self.records.values()}
        return [
            {
                "sessionId": r["sessionId"],
                "title": r.get("title"),
                "forkPointMessageId": r.get("forkPointMessageId"),
                "branchKind": r.get("branchKind"),
                "messageCount": len(self.messages.get(r["sessionId"], [])),
                "hasChildren": r["sessionId"] in parents,
                **({"spawningToolCallId": r["spawningToolCallId"]} if "spawningToolCallId" in r else {}),
            }
            for r in kids
        ]

    def counts(self) -> dict[str, int]:
        counts = {s: sum(r["status"] == s for r in self.records.values()) for s in STATUSES}
        return {**counts, "all": len(self.records)}

    def list(
        self, status: str | None, target: str | None, limit: int, offset: int, preview: bool
    ) -> dict[str, Any]:
        def keep(r: dict[str, Any]) -> bool:
            return status in (None, "all", r["status"]) and (
                target is None or r.get("executionTargetId") == target
            )

        found = self.ordered(keep)
        page = found[offset : offset + limit]
        if preview:
            page = [{**r, "preview": self.preview(r["sessionId"])} for r in page]
        return {"sessions": page, "total": len(found)}

    def search(self, word: str, status: str | None, limit: int) -> dict[str, Any]:
        """Words of this test's vocabulary do not stem into each other: whole-word matching suffices."""

        def keep(r: dict[str, Any]) -> bool:
            said = any(word in text.lower().split() for _, text in self.messages.get(r["sessionId"], []))
            titled = word.casefold() in r.get("title", "").casefold()
            return status in (None, "all", r["status"]) and (said or titled)

        found = self.ordered(keep)
        page = [{**r, "preview": self.preview(r["sessionId"])} for r in found[:limit]]
        return {"sessions": page, "total": len(found)}


def _account(record: dict[str, Any] | None) -> str | None:
    return None if record is None else record.get("clientAccountId")


def _check_identity(record: dict[str, Any]) -> None:
    if record.get("clientAccountId") is None:
        return
    observation = record.get("lastClientIdentityObservation")
    if record.get("clientId") is None or observation is None or observation["clientId"] != record["clientId"]:
        raise Refused
