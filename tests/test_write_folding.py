"""The projections framework's write folds against the writes one by one (hypothesis).

Every domain projection folds a batch's writes in `KeyedRows` and `Rounds` (engine/projections/
base.py) and writes what is left; these hold the folds to the promise they make: what they leave,
written in their order, is what the batch's writes one by one would leave. The stored rows are
a dict here (the domains' machines and `verify` check the same on both databases through the real
tables).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.sql import Executable

from session_engine.engine.projections.folding import KeyedRows, Rounds
from session_engine.engine.values.tables import value_entries, value_sessions

GROUPS = ["g1", "g2", "g3"]
KEYS = [(group, name) for group in GROUPS for name in ("a", "b", "c")]

keyed_writes = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 9), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from(KEYS)),
        st.tuples(st.just("discard"), st.sampled_from(KEYS)),
        st.tuples(st.just("clear"), st.sampled_from(GROUPS)),
    ),
    max_size=30,
)
stored_rows = st.dictionaries(st.sampled_from(KEYS), st.fixed_dictionaries({"value": st.integers(0, 9)}))


def _keep_first(pending: dict[str, Any], row: dict[str, Any]) -> None:
    row["first"] = pending["first"]


@given(stored=stored_rows, writes=keyed_writes)
def test_keyed_rows_leave_what_the_writes_one_by_one_leave(
    stored: dict[tuple[str, str], dict[str, Any]], writes: list[tuple[Any, ...]]
) -> None:
    """Puts (some merging with the key's pending row), deletes, clears of a group. A discard is only
    asked where there is no stored row (its promise), so the model skips the others."""
    one_by_one = {key: {**row, "first": None} for key, row in stored.items()}
    pending: dict[tuple[str, str], int] = {}
    """Key -> the `first` of its row put in the batch since its last delete (what `merge` keeps)."""
    folded: KeyedRows[dict[str, Any]] = KeyedRows()
    for write in writes:
        if write[0] == "put":
            _, key, value, merged = write
            first = pending[key] if merged and key in pending else value
            pending[key] = first
            one_by_one[key] = {"value": value, "first": first}
            folded.put(
                key, {"value": value, "first": value}, group=(key[0],), merge=_keep_first if merged else None
            )
        elif write[0] == "delete":
            pending.pop(write[1], None)
            one_by_one.pop(write[1], None)
            folded.delete(write[1])
        elif write[0] == "discard":
            if write[1] in stored and not _deleted_before(folded, write[1]):
                continue  # a row still stored: not what discard is for
            pending.pop(write[1], None)
            one_by_one.pop(write[1], None)
            folded.discard(write[1])
        else:
            for key in [key for key in one_by_one if key[0] == write[1]]:
                pending.pop(key, None)
                del one_by_one[key]
            folded.clear((write[1],))
    # The fold's writes: cleared groups, deleted keys, then the rows.
    after = {key: {**row, "first": None} for key, row in stored.items()}
    for (group,) in folded.cleared:
        for key in [key for key in after if key[0] == group]:
            del after[key]
    for key in folded.deleted:
        after.pop(key, None)
    after.update(folded.rows)
    assert after == one_by_one


def _deleted_before(folded: KeyedRows[dict[str, Any]], key: tuple[str, str]) -> bool:
    """The key's stored row is gone by the time the fold writes its rows."""
    return key in folded.deleted or (key[0],) in folded.cleared


# Two statements that update columns of the rows their keys name (their text is never run here).
TOUCH: Executable = value_sessions.update()
SET: Executable = value_entries.update()
COLUMNS = {id(TOUCH): ("at",), id(SET): ("v", "at")}
ROW_KEYS = ["r1", "r2", "r3"]

touches = st.lists(
    st.tuples(
        st.sampled_from([TOUCH, SET]),
        st.lists(st.sampled_from(ROW_KEYS), min_size=1, max_size=2, unique=True),
        st.integers(0, 99),
        st.booleans(),
    ),
    max_size=30,
)


@given(writes=touches)
def test_rounds_leave_what_the_writes_one_by_one_leave(
    writes: list[tuple[Executable, list[str], int, bool]],
) -> None:
    """Writes to one or two rows each, some folding into the previous write of their statement to
    the same rows: sent round by round, statement by statement, they leave the rows as in order."""
    one_by_one: dict[str, dict[str, int]] = {key: {} for key in ROW_KEYS}
    rounds = Rounds()
    for statement, keys, value, fold in writes:
        columns = COLUMNS[id(statement)]
        params = {"keys": tuple(keys), **dict.fromkeys(columns, value)}
        for key in keys:
            one_by_one[key].update(dict.fromkeys(columns, value))
        rounds.add(statement, params, tuple(keys), fold=columns if fold else ())
    sent: dict[str, dict[str, int]] = {key: {} for key in ROW_KEYS}
    for statement, batch in rounds.groups():
        columns = COLUMNS[id(statement)]
        for params in batch:
            for key in params["keys"]:
                sent[key].update({column: params[column] for column in columns})
    assert sent == one_by_one


def test_successive_touches_are_one_write() -> None:
    """What folding is for: a row's touches with nothing between them are sent once, with the
    first's other columns and the last's folded ones."""
    rounds = Rounds()
    for n in range(5):
        rounds.add(TOUCH, {"created": n, "at": n}, ("r1",), fold=("at",))
    rounds.add(SET, {"v": 1, "at": 9}, ("r2",))
    assert [(statement, batch) for statement, batch in rounds.groups()] == [
        (TOUCH, [{"created": 0, "at": 4}]),
        (SET, [{"v": 1, "at": 9}]),
    ]
    rounds.add(SET, {"v": 2, "at": 10}, ("r1",))
    rounds.add(TOUCH, {"created": 5, "at": 11}, ("r1",), fold=("at",))
    assert rounds.count == 3  # the touch after another write to r1 is not folded into the first
