"""Write folding, the projections framework's one place for it: a batch's writes folded so that
a rebuild or a large batch sends few statements and still leaves exactly the rows the events one by
one would (specs/engine-core.md, "Write folding is the framework's").

`Rounds` orders writes that must keep their order per key and groups the rest by statement;
`KeyedRows` keeps each key's final row (and the deletes and group clears before them).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.sql import Executable

if TYPE_CHECKING:
    from session_engine.engine.projections.base import ProjectionContext


class Rounds:
    """The rounds scheduler of folded writes: a write lands in the round after the last one that
    touched any of its keys, so each key's writes keep their order while writes to different keys,
    which commute, share a round. Sent round by round, each round's writes grouped by statement
    (`add`, `send`), they make the same rows as event by event in a few executemany calls.
    """

    __slots__ = ("_tails", "_writes", "count", "last")

    def __init__(self) -> None:
        self.last: dict[Hashable, int] = {}
        """Key -> the round of its last write."""
        self.count = 0
        """How many rounds there are."""
        self._writes: list[dict[int, tuple[Executable, list[dict[str, Any]]]]] = []
        self._tails: dict[tuple[Hashable, ...], tuple[int, Executable, dict[str, Any]]] = {}
        """Keys -> the round, statement and parameters of the last foldable write to them."""

    def place(self, keys: tuple[Hashable, ...]) -> int:
        """The round of a write to `keys` (counted from 0); the keys' last write is now in it."""
        last = self.last
        number = 0
        for key in keys:  # a loop, not max() of a generator: this runs once per folded write
            after = last.get(key, -1) + 1
            if after > number:
                number = after
        for key in keys:
            last[key] = number
        if number == self.count:
            self.count += 1
        return number

    def round_of(self, key: Hashable) -> int | None:
        """The round of `key`'s last write (None: not written)."""
        return self.last.get(key)

    def add(
        self,
        statement: Executable,
        params: dict[str, Any],
        keys: tuple[Hashable, ...],
        fold: Sequence[str] = (),
    ) -> int:
        """Queue a write to the rows `keys` name, grouped with its round's writes of `statement`.

        With `fold` (the columns a later write of the same statement overrides, e.g. a touch's
        instant): a write that follows one of the same statement to the same keys, with no other
        write to any of them in between, updates that one's `fold` parameters instead of being
        queued: successive touches of a row are one write, the first's other columns kept."""
        if fold:
            tail = self._tails.get(keys)
            if tail is not None and tail[1] is statement:
                number, _, earlier = tail
                last = self.last
                for key in keys:
                    if last[key] != number:
                        break
                else:
                    for column in fold:
                        earlier[column] = params[column]
                    return number
        number = self.place(keys)
        writes = self._writes
        while len(writes) <= number:
            writes.append({})
        group = writes[number].get(id(statement))
        if group is None:
            group = writes[number][id(statement)] = (statement, [])
        group[1].append(params)
        if fold:
            self._tails[keys] = (number, statement, params)
        return number

    def groups(self) -> Iterator[tuple[Executable, list[dict[str, Any]]]]:
        """The added writes, round by round, each round's grouped by statement."""
        for writes in self._writes:
            yield from writes.values()

    def send(self, context: ProjectionContext) -> None:
        """Queue every added write on `context`, round by round, statement by statement."""
        for statement, batch in self.groups():
            for params in batch:
                context.execute(statement, params)


RowT = TypeVar("RowT")


class KeyedRows(Generic[RowT]):
    """A table's writes folded per primary key: each key's final row, and the keys whose stored row
    goes first. Written deletes first (`cleared` groups, then `deleted` keys), then rows (`Bulk`),
    they leave what the writes one by one would: a key deleted then written again is deleted, then
    written.

    A row may belong to a group (its parent's key, which its own key's columns need not hold: a
    session's entries, an object's children):
    `clear` deletes the whole group, the batch's pending rows and the stored ones alike. Rows are
    kept in the order of their keys' first writes (an object's messages in their ordinals' order).
    """

    __slots__ = ("_groups", "cleared", "deleted", "rows")

    def __init__(self) -> None:
        self.rows: dict[tuple[Any, ...], RowT] = {}
        """Key -> its row as the batch leaves it."""
        self.deleted: dict[tuple[Any, ...], None] = {}
        """Keys whose stored row is deleted before the rows are written."""
        self.cleared: dict[tuple[Any, ...], None] = {}
        """Groups whose stored rows are deleted before the rows are written (first of all)."""
        self._groups: dict[tuple[Any, ...], dict[tuple[Any, ...], None]] = {}
        """Group -> the keys of its pending rows."""

    def put(
        self,
        key: tuple[Any, ...],
        row: RowT,
        *,
        group: tuple[Any, ...] | None = None,
        merge: Callable[[RowT, RowT], None] | None = None,
    ) -> None:
        """Write `row` at `key` (in `group`, if it has one). With a pending row at `key`,
        `merge(pending, row)` first carries into `row` what the earlier write decided (a set that
        overwrites keeps its key's creation position)."""
        if merge is not None:
            pending = self.rows.get(key)
            if pending is not None:
                merge(pending, row)
        self.rows[key] = row
        if group is not None:
            self._groups.setdefault(group, {})[key] = None

    def delete(self, key: tuple[Any, ...]) -> None:
        """Delete the key's row: the pending one, and the stored one before the rows are written."""
        self.rows.pop(key, None)
        self.deleted[key] = None

    def discard(self, key: tuple[Any, ...]) -> None:
        """Forget the key's pending row (there is no stored one, or a wider delete takes it)."""
        self.rows.pop(key, None)

    def clear(self, group: tuple[Any, ...], *, stored: bool = True) -> None:
        """Delete every row of `group`: its pending rows now, its stored ones (unless the caller knows
        there are none: `stored=False`) before any row is written."""
        rows = self.rows
        for key in self._groups.pop(group, ()):
            rows.pop(key, None)
        if stored:
            self.cleared[group] = None
