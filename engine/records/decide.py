"""The records domain's decisions: one handler per command (`commands.py`), in the table `HANDLERS`.

Commands are checked when they are built (in the caller's task, off the writer thread); handlers
read the record as the current batch has left it and return events, never write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from session_engine.engine.commands import Command, Decision
from session_engine.engine.records import events as ev
from session_engine.engine.records.commands import (
    DeleteRecord,
    Record,
    SetRecord,
    UpdateRecord,
    WriteResult,
    check_identity,
    check_size,
)
from session_engine.engine.records.tables import session_records

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork

_r = session_records.c
_current = sa.select(_r.record).where(
    _r.namespace == sa.bindparam("ns"), _r.session_id == sa.bindparam("sid")
)
_UNCHANGED = WriteResult(success=True, client_account_changed=False)
_REFUSED = WriteResult(success=False, client_account_changed=False)


def _stored(command: Command, state: UnitOfWork) -> Record | None:
    record: Record | None = state.read(_current, {"ns": command.namespace, "sid": command.stream}).scalar()
    return record


def _account_events(before: Record | None, after: Record) -> tuple[bool, list[ev.ClientAccountChanged]]:
    """Whether the canonical clientAccountId changed, and the event when it became non-null."""
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


def _keep_spawning_tool_call(before: Record, changes: Record) -> Record:
    """`update` fills spawningToolCallId once and never replaces it (null still clears it): which tool
    call spawned a session does not change. `set` replaces the whole record, this field included."""
    if changes.get("spawningToolCallId") is None or "spawningToolCallId" not in before:
        return changes
    return {k: v for k, v in changes.items() if k != "spawningToolCallId"}


def set_record(command: SetRecord, state: UnitOfWork) -> Decision[WriteResult]:
    before = _stored(command, state)
    if before is not None and command.if_absent:
        return Decision(result=_REFUSED)
    changed, account_events = _account_events(before, command.record)
    if before == command.record:
        return Decision(result=_UNCHANGED)
    stored = ev.SessionRecordSet(
        record=command.record, previous_status=before["status"] if before is not None else None
    )
    return Decision(
        events=[stored, *account_events],
        result=WriteResult(success=True, client_account_changed=changed),
    )


def update_record(command: UpdateRecord, state: UnitOfWork) -> Decision[WriteResult]:
    if not command.changes:
        return Decision(result=_UNCHANGED)
    before = _stored(command, state)
    if before is None:
        return Decision(result=_REFUSED)
    changes = _keep_spawning_tool_call(before, command.changes)
    # null clears: a cleared field is omitted from the record, as if never set.
    after = {k: v for k, v in {**before, **changes}.items() if v is not None}
    check_identity(after)
    check_size(after)
    if after == before:
        return Decision(result=_UNCHANGED)
    changed, account_events = _account_events(before, after)
    updated = ev.SessionRecordUpdated(changes=changes, record=after, previous_status=before["status"])
    return Decision(
        events=[updated, *account_events],
        result=WriteResult(success=True, client_account_changed=changed),
    )


def delete_record(command: DeleteRecord, state: UnitOfWork) -> Decision[bool]:
    before = _stored(command, state)
    if before is None:
        return Decision(result=False)
    return Decision(events=[ev.SessionRecordDeleted(status=before["status"])], result=True)


HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {
    SetRecord: set_record,
    UpdateRecord: update_record,
    DeleteRecord: delete_record,
}
"""Which handler decides each command of the domain."""
