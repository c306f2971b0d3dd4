"""What changed between two states of a session, part by part - and back again.

A diff is exact: `diff(a, b).apply(a) == b` for any two states of one session (a property test
holds it). Keyed parts (values, user parts, record fields, objects, thread items, graph
elements) say what was added, removed and changed, each with its value before and after, so the
diff reads as an audit trail on its own; a conversation says how many messages it kept and which
it appended (a rewrite keeps fewer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from session_engine.engine.inspect.state import Envelope, ObjectState, SessionState, ValueState

T = TypeVar("T")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Change(_Frozen, Generic[T]):
    before: T
    after: T


class MapDiff(_Frozen, Generic[T]):
    """Keys added, removed and changed: `apply` turns the first mapping into the second."""

    added: dict[str, T] = Field(default_factory=dict)
    removed: dict[str, T] = Field(default_factory=dict, description="With the value they had.")
    changed: dict[str, Change[T]] = Field(default_factory=dict)

    @classmethod
    def of(cls, before: dict[str, T], after: dict[str, T]) -> MapDiff[T]:
        return cls(
            added={k: v for k, v in after.items() if k not in before},
            removed={k: v for k, v in before.items() if k not in after},
            changed={
                k: Change(before=v, after=after[k]) for k, v in before.items() if k in after and after[k] != v
            },
        )

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def apply(self, before: dict[str, T]) -> dict[str, T]:
        """The mapping after: changes in place, then the additions at the end (their order kept)."""
        result = {k: self.changed[k].after if k in self.changed else v for k, v in before.items()}
        for key in self.removed:
            result.pop(key, None)
        result.update(self.added)
        return result


class ListDiff(_Frozen):
    """A list that grows at its end: the first `kept` elements stay, `appended` follow them."""

    kept: int
    appended: list[Any] = Field(default_factory=list)

    @classmethod
    def of(cls, before: list[Any], after: list[Any]) -> ListDiff:
        kept = 0
        for old, new in zip(before, after, strict=False):
            if old != new:
                break
            kept += 1
        return cls(kept=kept, appended=after[kept:])

    def apply(self, before: list[Any]) -> list[Any]:
        return [*before[: self.kept], *self.appended]


class ObjectChange(_Frozen):
    """An object present at both points: what changed in it (absent: nothing)."""

    envelope: Change[Envelope] | None = Field(None, description="Replaced: its type, value or time.")
    messages: ListDiff | None = None
    items: MapDiff[dict[str, Any]] | None = Field(None, description="Thread items.")
    vertices: MapDiff[dict[str, Any]] | None = None
    edges: MapDiff[dict[str, Any]] | None = None

    @classmethod
    def of(cls, before: ObjectState, after: ObjectState) -> ObjectChange:
        messages = ListDiff.of(before.messages, after.messages)
        return cls(
            envelope=None
            if before.envelope == after.envelope
            else Change(before=before.envelope, after=after.envelope),
            messages=None if messages.kept == len(before.messages) and not messages.appended else messages,
            items=MapDiff[dict[str, Any]].of(before.items, after.items) or None,
            vertices=MapDiff[dict[str, Any]].of(before.vertices, after.vertices) or None,
            edges=MapDiff[dict[str, Any]].of(before.edges, after.edges) or None,
        )

    def apply(self, before: ObjectState) -> ObjectState:
        return ObjectState(
            envelope=before.envelope if self.envelope is None else self.envelope.after,
            messages=before.messages if self.messages is None else self.messages.apply(before.messages),
            items=before.items if self.items is None else self.items.apply(before.items),
            vertices=before.vertices if self.vertices is None else self.vertices.apply(before.vertices),
            edges=before.edges if self.edges is None else self.edges.apply(before.edges),
        )


class ObjectsDiff(_Frozen):
    created: dict[str, ObjectState] = Field(default_factory=dict)
    deleted: dict[str, ObjectState] = Field(default_factory=dict, description="As they were.")
    changed: dict[str, ObjectChange] = Field(default_factory=dict)

    @classmethod
    def of(cls, before: dict[str, ObjectState], after: dict[str, ObjectState]) -> ObjectsDiff:
        return cls(
            created={k: v for k, v in after.items() if k not in before},
            deleted={k: v for k, v in before.items() if k not in after},
            changed={
                k: ObjectChange.of(v, after[k]) for k, v in before.items() if k in after and after[k] != v
            },
        )

    def apply(self, before: dict[str, ObjectState]) -> dict[str, ObjectState]:
        result = {k: self.changed[k].apply(v) if k in self.changed else v for k, v in before.items()}
        for alias in self.deleted:
            result.pop(alias, None)
        result.update(self.created)
        return dict(sorted(result.items()))  # objects are listed in alias order


class Point(_Frozen):
    """Where a state stands: its header fields."""

    version: int
    position: int
    recorded_at: datetime | None
    as_of: datetime


class StateDiff(_Frozen):
    namespace: str
    session: str
    before: Point
    after: Point
    values: MapDiff[ValueState]
    user_parts: MapDiff[ValueState]
    record: MapDiff[Any] = Field(description="Record fields set, removed and changed.")
    record_exists: Change[bool] | None = Field(None, description="The record was created or deleted.")
    objects: ObjectsDiff

    @property
    def empty(self) -> bool:
        objects = self.objects
        return not (
            self.values
            or self.user_parts
            or self.record
            or self.record_exists
            or objects.created
            or objects.deleted
            or objects.changed
        )

    def apply(self, state: SessionState) -> SessionState:
        """`state` (the diff's `before`) moved to the diff's `after`."""
        record_fields = self.record.apply(state.record or {})
        exists = state.record is not None if self.record_exists is None else self.record_exists.after
        return SessionState(
            namespace=state.namespace,
            session=state.session,
            version=self.after.version,
            position=self.after.position,
            recorded_at=self.after.recorded_at,
            as_of=self.after.as_of,
            values=dict(sorted(self.values.apply(state.values).items())),
            user_parts=self.user_parts.apply(state.user_parts),
            record=record_fields if exists else None,
            objects=self.objects.apply(state.objects),
        )


def _point(state: SessionState) -> Point:
    return Point(
        version=state.version, position=state.position, recorded_at=state.recorded_at, as_of=state.as_of
    )


def diff(before: SessionState, after: SessionState) -> StateDiff:
    """What changed from `before` to `after` (two states of one session; either may be the later)."""
    had, has = before.record is not None, after.record is not None
    return StateDiff(
        namespace=after.namespace,
        session=after.session,
        before=_point(before),
        after=_point(after),
        values=MapDiff[ValueState].of(before.values, after.values),
        user_parts=MapDiff[ValueState].of(before.user_parts, after.user_parts),
        record=MapDiff[Any].of(before.record or {}, after.record or {}),
        record_exists=None if had == has else Change(before=had, after=has),
        objects=ObjectsDiff.of(before.objects, after.objects),
    )
