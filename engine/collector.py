"""Pausing Python's cyclic garbage collector around work that makes many objects and no cycles."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the block: a replay's page or a session's read makes thousands
    of containers (events, their payloads) that hold no cycles, and the collector's passes over them
    cost a large share of the work (docs/benchmarks.md). Its thresholds apply again after the block.

    The collector is the process's: a block running beside another thread's leaves it as it found
    it when that block began, and the last to finish turns it back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
