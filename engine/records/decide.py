"""Commands of the records domain and the handlers that decide them.

Requests are validated when a command is built (in the caller's task, off the writer thread);
handlers read the record as the current batch has left it and return events, never write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from session_engine.engine.commands import Command, CommandHandlers, Decision
from session_engine.engine.records import events as ev
from session_engine.engine.records.errors import InvalidRecordRequest
from session_engine.engine.records.models import DeleteRequest, SetRequest, UpdateRequest, WriteResponse
from session_engine.engine.records.tables import session_records

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork

handlers = CommandHandlers()

MAX_RECORD_BYTES = 1024 * 1024
_r = session_records.c
_current = sa.select(_r.record).where(
    _r.namespace == sa.bindparam("ns"), _r.session_id == sa.bindparam("sid")
)


def stored_form(record: dict[str, Any]) -> dict[str, Any]:
    """The record as kept: null approvalPolicyOverride means no override, so it is left out."""
    if record.get("approvalPolicyOverride", "") is None:
        record = {k: v for k, v in record.items() if k != "approvalPolicyOverride"}
    return record


def check_identity(record: dict[str, Any], path: tuple[str, ...] = ()) -> None:
    """A record naming a client account must say which client was observed, consistently."""
    if record.get("clientAccountId") is None:
        return
    observation = record.get("lastClientIdentityObservation")
    if record.get("clientId") is None:
        raise InvalidRecordRequest("is required when clientAccountId is set", (*path, "clientId"))
    if observation is None:
        raise InvalidRecordRequest(
            "is required when clientAccountId is set", (*path, "lastClientIdentityObservation")
        )
    if observation["clientId"] != record["clientId"]:
        raise InvalidRecordRequest(
            "must equal clientId", (*path, "lastClientIdentityObservation", "clientId")
        )


def _check_size(record: dict[str, Any], path: tuple[str, ...]) -> None:
    if len(orjson.dumps(record)) > MAX_RECORD_BYTES:
        raise InvalidRecordRequest(f"a session record is limited to {MAX_RECORD_BYTES} bytes", path)


@dataclass(frozen=True, kw_only=True)
class SetRecord(Command):
    request: SetRequest
    record: dict[str, Any]

    @classmethod
    def build(cls, namespace: str, request: SetRequest, **options: Any) -> SetRecord:
        if request.session_id != request.session.session_id:
            raise InvalidRecordRequest("must equal the request's sessionId", ("session", "sessionId"))
        record = stored_form(request.session.model_dump(mode="json"))
        check_identity(record, ("session",))
        _check_size(record, ("session",))
        return cls(namespace=namespace, stream=request.session_id, request=request, record=record, **options)


@dataclass(frozen=True, kw_only=True)
class UpdateRecord(Command):
    changes: dict[str, Any]

    @classmethod
    def build(cls, namespace: str, request: UpdateRequest, **options: Any) -> UpdateRecord:
        return cls(namespace=namespace, stream=request.session_id, changes=request.changes(), **options)


@dataclass(frozen=True, kw_only=True)
class DeleteRecord(Command):
    @classmethod
    def build(cls, namespace: str, request: DeleteRequest, **options: Any) -> DeleteRecord:
        return cls(namespace=namespace, stream=request.session_id, **options)


def _stored(command: Command, state: UnitOfWork) -> dict[str, Any] | None:
    record: dict[str, Any] | None = state.read(
        _current, {"ns": command.namespace, "sid": command.stream}
    ).scalar()
    return record


def _account_events(
    before: dict[str, Any] | None, after: dict[str, Any]
) -> tuple[bool, list[ev.ClientAccountChanged]]:
    """Whether the canonical clientAccountId changed, and the bus event when it became non-null."""
    previous = before.get("clientAccountId") if before is not None else None
    current = after.get("clientAccountId")
    if previous == current:
        return False, []
    if current is None:
        return True, []
    observation = after.get("lastClientIdentityObservation") or {}
    event = ev.ClientAccountChanged(
        sessionId=after["sessionId"],
        clientId=after.get("clientId"),
        previousClientAccountId=previous,
        clientAccountId=current,
        source=observation.get("source"),
        observedAt=observation.get("observedAt"),
        lastClientIdentityObservation=observation or None,
    )
    return True, [event]


@handlers.register(SetRecord)
def set_record(command: SetRecord, state: UnitOfWork) -> Decision[WriteResponse]:
    before = _stored(command, state)
    if before is not None and command.request.if_absent:
        return Decision(result=WriteResponse(success=False))
    changed, account_events = _account_events(before, command.record)
    if before == command.record:
        return Decision(result=WriteResponse(success=True, client_account_changed=False))
    stored = ev.SessionRecordSet(
        record=command.record, previous_status=before["status"] if before is not None else None
    )
    return Decision(
        events=[stored, *account_events],
        result=WriteResponse(success=True, client_account_changed=changed),
    )


@handlers.register(UpdateRecord)
def update_record(command: UpdateRecord, state: UnitOfWork) -> Decision[WriteResponse]:
    if not command.changes:
        return Decision(result=WriteResponse(success=True, client_account_changed=False))
    before = _stored(command, state)
    if before is None:
        return Decision(result=WriteResponse(success=False))
    # null clears: a cleared field is omitted from the record, as if never set.
    after = {k: v for k, v in {**before, **command.changes}.items() if v is not None}
    check_identity(after)
    _check_size(after, ())
    if after == before:
        return Decision(result=WriteResponse(success=True, client_account_changed=False))
    changed, account_events = _account_events(before, after)
    updated = ev.SessionRecordUpdated(changes=command.changes, record=after, previous_status=before["status"])
    return Decision(
        events=[updated, *account_events],
        result=WriteResponse(success=True, client_account_changed=changed),
    )


@handlers.register(DeleteRecord)
def delete_record(command: DeleteRecord, state: UnitOfWork) -> Decision[bool]:
    before = _stored(command, state)
    if before is None:
        return Decision(result=False)
    return Decision(events=[ev.SessionRecordDeleted(status=before["status"])], result=True)
