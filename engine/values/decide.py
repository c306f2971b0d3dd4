"""The values domain's decisions: one handler per command (`commands.py`), in the table `HANDLERS`.

Handlers read the read model as the current batch has left it (`state.read`), judge expiry at the
batch's instant (`state.now`), and refuse with a typed error before deciding any event, so a
refused write changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from session_engine.engine.backends import Prepared
from session_engine.engine.commands import Command, Decision
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.log.schema import UtcDateTime
from session_engine.engine.values import events as ev
from session_engine.engine.values import validation
from session_engine.engine.values.commands import (
    ClearParts,
    ClearValues,
    DeleteValue,
    Disconnect,
    EndConnectionSession,
    OpenConnectionSession,
    PurgeExpired,
    Resume,
    SetValue,
)
from session_engine.engine.values.errors import (
    SessionConflict,
    SessionEnded,
    SessionNotFound,
    StoreOutOfEntries,
    StoreOutOfMemory,
)
from session_engine.engine.values.parts import PART_PREFIX
from session_engine.engine.values.policy import Kind, Policy
from session_engine.engine.values.tables import value_entries, value_sessions

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork

_s, _e = value_sessions.c, value_entries.c
_NS: sa.BindParameter[str] = sa.bindparam("ns")
_SID: sa.BindParameter[str] = sa.bindparam("sid")
_NOW: sa.BindParameter[datetime] = sa.bindparam("now", type_=UtcDateTime)
_its_entries = sa.and_(_e.namespace == _NS, _e.session_id == _SID)
_live = sa.or_(_e.expires_at.is_(None), _e.expires_at > _NOW)

# Every decision read is compiled once and runs on the driver (`Prepared`): a set is the hottest
# write, and SQLAlchemy's work per execution would cost more than the reads themselves.
_session = Prepared(sa.select(_s.kind, _s.status).where(_s.namespace == _NS, _s.session_id == _SID))
_row_count_select = sa.select(sa.func.count()).select_from(value_entries).where(_its_entries)
_row_count = Prepared(_row_count_select)
# A value row implies its session row, so one join answers every question of a write, in one
# round trip: the session's kind and status, the key's value, and, only when the write adds a key
# (the key missing or expired), the session's rows for the entry limit (`_check_limits`).
_adds_key = sa.or_(_e.size.is_(None), sa.not_(_live))
_session_and_entry = Prepared(
    sa.select(
        _s.kind,
        _s.status,
        _e.size,
        _e.expires_at,
        sa.case((_adds_key, _row_count_select.scalar_subquery())),
    )
    .select_from(
        value_sessions.outerjoin(
            value_entries,
            sa.and_(
                _e.namespace == _s.namespace, _e.session_id == _s.session_id, _e.key == sa.bindparam("k")
            ),
        )
    )
    .where(_s.namespace == _NS, _s.session_id == _SID)
)
_live_totals = Prepared(
    sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_e.size), 0)).where(_its_entries, _live)
)
_entry = Prepared(sa.select(_e.size, _e.expires_at).where(_its_entries, _e.key == sa.bindparam("k")))
_live_keys = Prepared(sa.select(_e.key).where(_its_entries, _live))
_live_parts = Prepared(
    sa.select(_e.key).where(_its_entries, _live, _e.key.startswith(PART_PREFIX, autoescape=True))
)
_any_part = Prepared(
    sa.select(_e.key).where(_its_entries, _e.key.startswith(PART_PREFIX, autoescape=True)).limit(1)
)
_any_entry = Prepared(sa.select(_e.key).where(_its_entries).limit(1))
_expired_keys = Prepared(
    sa.select(_e.key).where(_its_entries, _e.expires_at.is_not(None), _e.expires_at <= _NOW)
)


_validate_set = ev.ValueSet.__pydantic_validator__.validate_python


# -- reading state --------------------------------------------------------------------------------
def _ids(command: Command) -> dict[str, Any]:
    return {"ns": command.namespace, "sid": command.stream}


def _session_of(command: Command, state: UnitOfWork) -> tuple[Kind, str] | None:
    rows = state.read(_session, _ids(command))
    row = rows[0] if rows else None
    return None if row is None else (row[0], row[1])


def _live_size(command: SetValue | DeleteValue, state: UnitOfWork) -> int | None:
    """The size of the key's live value, or None when it is missing or expired."""
    rows = state.read(_entry, {**_ids(command), "k": command.key})
    row = rows[0] if rows else None
    return None if row is None else _size_if_live(row[0], row[1], state)


def _size_if_live(size: int | None, expires_at: datetime | None, state: UnitOfWork) -> int | None:
    if size is None or (expires_at is not None and expires_at <= state.now):
        return None
    return int(size)


def _keys(statement: Prepared, command: Command, state: UnitOfWork) -> list[str]:
    return sorted(row[0] for row in state.read(statement, {**_ids(command), "now": state.now}))


def _connection_session(command: Command, state: UnitOfWork) -> str:
    """The status of a connection-bound session; refuses any other session."""
    session = _session_of(command, state)
    if session is None or session[0] != "connection":
        raise SessionNotFound(f"no connection-bound session {command.namespace}/{command.stream}")
    return session[1]


# -- values ---------------------------------------------------------------------------------------
def _check_limits(
    command: SetValue, state: UnitOfWork, policy: Policy, replacing: int | None, rows: int | None
) -> None:
    """Refuse a write that breaks the policy. Bytes first: both exceeded reports out of memory.
    `rows`: the session's value rows, expired or not, when the decision's read knows them."""
    if policy.max_value_bytes is not None and command.size > policy.max_value_bytes:
        raise StoreOutOfMemory(f"the value is {command.size} bytes; at most {policy.max_value_bytes} allowed")
    adds_key = replacing is None
    if policy.max_total_bytes is None:
        if not adds_key or policy.max_entries is None:
            return
        # Cheap first: fewer rows than the limit, expired or not, means fewer live keys too.
        if rows is None:
            rows = int(state.read(_row_count, _ids(command))[0][0])
        if rows < policy.max_entries:
            return
    [(count, total)] = state.read(_live_totals, {**_ids(command), "now": state.now})
    if policy.max_total_bytes is not None:
        new_total = int(total) - (replacing or 0) + command.size
        if new_total > policy.max_total_bytes:
            raise StoreOutOfMemory(
                f"the session would hold {new_total} bytes; at most {policy.max_total_bytes} allowed"
            )
    if adds_key and policy.max_entries is not None and int(count) + 1 > policy.max_entries:
        raise StoreOutOfEntries(f"the session already holds {policy.max_entries} entries")


def set_value(command: SetValue, state: UnitOfWork) -> Decision[None]:
    params = {"k": command.key, "ns": command.namespace, "sid": command.stream, "now": state.now}
    found = state.read(_session_and_entry, params)
    row = found[0] if found else None
    kind: Kind = row[0] if row is not None else "durable"
    if row is not None and row[1] == "ended":
        raise SessionEnded(f"session {command.namespace}/{command.stream} has ended")
    policy = command.policies.of(kind)
    if policy.strings_only and not isinstance(command.value, str):
        raise ValidationFailed(f"{kind} sessions hold string values only")
    expires_at = validation.expiry(command.ttl_seconds, command.expires_at, policy, state.now)
    replacing = None if row is None else _size_if_live(row[2], row[3], state)
    # No session row: no value rows either. Else the read counted them when the write adds a key.
    rows = 0 if row is None else None if row[4] is None else int(row[4])
    _check_limits(command, state, policy, replacing, rows)
    # The model's validation, without `BaseModel.__init__`'s Python frame (the hottest write).
    event = _validate_set(
        {
            "key": command.key,
            "value": command.value,
            "size": command.size,
            "expires_at": expires_at,
            "replaced": replacing is not None,
        }
    )
    return Decision(events=[event])


def delete_value(command: DeleteValue, state: UnitOfWork) -> Decision[bool]:
    # Deleting a missing or expired key records nothing: nothing a client could see changed.
    if _live_size(command, state) is None:
        return Decision(result=False)
    return Decision(events=[ev.ValueDeleted(key=command.key)], result=True)


def clear_values(command: ClearValues, state: UnitOfWork) -> Decision[int]:
    if not state.read(_any_entry, _ids(command)):
        return Decision(result=0)
    keys = _keys(_live_keys, command, state)
    return Decision(events=[ev.ValuesCleared(keys=keys)], result=len(keys))


def clear_parts(command: ClearParts, state: UnitOfWork) -> Decision[int]:
    if not state.read(_any_part, _ids(command)):
        return Decision(result=0)
    keys = _keys(_live_parts, command, state)
    return Decision(events=[ev.UserPartsCleared(keys=keys)], result=len(keys))


def purge_expired(command: PurgeExpired, state: UnitOfWork) -> Decision[int]:
    # Judged at the batch's instant, like every limit check: what is expired now goes.
    keys = _keys(_expired_keys, command, state)
    if not keys:
        return Decision(result=0)
    return Decision(events=[ev.ValuesExpired(keys=keys)], result=len(keys))


# -- connection-bound lifetime ----------------------------------------------------------------------
def open_connection_session(command: OpenConnectionSession, state: UnitOfWork) -> Decision[None]:
    session = _session_of(command, state)
    if session is not None:
        if session[1] == "ended":
            raise SessionEnded(f"session {command.namespace}/{command.stream} has ended")
        raise SessionConflict(f"session {command.namespace}/{command.stream} already exists ({session[0]})")
    return Decision(events=[ev.ConnectionSessionOpened(client_id=command.client_id)])


def disconnect(command: Disconnect, state: UnitOfWork) -> Decision[None]:
    status = _connection_session(command, state)
    if status == "ended":
        raise SessionEnded(f"session {command.namespace}/{command.stream} has ended")
    if status == "disconnected":
        return Decision()
    return Decision(events=[ev.ConnectionSessionDisconnected()])


def resume(command: Resume, state: UnitOfWork) -> Decision[None]:
    status = _connection_session(command, state)
    if status == "ended":
        raise SessionEnded(f"session {command.namespace}/{command.stream} has ended")
    if status == "open":
        return Decision()
    return Decision(events=[ev.ConnectionSessionResumed()])


def end_connection_session(command: EndConnectionSession, state: UnitOfWork) -> Decision[None]:
    if _connection_session(command, state) == "ended":
        return Decision()
    keys = _keys(_live_keys, command, state)
    return Decision(events=[ev.ConnectionSessionEnded(reason=command.reason, keys=keys)])


HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {
    SetValue: set_value,
    DeleteValue: delete_value,
    ClearValues: clear_values,
    ClearParts: clear_parts,
    PurgeExpired: purge_expired,
    OpenConnectionSession: open_connection_session,
    Disconnect: disconnect,
    Resume: resume,
    EndConnectionSession: end_connection_session,
}
"""Which handler decides each command of the domain."""
