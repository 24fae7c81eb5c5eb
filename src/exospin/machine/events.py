"""The event loop and the clock: one heap of (time, sequence, event).

What this models
    Simulated time. The clock counts cycles of the profile's processor and
    only moves forward, either because the processor is charged for an
    operation or because the machine is idle and skips to the next event.

Why it is built this way
    As in SimPy, a single heap ordered by (time, sequence) makes every run
    reproducible: two events due at the same cycle fire in the order they
    were scheduled. There is no other source of ordering and no wall-clock
    input, so the same seed and inputs give the same trace, bit for bit.

    ``deadline`` is the time of the earliest pending event, kept in a plain
    attribute so that the hot paths (a memory reference, a system call) test
    ``now >= deadline`` inline instead of calling into the loop: that one
    comparison is the whole cost of being interruptible.

Interface
    ``schedule(at, fn, *args) -> Event``; ``Event.cancel()``;
    ``fire_due()`` runs every event due by ``now`` (callers: the processor
    at an interrupt boundary); ``skip_to_next()`` moves an idle clock to the
    next event and fires it, returning False when nothing is pending.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

INFINITY = float("inf")


class Event:
    """A scheduled callback; cancel() makes it a no-op."""

    __slots__ = ("time", "seq", "fn", "args", "cancelled")

    def __init__(self, time: int, seq: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.time = time
        self.seq = seq
        self.fn = fn
        self.args = args
        self.cancelled = False

    def __lt__(self, other: Event) -> bool:
        return (self.time, self.seq) < (other.time, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """The clock (``now``, in cycles) and the pending events."""

    __slots__ = ("now", "deadline", "_heap", "_seq", "fired")

    def __init__(self) -> None:
        self.now: int = 0
        #: time of the earliest pending event; INFINITY when none.
        self.deadline: float = INFINITY
        self._heap: list[Event] = []
        self._seq = 0
        self.fired = 0

    def schedule(self, at: int, fn: Callable[..., Any], *args: Any) -> Event:
        """Run ``fn(*args)`` at the first boundary at or after cycle ``at``."""
        if at < self.now:
            at = self.now
        self._seq += 1
        ev = Event(at, self._seq, fn, args)
        heapq.heappush(self._heap, ev)
        if at < self.deadline:
            self.deadline = at
        return ev

    def _reset_deadline(self) -> None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        self.deadline = heap[0].time if heap else INFINITY

    def fire_due(self) -> None:
        """Fire, in order, every event due at or before ``now``."""
        heap = self._heap
        while heap and heap[0].time <= self.now:
            ev = heapq.heappop(heap)
            self._reset_deadline()
            if not ev.cancelled:
                self.fired += 1
                ev.fn(*ev.args)
        self._reset_deadline()

    def skip_to_next(self) -> bool:
        """Idle: advance the clock to the next event and fire what is due."""
        self._reset_deadline()
        if not self._heap:
            return False
        t = self._heap[0].time
        if t > self.now:
            self.now = t
        self.fire_due()
        return True

    def pending(self) -> int:
        return sum(1 for e in self._heap if not e.cancelled)
