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
    ``schedule(at, fn, *args) -> Scheduled``; ``Scheduled.cancel()``;
    ``fire_due()`` runs every event due by ``now`` (callers: the processor
    at an interrupt boundary); ``skip_to_next()`` moves an idle clock to the
    next event and fires it, returning False when nothing is pending;
    ``next_time()``; ``pending()``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

#: "No event pending": an int, so the hot-path comparison ``now >= deadline``
#: compares two ints (about 2**62 cycles: centuries at any profile's clock).
INFINITY = 1 << 62


class Scheduled:
    """A scheduled callback; cancel() makes it a no-op."""

    __slots__ = ("time", "seq", "fn", "args", "cancelled", "_loop")

    def __init__(
        self, time: int, seq: int, fn: Callable[..., Any], args: tuple[Any, ...], loop: EventLoop
    ) -> None:
        self.time = time
        self.seq = seq
        self.fn = fn
        self.args = args
        self.cancelled = False
        self._loop = loop

    def __lt__(self, other: Scheduled) -> bool:
        return (self.time, self.seq) < (other.time, other.seq)

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._loop._cancelled += 1


class EventLoop:
    """The clock (``now``, in cycles) and the pending events."""

    __slots__ = ("now", "deadline", "_heap", "_seq", "fired", "_cancelled", "background")

    def __init__(self) -> None:
        self.now: int = 0
        #: time of the earliest pending event; INFINITY when none.
        self.deadline: int = INFINITY
        self._heap: list[Scheduled] = []
        self._seq = 0
        self._cancelled = 0  # cancelled events still in the heap
        self.fired = 0
        #: pending events that are the simulator's, not the machine's (world.py's
        #: synchronisation point): ``pending()`` does not count them, so a kernel that
        #: idles until "nothing is pending" behaves as on a machine of its own
        self.background = 0

    def schedule(self, at: int, fn: Callable[..., Any], *args: Any) -> Scheduled:
        """Run ``fn(*args)`` at the first boundary at or after cycle ``at``."""
        if at < self.now:
            at = self.now
        self._seq += 1
        ev = Scheduled(at, self._seq, fn, args, self)
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._compact()
        heapq.heappush(self._heap, ev)
        if at < self.deadline:
            self.deadline = at
        return ev

    def _compact(self) -> None:
        """Drop cancelled events (a re-armed timer leaves one behind each time)."""
        self._heap = [e for e in self._heap if not e.cancelled]
        heapq.heapify(self._heap)
        self._cancelled = 0

    def _reset_deadline(self) -> None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
            self._cancelled -= 1
        self.deadline = heap[0].time if heap else INFINITY

    def fire_due(self) -> None:
        """Fire, in order, every event due at or before ``now``."""
        while self._heap and self._heap[0].time <= self.now:
            heap = self._heap
            ev = heapq.heappop(heap)
            if ev.cancelled:
                self._cancelled -= 1
                continue
            ev.cancelled = True  # fired: a later cancel() is a no-op
            self._reset_deadline()
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

    def next_time(self, other_than: Scheduled | None = None) -> int:
        """The time of the earliest pending event other than ``other_than`` (INFINITY if none)."""
        self._reset_deadline()
        heap = self._heap
        if not heap:
            return INFINITY
        if heap[0] is not other_than:
            return heap[0].time
        return min((e.time for e in heap if not e.cancelled and e is not other_than), default=INFINITY)

    def pending(self) -> int:
        """Events pending for the machine (not counting ``background`` ones)."""
        return sum(1 for e in self._heap if not e.cancelled) - self.background
