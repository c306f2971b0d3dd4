"""Subscriptions: catch up from the log, then follow live appends - in order, no gaps, no repeats.

The log is the source of truth: a subscriber always asks "what comes after the last position I
delivered?", from a buffer of this process's recent commits when it covers the answer, from the
database otherwise. Since positions are gap-free and commit-ordered, that question never skips
or repeats an event. Other processes' commits (PostgreSQL) arrive as head notifications.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.lowlevel

from session_engine.engine.log.records import RecordedEvent

ReadPage = Callable[[int, int], Awaitable[list[RecordedEvent]]]


@dataclass(frozen=True)
class EventFilter:
    namespace: str | None = None
    stream: str | None = None
    types: frozenset[str] | None = None

    def __call__(self, event: RecordedEvent) -> bool:
        return (
            (self.namespace is None or event.namespace == self.namespace)
            and (self.stream is None or event.stream == self.stream)
            and (self.types is None or event.type in self.types)
        )


class SubscriptionHub:
    """Knows the log's head and keeps the recent contiguous run of committed events."""

    def __init__(
        self,
        read_page: ReadPage,
        *,
        buffer_size: int = 10_000,
        poll_interval: float | None = None,
        sealed: frozenset[str] = frozenset(),
    ) -> None:
        self._read_page = read_page
        self._sealed = sealed
        """Namespaces whose events are never buffered: an erasure (by any process) must find no
        payload of theirs kept in memory, so followers read them from the log."""
        self._recent: deque[RecordedEvent] = deque(maxlen=buffer_size)
        self._changed: anyio.Event | None = None
        """Set when the head moves; made only when a follower waits (an anyio Event is costly to
        make, and the head moves with every commit)."""
        self._poll_interval = poll_interval
        self.head = 0
        self.followers = 0
        """Subscriptions following the log now (metrics)."""
        self._reached: dict[int, list[int]] = {}
        """Per following subscription, the position it has been handed up to (one-item list: the
        follower updates it in place)."""

    def lags(self) -> list[int]:
        """Per subscription following the log, how far the head is ahead of what it was handed."""
        head = self.head
        return [max(0, head - reached[0]) for reached in self._reached.values()]

    def published(self, events: list[RecordedEvent]) -> None:
        """This process committed `events` (called on the event loop, in commit order)."""
        if not events:
            return
        if self._sealed and any(event.namespace in self._sealed for event in events):
            self._recent.clear()  # the run starts again after them
        else:
            if self._recent and self._recent[-1].position != events[0].position - 1:
                self._recent.clear()  # another process wrote in between: the buffer would have a gap
            self._recent.extend(events)
        self.observe_head(events[-1].position)

    def observe_head(self, position: int) -> None:
        """The log has grown to at least `position` (maybe by another process)."""
        if position > self.head:
            self.head = position
            if self._changed is not None:
                self._changed.set()
                self._changed = None

    def _buffered_after(self, position: int, limit: int) -> list[RecordedEvent] | None:
        recent = self._recent
        if not recent or recent[0].position > position + 1 or recent[-1].position <= position:
            return None
        start = position + 1 - recent[0].position
        end = min(len(recent), start + limit)
        return [recent[i] for i in range(start, end)]

    async def follow(
        self, after: int, event_filter: EventFilter | None = None, *, page: int = 1000
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after `after`, forever: catch-up first, then live."""
        position = after
        wanted = event_filter or EventFilter()
        self.followers += 1
        reached = [position]
        self._reached[id(reached)] = reached
        try:
            async for event in self._follow(position, wanted, page, reached):
                yield event
        finally:
            self.followers -= 1
            del self._reached[id(reached)]

    async def _follow(
        self, position: int, wanted: EventFilter, page: int, reached: list[int]
    ) -> AsyncIterator[RecordedEvent]:
        while True:
            changed = self._changed
            if changed is None:  # taken before the head is read: a move after that sets it
                changed = self._changed = anyio.Event()
            if self.head > position or self._poll_interval is not None:
                batch = self._buffered_after(position, page)
                if batch is None:
                    batch = await self._read_page(position, page)
                    # The read ran in a worker thread, shielded from cancellation: a subscriber
                    # cancelled meanwhile (an unsubscribe already answered) gets none of its events.
                    await anyio.lowlevel.checkpoint_if_cancelled()
                if batch:
                    for event in batch:
                        position = reached[0] = event.position
                        if wanted(event):
                            yield event
                    continue
                if position > self.head:
                    self.head = position
                reached[0] = position
            if self._poll_interval is None:
                await changed.wait()
            else:
                with anyio.move_on_after(self._poll_interval):
                    await changed.wait()


async def take(events: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """The next `count` events of a subscription (a test and tooling convenience)."""
    taken: list[RecordedEvent] = []
    async for event in events:
        taken.append(event)
        if len(taken) >= count:
            break
    return taken
