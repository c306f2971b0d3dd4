"""A sliding-window rate limit: at most `limit` actions in any `window` seconds.

It belongs to the session, not the connection, so reconnecting with a resume id does not reset it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()

    def hit(self) -> bool:
        """Record one action; False when it is over the limit (the caller then closes 4201)."""
        now = self._clock()
        times = self._times
        horizon = now - self.window
        while times and times[0] <= horizon:
            times.popleft()
        times.append(now)
        return len(times) <= self.limit

    def __len__(self) -> int:
        return len(self._times)
