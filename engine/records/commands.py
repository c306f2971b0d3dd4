"""The records domain's commands. Each checks its inputs when it is built, in the caller's task, so
a bad record is refused before it joins the write queue and nothing is written.

A record is a JSON document (`Record`): the session record as its client wrote it, under the
client's own field names, which is also how it is stored in the events and the read model. Its
schema is checked by the adapter that received it; the rules here are those the engine relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from session_engine.engine.commands import Command
from session_engine.engine.ids import check_id
from session_engine.engine.records.errors import InvalidRecordRequest

Record = dict[str, Any]
"""A session record as stored (see `specs/records.md` for its fields)."""

MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WriteResult:
    """What a set or an update did: `success` (false: `if_absent` found a record, or the update's
    session has none) and whether the canonical client account changed."""

    success: bool
    client_account_changed: bool = False


def stored_form(record: Record) -> Record:
    """The record as kept: a null approvalPolicyOverride means no override, so it is left out."""
    if record.get("approvalPolicyOverride", "") is None:
        record = {k: v for k, v in record.items() if k != "approvalPolicyOverride"}
    return record


def check_identity(record: Record) -> None:
    """A record naming a client account must say which client was observed, consistently."""
    if record.get("clientAccountId") is None:
        return
    observation = record.get("lastClientIdentityObservation")
    if record.get("clientId") is None:
        raise InvalidRecordRequest("is required when clientAccountId is set", ("clientId",))
    if observation is None:
        raise InvalidRecordRequest(
            "is required when clientAccountId is set", ("lastClientIdentityObservation",)
        )
    if observation["clientId"] != record["clientId"]:
        raise InvalidRecordRequest("must equal clientId", ("lastClientIdentityObservation", "clientId"))


def check_size(record: Record) -> None:
    if len(orjson.dumps(record)) > MAX_RECORD_BYTES:
        raise InvalidRecordRequest(f"a session record is limited to {MAX_RECORD_BYTES} bytes")


class RecordIds:
    """Mixed into every records command: its namespace and session id are identifiers."""

    namespace: str
    stream: str

    def __post_init__(self) -> None:
        check_id("namespace", self.namespace)
        check_id("session id", self.stream, InvalidRecordRequest)


@dataclass(frozen=True, kw_only=True)
class SetRecord(RecordIds, Command):
    """Store a whole record in its session's stream (`stream` = the record's sessionId);
    `if_absent`: only when the session has no record."""

    record: Record
    if_absent: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.record.get("sessionId") != self.stream:
            raise InvalidRecordRequest("must equal the request's sessionId", ("sessionId",))
        object.__setattr__(self, "record", stored_form(self.record))
        check_identity(self.record)
        check_size(self.record)


@dataclass(frozen=True, kw_only=True)
class UpdateRecord(RecordIds, Command):
    """Change the fields of `changes` (by the record's field names; None clears)."""

    changes: Record


@dataclass(frozen=True, kw_only=True)
class DeleteRecord(RecordIds, Command):
    """Hide the session's record from every read (its events stay)."""
