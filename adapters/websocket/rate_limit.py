"""A sliding-window rate limit: at most `limit` actions in any `window` seconds.

It belongs to the session, not the connection, so reconnecting with a resume id does not reset it,
on this process or another: a parked session carries its recent actions (`recent`, `resumed`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class SlidingWindow:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()

    @classmethod
    def resumed(
        cls, limit: int, window: float, instants: Iterable[float], clock: Callable[[], float] = time.monotonic
    ) -> SlidingWindow:
        """A window holding the actions `recent` gave (UNIX instants, maybe another process's)."""
        made = cls(limit, window, clock)
        offset = time.time() - clock()
        made._times.extend(sorted(instant - offset for instant in instants))
        return made

    def recent(self) -> list[float]:
        """The actions still inside the window, as UNIX instants: monotonic clocks are per process."""
        self._forget(self._clock())
        offset = time.time() - self._clock()
        return [instant + offset for instant in self._times]

    def _forget(self, now: float) -> None:
        times, horizon = self._times, now - self.window
        while times and times[0] <= horizon:
            times.popleft()

    def hit(self) -> bool:
        """Record one action; False when it is over the limit (the caller then closes 4201)."""
        now = self._clock()
        self._forget(now)
        self._times.append(now)
        return len(self._times) <= self.limit

    def __len__(self) -> int:
        return len(self._times)
