"""The file system's shared buffer cache: LRU-SP's allocator (Cao, Felten and Li, OSDI 1994).

What this models
    The one list of cached blocks every process of ExOS' file system shares
    (in the ExOS shared segment), in least-recently-used order, each block
    owned by the process that brought it in. When the cache is full and a
    block must come in, the allocator proposes the least recently used block
    B; its owner's manager (a ``CachePolicy``, the process's choice) picks
    B', one of its own blocks, to go instead. If B' is not B, LRU-SP

    * **swaps** them: B takes B''s place in the list, so the owner's choice
      moves no other process's block nearer the front;
    * leaves a **placeholder** for B' naming B: if B' is wanted again while
      the placeholder stands, the owner chose wrongly, and the block
      replaced to bring B' back is B (still the owner's), not whatever is
      least recently used, which may be another process's.

    Swapping leaves every other process's blocks where plain LRU would have
    them (the owner's choice neither hurts nor helps them); placeholders make
    a wrong choice cost only its owner. So a process's hints (or its bad
    choices) cost only its own blocks.

Why it is built this way
    The frames themselves are XN's (the registry); this list says which
    blocks the file system keeps cached and whose they are. A process drops
    its XN references to blocks that left the list at its next file call.

Interface
    ``SharedCache(blocks, protect=True)`` (``protect`` False: no placeholders,
    for the experiment that shows what they are for): ``join(pid, manager)``, ``leave(pid) -> blocks``
    it owned; ``__contains__``; ``hit(block)``; ``full()``; ``victim(wanted)
    -> block``; ``insert(block, pid, file)``; ``remove(block)``;
    ``manager(pid)``; ``statistics()``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CacheStats:
    blocks: int  # the cache's size (blocks)
    cached: int  # blocks cached now
    hits: int  # references found cached
    misses: int  # references that had to bring the block in
    evictions: int
    swaps: int  # a manager replaced a block other than the proposed one (LRU-SP's swap)
    placeholder_hits: int  # a block replaced by its owner's choice was wanted again


class SharedCache:
    """The list of cached blocks and LRU-SP's allocation (see the module note)."""

    def __init__(self, blocks: int, protect: bool = True) -> None:
        if type(blocks) is not int or blocks < 2:
            raise ValueError(f"the buffer cache needs at least 2 blocks, not {blocks!r}")
        self.blocks = blocks
        self.protect = protect  # LRU-SP's placeholders (False: none, for the experiment that shows their use)
        self.order: OrderedDict[int, int] = OrderedDict()  # block -> owner pid, least recently used first
        self.placeholders: dict[int, int] = {}  # block replaced by its owner's choice -> the block kept for it
        self.managers: dict[int, Any] = {}  # pid -> its CachePolicy
        self.hits = self.misses = self.evictions = self.swaps = self.placeholder_hits = 0
        self.misses_by: dict[int, int] = {}  # pid -> its misses

    def join(self, pid: int, manager: Any) -> None:
        self.managers[pid] = manager

    def leave(self, pid: int) -> list[int]:
        """The process is gone: its blocks leave the list (their frames with its references)."""
        mine = [b for b, o in self.order.items() if o == pid]
        for b in mine:
            del self.order[b]
        gone = set(mine)
        for k in [k for k, v in self.placeholders.items() if v in gone or k in gone]:
            del self.placeholders[k]
        self.managers.pop(pid, None)
        return mine

    def manager(self, pid: int) -> Any:
        return self.managers[pid]

    def __contains__(self, block: object) -> bool:
        return block in self.order

    def __len__(self) -> int:
        return len(self.order)

    def hit(self, block: int) -> None:
        self.hits += 1
        self.order.move_to_end(block)
        self.managers[self.order[block]].referenced(block)

    def full(self) -> bool:
        return len(self.order) >= self.blocks

    def victim(self, wanted: int) -> int:
        """The block to replace so that ``wanted`` can come in (the cache is full)."""
        kept = self.placeholders.pop(wanted, None)
        if kept is not None and kept in self.order:
            self.placeholder_hits += 1  # its owner's choice was wrong: the owner pays
            return kept
        proposed = next(iter(self.order))
        owner = self.order[proposed]
        choice = self.managers[owner].choose(proposed)
        if choice != proposed and self.order.get(choice) == owner:
            self.swaps += 1
            keys = list(self.order)
            i, j = keys.index(proposed), keys.index(choice)
            keys[i], keys[j] = choice, proposed  # the proposed block takes the chosen one's place
            self.order = OrderedDict((k, owner if k in (proposed, choice) else self.order[k]) for k in keys)
            if self.protect:
                self.placeholders[choice] = proposed
            return choice
        return proposed

    def insert(self, block: int, pid: int, file: Hashable | None, miss: bool) -> None:
        if miss:
            self.misses += 1
            self.misses_by[pid] = self.misses_by.get(pid, 0) + 1
        self.order[block] = pid
        self.managers[pid].add(block, file)

    def remove(self, block: int) -> None:
        owner = self.order.pop(block, None)
        if owner is not None:
            self.evictions += 1
            m = self.managers.get(owner)
            if m is not None:
                m.remove(block)
        for k in [k for k, v in self.placeholders.items() if v == block]:
            del self.placeholders[k]

    def statistics(self) -> CacheStats:
        return CacheStats(self.blocks, len(self.order), self.hits, self.misses, self.evictions, self.swaps,
                          self.placeholder_hits)
