"""LRU and MRU managers: which of a process's cached blocks it gives up, by recency alone.

``LRU`` gives up the block the allocator proposed (its least recently used),
so a cache whose processes all use it is a global LRU cache, the fixed
policy of a kernel that owns the cache. ``MRU`` gives up its most recently
used block: the choice for a program that scans a file larger than the
cache, again and again (cscope, dinero in Cao's experiments), where LRU
replaces each block just before it is read again. MRU chooses among the
process's data blocks: the metadata it reads at every call (the inode's
directory block) is not part of the scan. Both take hints as
advice and ignore them (posix_fadvise allows it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable


class LRU:
    def __init__(self, mem_refs: Callable[[int], None]) -> None:
        self._refs = mem_refs
        self._q: OrderedDict[int, Hashable | None] = OrderedDict()  # least recently used first

    def add(self, block: int, file: Hashable | None) -> None:
        self._q[block] = file
        self._refs(2)

    def remove(self, block: int) -> None:
        if self._q.pop(block, 0) != 0:
            self._refs(2)

    def referenced(self, block: int) -> None:
        if block in self._q:
            self._q.move_to_end(block)
            self._refs(2)

    def choose(self, proposed: int) -> int:
        return proposed

    def advise(self, file: Hashable, blocks: Iterable[int], advice: int, priority: int | None) -> None:
        pass

    def __contains__(self, block: object) -> bool:
        return block in self._q

    def __len__(self) -> int:
        return len(self._q)


class MRU(LRU):
    def choose(self, proposed: int) -> int:
        """The most recently used data block (metadata, read at every call, is not scanned)."""
        for b in reversed(self._q):
            self._refs(1)
            if self._q[b] is not None:
                return b
        return proposed
