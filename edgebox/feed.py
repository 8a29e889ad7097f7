"""How the hub's changes reach their readers: the writer pays the same for one or a thousand.

A change goes once into a bounded ring for its topic (and once into the ring of the readers of
every topic), kept only while someone reads that ring. Readers pull from the rings at their own
pace; one that is more than its `maxlen` changes behind skips its oldest ones and counts them
in `dropped`, so a slow reader never holds the writer or the others.

Waking the readers is spread out too. The writer wakes WAKE_WIDTH of them and every reader it
wakes wakes one more, so the wake-ups pass through the scheduler about WAKE_WIDTH tasks at a
time: the writer's own next steps (the PUT's answer, the next frame) run between them instead of
after one batch of every stream. The box's own readers that act on a change (the players
putting a new brightness on the panels) subscribe with `first=True`: there are as many as the
venue file makes, not as many as the LAN opens, and the writer wakes them itself, before any
stream. A reader's wait can be interrupted (`next()` then gives None): the SSE streams' keep-alive
comes that way from one metronome, so a stream pays for no timer of its own per change.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterable
from typing import Any

import attrs
import trio

WAKE_WIDTH = 4
EVERY = "*"  # the ring of the readers of every topic; not a topic anyone publishes


@attrs.frozen
class Change:
    topic: str
    value: Any
    # What readers derive from the change (an encoded event), made once and shared.
    memo: dict[Any, Any] = attrs.field(factory=dict, eq=False, repr=False)


class _Ring:
    """The newest changes of one topic, as many as its most patient reader may want."""

    def __init__(self) -> None:
        self.changes: collections.deque[tuple[int, Change]] = collections.deque(maxlen=1)
        self.count = 0  # changes ever pushed; a reader's cursor counts the same way
        self.readers: dict[Subscription, int] = {}  # reader -> its maxlen
        self.waiting: dict[Subscription, trio.Event] = {}
        self.waiting_first: dict[Subscription, trio.Event] = {}
        self.to_wake: collections.deque[dict[Subscription, trio.Event]] = collections.deque()

    def add(self, reader: Subscription, maxlen: int) -> None:
        self.readers[reader] = maxlen
        if maxlen > (self.changes.maxlen or 0):
            self.changes = collections.deque(self.changes, maxlen=maxlen)

    def push(self, seq: int, change: Change) -> None:
        self.changes.append((seq, change))
        self.count += 1
        if self.waiting_first:
            waiting, self.waiting_first = self.waiting_first, {}
            for event in waiting.values():
                event.set()
        if self.waiting:
            self.to_wake.append(self.waiting)
            self.waiting = {}
            self.wake(WAKE_WIDTH)

    def wake(self, wanted: int) -> None:
        """Wake up to `wanted` readers still waiting for an earlier push; a reader that stopped
        waiting meanwhile (cancelled, gone) does not count."""
        while wanted and self.to_wake:
            waiting = self.to_wake[0]
            if not waiting:
                self.to_wake.popleft()
                continue
            reader, event = waiting.popitem()
            if reader._event is event:
                event.set()
                wanted -= 1


class Subscription:
    """A bounded stream of changes; iterate it with `async for`."""

    def __init__(
        self, topics: frozenset[str] | None, maxlen: int, rings: list[_Ring], *, first: bool
    ) -> None:
        self.topics = topics
        self.maxlen = maxlen
        self.first = first
        self._dropped = 0
        self._rings = rings
        self._cursors = [ring.count for ring in rings]
        self._event: trio.Event | None = None  # what this reader waits on, while it waits
        self._interrupted = False

    @property
    def dropped(self) -> int:
        """Changes this reader lost for being behind, counting those it is losing now."""
        lost = 0
        pending = 0
        for ring, cursor in zip(self._rings, self._cursors, strict=True):
            oldest = ring.count - len(ring.changes)
            lost += max(0, oldest - cursor)
            pending += ring.count - max(cursor, oldest)
        return self._dropped + lost + max(0, pending - self.maxlen)

    def _take(self) -> Change | None:
        """The oldest change not yet taken, after skipping what is beyond `maxlen`."""
        rings, cursors = self._rings, self._cursors
        pending = 0
        for i, ring in enumerate(rings):
            oldest = ring.count - len(ring.changes)
            if cursors[i] < oldest:
                self._dropped += oldest - cursors[i]
                cursors[i] = oldest
            pending += ring.count - cursors[i]
        if not pending:
            return None
        if len(rings) == 1:
            if pending > self.maxlen:
                self._dropped += pending - self.maxlen
                cursors[0] += pending - self.maxlen
            ring = rings[0]
            cursors[0] += 1
            return ring.changes[cursors[0] - 1 - (ring.count - len(ring.changes))][1]
        while True:
            i = min(
                (i for i, ring in enumerate(rings) if cursors[i] < ring.count),
                key=lambda i: self._next(i)[0],
            )
            cursors[i] += 1
            if pending <= self.maxlen:
                return self._next(i, taken=True)[1]
            self._dropped += 1
            pending -= 1

    def _next(self, i: int, *, taken: bool = False) -> tuple[int, Change]:
        ring = self._rings[i]
        return ring.changes[self._cursors[i] - taken - (ring.count - len(ring.changes))]

    async def get(self) -> Change:
        while (change := await self.next()) is None:
            pass
        return change

    async def next(self) -> Change | None:
        """The next change, or None if `interrupt()` came first: a reader that also acts on
        time (an SSE keep-alive) is told by whoever keeps the time, instead of waiting under
        a timer of its own for every change."""
        while (change := self._take()) is None:
            if self._interrupted:
                self._interrupted = False
                return None
            self._event = event = trio.Event()
            for ring in self._rings:
                (ring.waiting_first if self.first else ring.waiting)[self] = event
            try:
                await event.wait()
            except BaseException:
                self._event = None
                self._forget(event)
                raise
            self._event = None
            if self._interrupted:
                self._forget(event)
            if not self.first:
                for ring in self._rings:
                    ring.wake(1)
        return change

    def interrupt(self) -> None:
        """Make the waiting `next()` return None, or the next one if none waits (after the
        changes already there)."""
        self._interrupted = True
        if self._event is not None:
            self._event.set()

    def _forget(self, event: trio.Event) -> None:
        for ring in self._rings:
            for waiting in (ring.waiting, ring.waiting_first):
                if waiting.get(self) is event:
                    del waiting[self]

    def __aiter__(self) -> AsyncIterator[Change]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Change]:
        while True:
            yield await self.get()


class Feed:
    """The rings and their readers; `publish` costs the same however many read."""

    def __init__(self) -> None:
        self._rings: dict[str, _Ring] = {}
        self._seq = 0
        self.subscribers: set[Subscription] = set()

    def subscribe(
        self, topics: Iterable[str] | None, maxlen: int, *, first: bool = False
    ) -> Subscription:
        if maxlen < 1:
            raise ValueError("a subscription keeps at least one change")
        wanted = frozenset(topics) if topics is not None else None
        names = sorted(wanted) if wanted is not None else [EVERY]
        rings = [self._rings.setdefault(name, _Ring()) for name in names]
        sub = Subscription(wanted, maxlen, rings, first=first)
        for ring in rings:
            ring.add(sub, maxlen)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        for name, ring in list(self._rings.items()):
            if ring.readers.pop(sub, None) is not None:
                ring.waiting.pop(sub, None)
                ring.waiting_first.pop(sub, None)
                if not ring.readers:
                    del self._rings[name]

    def read(self, topic: str) -> bool:
        """Whether anyone reads `topic` now (a ring is kept only while someone reads it)."""
        return topic in self._rings or EVERY in self._rings

    def publish(self, topic: str, value: Any) -> None:
        ring = self._rings.get(topic)
        every = self._rings.get(EVERY)
        if ring is None and every is None:
            return
        self._seq += 1
        change = Change(topic, value)
        if ring is not None:
            ring.push(self._seq, change)
        if every is not None:
            every.push(self._seq, change)
