"""The application's own manager: LRU-SP's user side, driven by posix.fadvise hints.

Cao, Felten and Li's interface, through ``fadvise``: DONTNEED marks a
range's cached blocks "replace these next"; SEQUENTIAL marks a file as
scanned (its blocks go most recent first, as MRU: the block just read is
the one needed last); NORMAL and RANDOM make it ordinary again (least
recent first); ``priority`` sets the file's priority (lower goes first;
unhinted files are 0; metadata goes only when no data block is left).
The victim is the oldest DONTNEED
block if any, else, among the files of the lowest priority holding blocks,
the block the file's own order gives up first; ties go to the least
recently used. The allocator (shared.py) keeps these choices from hurting
other processes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from ...posix import FADV_DONTNEED, FADV_NORMAL, FADV_RANDOM, FADV_SEQUENTIAL
from .lru import LRU


class AppHints(LRU):
    def __init__(self, mem_refs: Callable[[int], None]) -> None:
        super().__init__(mem_refs)
        self.priority: dict[Hashable | None, int] = {}
        self.sequential: set[Hashable | None] = set()
        self.dontneed: dict[int, None] = {}  # blocks to replace next, oldest hint first

    def remove(self, block: int) -> None:
        super().remove(block)
        self.dontneed.pop(block, None)

    def referenced(self, block: int) -> None:
        super().referenced(block)
        self.dontneed.pop(block, None)  # used again: the hint is spent

    def choose(self, proposed: int) -> int:
        if self.dontneed:
            self._refs(1)
            return next(iter(self.dontneed))
        self._refs(len(self._q))  # one pass over our blocks
        data = [b for b, f in self._q.items() if f is not None]
        if not data:
            return proposed
        low = min(self.priority.get(self._q[b], 0) for b in data)
        mine = [b for b in data if self.priority.get(self._q[b], 0) == low]
        first = mine[0]
        f = self._q[first]
        if f in self.sequential:
            same = [b for b in mine if self._q[b] == f]
            return same[-1]
        return first

    def advise(self, file: Hashable, blocks: Iterable[int], advice: int, priority: int | None) -> None:
        if priority is not None:
            self.priority[file] = priority
        if advice == FADV_SEQUENTIAL:
            self.sequential.add(file)
        elif advice in (FADV_NORMAL, FADV_RANDOM):
            self.sequential.discard(file)
        elif advice == FADV_DONTNEED:
            for b in blocks:
                if b in self._q:
                    self.dontneed[b] = None
        self._refs(2)
