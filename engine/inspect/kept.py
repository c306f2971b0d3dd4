"""Typed states kept in memory, pickled, so a state read again is copied, not built again.

Two reads keep theirs here: the head read off the live read models (`engine.inspect.head`, keyed
by the head event's chain hash) and a snapshot's kept state (`engine.inspect.travel`, keyed by the
snapshot's digest). Either key stands for exactly the events the state was made of, so a state kept
under it is never stale. A fresh copy is handed out, never the kept one: the state is frozen but its
mappings and values are not, and a caller changing its copy must not change the next answer.
Pickled, not JSON: unpickling makes the same objects without validating them again (they were
validated when the state was built), and the copy is the state as first read, down to its fields
set. The pickles never leave the process.
"""

from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from session_engine.engine.inspect.state import SessionState

KEPT = 256
"""States kept at most, most recently read out last."""
KEPT_BYTES = 32 * 1024 * 1024
"""Pickled bytes kept at most, all states together: the memory this costs."""
ONE_BYTES = 1024 * 1024
"""A state larger than this (pickled) is built again each time rather than kept."""

_kept: OrderedDict[Hashable, bytes] = OrderedDict()
_size = [0]
_lock = threading.Lock()


def copy(key: Hashable) -> SessionState | None:
    """A copy of the state kept under `key`, if one is."""
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is None:
        return None
    found: SessionState = pickle.loads(kept)
    return found


def state(key: Hashable, make: Callable[[], SessionState]) -> SessionState:
    """A copy of the state kept under `key`; else the one `make` builds, kept for the next read."""
    if (found := copy(key)) is not None:
        return found
    made = make()
    copied = pickle.dumps(made, pickle.HIGHEST_PROTOCOL)
    if len(copied) <= ONE_BYTES:
        with _lock:
            replaced = _kept.pop(key, None)
            _size[0] += len(copied) - (len(replaced) if replaced is not None else 0)
            _kept[key] = copied
            while len(_kept) > KEPT or _size[0] > KEPT_BYTES:
                _size[0] -= len(_kept.popitem(last=False)[1])
    return made


def forget_all() -> None:
    """Drop every kept state: after an erasure, whose session's plaintext some of them may hold
    (a key names events, not their session, so all go; an erasure is rare, a state read again
    is built once more)."""
    with _lock:
        _kept.clear()
        _size[0] = 0


def held() -> list[bytes]:
    """The kept states as stored (pickled): what this process holds in memory, for checks."""
    with _lock:
        return list(_kept.values())
